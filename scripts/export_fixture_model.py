#!/usr/bin/python3
"""Exports the small pruned PyTorch model used by test/cli/analyze.test.ts and test/io/onnx.test.ts.

Model (input [N, 3, 8, 8]):
  conv1  Conv2d(3, 8, 3, padding=1)   weight [8, 3, 3, 3]
  bn1    BatchNorm2d(8)               (1-D tensors: never analysed)
  conv2  Conv2d(8, 16, 3, stride=2, padding=1)  weight [16, 8, 3, 3]
  fc1    Linear(16*4*4, 32)           weight [32, 256]   (exported as Gemm, transB = 1)
  fc2    Linear(32, 10, bias=False)   weight [10, 32]    (exported as MatMul with a [32, 10] initialiser)
Each weight is pruned with torch.nn.utils.prune.random_unstructured (seeded) and the pruning
made permanent, so pruned entries are exact zeros.

Files written to test/fixtures/models/:
  small.safetensors         state dict (F32), pruned weights as zeros
  small_masks.safetensors   the masks, named "<weight>_mask" (PyTorch's weight_mask convention)
  small_f16.safetensors     the same state dict in F16; small_bf16.safetensors in BF16
  small.onnx                torch.onnx.export of the model (initialisers inside the file)
  small_expected.json       per weight: shape, edges and the dense-SVD singular values (NumPy) of
                            the unweighted and weighted bi-adjacency, from the F32 weights
                            ("layers"), and the same for the ONNX initialisers as onnx's
                            numpy_helper reads them ("onnx"; the export folds bn1 into conv1, so
                            that weight is named onnx::Conv_* and scaled per output channel)

safetensors is written by hand (8-byte little-endian header length, JSON header, raw bytes),
since Debian has no python3-safetensors; the format is the one src/io/safetensors.ts reads.
Run with Debian's python3-torch, python3-onnx and python3-numpy:
  /usr/bin/python3 scripts/export_fixture_model.py
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "models")


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10, bias=False)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = x.flatten(1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, numpy array); dtype: 'F32', 'F16' or 'BF16'."""
    header = {"__metadata__": {"format": "pt", "source": "scripts/export_fixture_model.py"}}
    blobs = []
    offset = 0
    for name, array in tensors:
        if dtype == "F32":
            data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        elif dtype == "F16":
            data = np.ascontiguousarray(array, dtype="<f2").tobytes()
        else:  # BF16: the upper 16 bits of the float32, via torch's rounding
            bits = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(torch.bfloat16).view(torch.int16)
            data = bits.numpy().astype("<i2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(0)
    model = Small()
    amounts = {"conv1": 0.2, "conv2": 0.5, "fc1": 0.9, "fc2": 0.3}
    for name, amount in amounts.items():
        prune.random_unstructured(getattr(model, name), name="weight", amount=amount)
    masks = {f"{name}.weight_mask": getattr(model, name).weight_mask.detach().numpy().copy() for name in amounts}
    for name in amounts:
        prune.remove(getattr(model, name), "weight")
    # a few BN statistics that are not the defaults, so they are real tensors in the file
    model.bn1.running_mean.uniform_(-0.1, 0.1)
    model.eval()

    state = [(k, v.detach().numpy()) for k, v in model.state_dict().items() if v.dtype.is_floating_point]
    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "small.safetensors"), state, "F32")
    write_safetensors(os.path.join(OUT, "small_f16.safetensors"), state, "F16")
    write_safetensors(os.path.join(OUT, "small_bf16.safetensors"), state, "BF16")
    write_safetensors(os.path.join(OUT, "small_masks.safetensors"), sorted(masks.items()), "F32")

    torch.onnx.export(model, torch.zeros(1, 3, 8, 8), os.path.join(OUT, "small.onnx"),
                      input_names=["x"], output_names=["logits"], opset_version=13)

    expected = {}
    for name in amounts:
        w = getattr(model, name).weight.detach().numpy().astype(np.float64)
        b = w.reshape(w.shape[0], -1)
        expected[f"{name}.weight"] = {
            "shape": list(w.shape),
            "edges": int((b != 0).sum()),
            "unweighted": [float(s) for s in np.linalg.svd((b != 0).astype(np.float64), compute_uv=False)[:4]],
            "weighted": [float(s) for s in np.linalg.svd(np.abs(b), compute_uv=False)[:4]],
        }
    import onnx
    from onnx import numpy_helper
    m = onnx.load(os.path.join(OUT, "small.onnx"))
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    onnx_expected = {}
    for node in m.graph.node:
        if node.op_type not in ("Gemm", "MatMul", "Conv"):
            continue
        name = node.input[1]
        w = inits[name]
        if node.op_type == "MatMul" or (node.op_type == "Gemm" and not any(a.name == "transB" and a.i == 1 for a in node.attribute)):
            w = w.T  # [in, out] -> [out, in]
        b = w.reshape(w.shape[0], -1)
        onnx_expected[name] = {
            "op": node.op_type,
            "shape": list(w.shape),
            "edges": int((b != 0).sum()),
            "unweighted": [float(s) for s in np.linalg.svd((b != 0).astype(np.float64), compute_uv=False)[:4]],
            "weighted": [float(s) for s in np.linalg.svd(np.abs(b), compute_uv=False)[:4]],
        }
        print(node.op_type, name, list(w.shape))
    with open(os.path.join(OUT, "small_expected.json"), "w") as f:
        json.dump({"torch": torch.__version__, "onnx": onnx.__version__, "layers": expected, "onnx_layers": onnx_expected}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
