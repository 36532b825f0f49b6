/**
 * The prunable layers of a model file (safetensors or ONNX) with their masks, ready for
 * analyzeLayer (src/graph).
 *
 * safetensors: every tensor of 2 dimensions (Linear [out, in]) or 3-5 dimensions (Conv
 * [c_out, c_in, k...]) except biases and mask tensors; 1-D tensors (biases, batch-norm weights and
 * statistics) and scalars are skipped. PyTorch's pruning re-parametrisation is understood:
 * `X.weight_orig` with `X.weight_mask` is the layer `X.weight` under that mask.
 * ONNX: the initialisers feeding Gemm, MatMul and Conv (src/io/onnx.ts).
 *
 * Masks: with a mask file, the mask of weight `W` is the tensor `W_mask` (for `X.weight` that is
 * PyTorch's `X.weight_mask`) or `W` itself, and its shape must equal the weight's. A weight with no
 * mask (none in the mask file, or no mask file) has its exact zeros as the pruned entries, which
 * is how pruned PyTorch models are saved.
 */
import { extname } from 'node:path';
import { fileError, UserError } from '../errors.js';
import { readSafetensors, type SafetensorsTensor } from './safetensors.js';

export interface ModelLayer {
  name: string;
  kind: 'linear' | 'conv';
  shape: number[];
  weight: Float32Array | Float64Array;
  /** null: the weight's exact zeros are the pruned entries */
  mask: Float32Array | Float64Array | null;
  /** where the mask came from */
  maskSource: 'mask-file' | 'model-file' | 'zeros';
}

const SKIPPED_SUFFIXES = ['bias', 'running_mean', 'running_var', 'num_batches_tracked'];

function isLayerTensor(name: string, t: SafetensorsTensor): boolean {
  if (t.shape.length < 2 || t.shape.length > 5) return false;
  if (name.endsWith('_mask')) return false;
  const last = name.split('.').pop() ?? name;
  return !SKIPPED_SUFFIXES.includes(last);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Reads the Linear and Conv layers of a .safetensors or .onnx model, with masks from `maskPath` if
 * given. Async only to load the ONNX reader (onnx-proto, protobufjs) when an .onnx file is read.
 */
export async function readModelLayers(path: string, maskPath: string | null = null): Promise<ModelLayer[]> {
  const ext = extname(path).toLowerCase();
  let layers: ModelLayer[];
  if (ext === '.safetensors') {
    const { tensors } = readSafetensors(path);
    layers = [];
    for (const [name, t] of tensors) {
      if (!isLayerTensor(name, t)) continue;
      let layerName = name;
      let mask: Float32Array | Float64Array | null = null;
      if (name.endsWith('.weight_orig')) {
        layerName = name.slice(0, -'_orig'.length);
        if (tensors.has(layerName)) continue; // both saved: the plain weight is the layer
        const m = tensors.get(`${layerName}_mask`);
        if (m) {
          if (!sameShape(m.shape, t.shape)) {
            throw fileError(path, `mask "${layerName}_mask" has shape [${m.shape.join(', ')}] but "${name}" has [${t.shape.join(', ')}]`);
          }
          mask = m.data;
        }
      }
      layers.push({
        name: layerName,
        kind: t.shape.length === 2 ? 'linear' : 'conv',
        shape: t.shape,
        weight: t.data,
        mask,
        maskSource: mask ? 'model-file' : 'zeros',
      });
    }
  } else if (ext === '.onnx') {
    const { readOnnxWeights } = await import('./onnx.js');
    layers = readOnnxWeights(path).map((w) => ({ name: w.name, kind: w.kind, shape: w.shape, weight: w.data, mask: null, maskSource: 'zeros' as const }));
  } else {
    throw new UserError(`${path}: expected a model file ending in .safetensors or .onnx`);
  }
  if (layers.length === 0) {
    throw fileError(path, 'no Linear or Conv weights found (looked for 2-D [out, in] and 3-D to 5-D [c_out, c_in, k...] tensors)');
  }
  for (const layer of layers) {
    // A shape such as [0, 3e8] holds no values, yet its graph would have 3e8 vertices: the
    // analysis allocates per vertex, so only layers with values (where outputs + inputs <=
    // values + 1, i.e. memory proportional to the file) are analysed.
    if (layer.weight.length === 0) {
      throw fileError(path, `weight "${layer.name}" has shape [${layer.shape.join(', ')}], which holds no values; a layer needs at least one output and one input`);
    }
    // One plain pass finds the first non-finite value and the largest |w| (findIndex's callback
    // cost a quarter of a second on vgg19's 20M weights; three passes cost three times one).
    const w = layer.weight;
    let bad = -1;
    let max = 0;
    for (let i = 0; i < w.length; i++) {
      const a = Math.abs(w[i]);
      if (!Number.isFinite(a)) {
        bad = i;
        break;
      }
      if (a > max) max = a;
    }
    if (bad >= 0) throw fileError(path, `weight "${layer.name}" holds a non-finite value (${layer.weight[bad]}) at flat index ${bad}`);
    // t1 <= the Frobenius norm: with a finite norm every spectral quantity is a finite double (the
    // analysis scales huge and tiny weights by a power of two, src/graph/index.ts). The norm is at
    // most max * sqrt(n), so it is summed only when that bound overflows.
    if (max * Math.sqrt(w.length) > Number.MAX_VALUE && !Number.isFinite(frobeniusNorm(w, max))) {
      throw fileError(path, `weight "${layer.name}" is too large to analyse: its norm exceeds the largest double (${Number.MAX_VALUE.toPrecision(4)}), so t1 could not be represented; scale the weights down`);
    }
    if (layer.mask) checkMaskValues(layer.mask, path, `${layer.name}_mask`);
  }
  if (maskPath !== null) applyMaskFile(layers, path, maskPath);
  return layers;
}

/** sqrt(sum of squares), computed on values scaled by the largest |w| (`max`) so that squares do not overflow. */
function frobeniusNorm(w: Float32Array | Float64Array, max: number): number {
  if (max === 0) return 0;
  let s = 0;
  for (let k = 0; k < w.length; k++) s += (w[k] / max) ** 2;
  return Math.sqrt(s) * max;
}

/**
 * A mask holds 0 (pruned) and 1 (kept) only: the graph counts every non-zero entry as an edge,
 * so NaN or -3.5 would silently count as kept.
 */
function checkMaskValues(mask: Float32Array | Float64Array, file: string, tensor: string): void {
  for (let k = 0; k < mask.length; k++) {
    const v = mask[k];
    if (v !== 0 && v !== 1) throw fileError(file, `mask "${tensor}" holds ${v} at flat index ${k}; a mask holds only 0 and 1`);
  }
}

function applyMaskFile(layers: ModelLayer[], modelPath: string, maskPath: string): void {
  if (extname(maskPath).toLowerCase() !== '.safetensors') {
    throw new UserError(`${maskPath}: expected a mask file ending in .safetensors`);
  }
  const { tensors } = readSafetensors(maskPath);
  let matched = 0;
  for (const layer of layers) {
    const key = [`${layer.name}_mask`, layer.name].find((k) => tensors.has(k));
    if (key === undefined) continue;
    const m = tensors.get(key)!;
    if (!sameShape(m.shape, layer.shape)) {
      throw fileError(maskPath, `mask "${key}" has shape [${m.shape.join(', ')}] but the weight "${layer.name}" in ${modelPath} has shape [${layer.shape.join(', ')}]`);
    }
    checkMaskValues(m.data, maskPath, key);
    layer.mask = m.data;
    layer.maskSource = 'mask-file';
    matched++;
  }
  if (matched === 0) {
    throw fileError(maskPath, `no mask matches a weight of ${modelPath} by name (expected "<weight>_mask" or "<weight>", e.g. "${layers[0].name}_mask")`);
  }
}
