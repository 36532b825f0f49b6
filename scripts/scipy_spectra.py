#!/usr/bin/python3
"""Reference spectra from SciPy/NumPy for test/graph/scipy.test.ts.

Each case is a rows x cols layer generated from a counter-based hash (the same function as
hash32 in test/graph/reference.ts, so the TypeScript test rebuilds the identical mask and
weights from the seed): entry k is an edge when hash(seed, 2k) < round(density * 2^32), its
weight is (hash(seed, 2k+1) + 0.5) / 2^32. For the unweighted (B = mask) and weighted
(B = weight * mask) graphs it records the top singular values from a dense LAPACK SVD
(numpy.linalg.svd), the same from ARPACK (scipy.sparse.linalg.svds, k = 3) as a cross-check,
degrees over non-isolated vertices and connected components (scipy.sparse.csgraph).

Run with Debian's python3-scipy:  /usr/bin/python3 scripts/scipy_spectra.py
Writes test/fixtures/graph/scipy_spectra.json.

  /usr/bin/python3 scripts/scipy_spectra.py --bench
times scipy.sparse.linalg.svds(k=2) (ARPACK, default tolerance) on the matrices of
`npm run bench -- spectral` (vgg19's layer shapes, Kaiming-normal weights from the same counter
hash, densities 100/20/5/1%, unweighted and weighted) and prints the totals, for comparison.
Only the two singular values are timed (no degrees, components or matrix construction).

  /usr/bin/python3 scripts/scipy_spectra.py --svds-file MODEL.safetensors
the SciPy side of `npm run bench -- cli`, timed as a whole process: reads every 2-D/4-D tensor
of the file ([out, in] or [out, in, kh, kw] as [out, in * kh * kw]; exact zeros are pruned) and
computes the top two singular values of the unweighted (mask) and weighted (|W|) matrices with
svds(k=2), printing them as JSON lines.
"""
import json
import os
import time

import numpy as np
import scipy
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import svds

M32 = np.uint64(0xFFFFFFFF)


def hash32(seed, idx):
    """MurmurHash3's 32-bit finaliser on (idx * 0x9e3779b1 + seed * 0x85ebca77) mod 2^32."""
    x = (idx.astype(np.uint64) * np.uint64(0x9E3779B1) + np.uint64((seed * 0x85EBCA77) & 0xFFFFFFFF)) & M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & M32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & M32
    x ^= x >> np.uint64(16)
    return x


def hashed_layer(rows, cols, density, seed):
    k = np.arange(rows * cols, dtype=np.uint64)
    threshold = np.uint64(round(density * 2**32))
    mask = (hash32(seed, 2 * k) < threshold).reshape(rows, cols)
    weight = ((hash32(seed, 2 * k + 1).astype(np.float64) + 0.5) / 2**32).reshape(rows, cols)
    return mask, weight


def definition3(sv):
    """t1, t2 (largest value strictly below t1, relative tolerance 1e-9), sigma2, multiplicity."""
    sv = sorted((float(s) for s in sv), reverse=True)
    t1 = sv[0] if sv else 0.0
    if t1 <= 0:
        return {"t1": 0.0, "t2": 0.0, "sigma2": 0.0, "multiplicity": 0}
    vals = [0.0 if s < 1e-9 * t1 else s for s in sv]
    mult, t2 = 0, 0.0
    for v in vals:
        if v >= t1 * (1 - 1e-9):
            mult += 1
        else:
            t2 = v
            break
    return {"t1": t1, "t2": t2, "sigma2": vals[1] if len(vals) > 1 else 0.0, "multiplicity": mult}


def graph_facts(mask):
    rows, cols = mask.shape
    edges = int(mask.sum())
    deg_l = mask.sum(axis=1)
    deg_r = mask.sum(axis=0)
    active_l = int((deg_l > 0).sum())
    active_r = int((deg_r > 0).sum())
    # components among non-isolated vertices of the bipartite graph [[0, B], [B^T, 0]]
    b = sp.csr_matrix(mask.astype(np.float64))
    adj = sp.bmat([[None, b], [b.T, None]]).tocsr()
    _, labels = connected_components(adj, directed=False)
    active = np.concatenate([deg_l > 0, deg_r > 0])
    components = len(set(labels[active].tolist()))
    return {
        "edges": edges,
        "dL": edges / active_l if active_l else None,
        "dR": edges / active_r if active_r else None,
        "isolatedL": rows - active_l,
        "isolatedR": cols - active_r,
        "components": components,
    }


CASES = [
    # (rows, cols, density, seed)
    (10, 10, 1.0, 1),
    (100, 10, 0.5, 2),
    (64, 27, 0.2, 3),
    (64, 27, 0.005, 4),
    (300, 100, 0.05, 5),
    (300, 100, 0.01, 6),
    (784, 300, 0.1, 7),
    (300, 784, 0.02, 8),
    (128, 1152, 0.2, 9),
    (512, 4608, 0.05, 10),
    (4608, 512, 0.2, 11),
    (4608, 512, 0.005, 12),
    (512, 4608, 1.0, 13),
    (256, 2304, 0.01, 14),
]


def main():
    out = {
        "generator": "hash32 counter stream, see scripts/scipy_spectra.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cases": [],
    }
    for rows, cols, density, seed in CASES:
        mask, weight = hashed_layer(rows, cols, density, seed)
        case = {"rows": rows, "cols": cols, "density": density, "seed": seed}
        case.update(graph_facts(mask))
        for name, b in (("unweighted", mask.astype(np.float64)), ("weighted", weight * mask)):
            t0 = time.perf_counter()
            sv = np.linalg.svd(b, compute_uv=False)
            dense_ms = (time.perf_counter() - t0) * 1e3
            entry = definition3(sv)
            entry["top"] = [float(s) for s in sv[:6]]
            entry["denseSvdMs"] = dense_ms
            if min(rows, cols) > 4:
                t0 = time.perf_counter()
                top3 = np.sort(svds(sp.csr_matrix(b), k=3, return_singular_vectors=False))[::-1]
                entry["svdsMs"] = (time.perf_counter() - t0) * 1e3
                entry["svdsTop"] = [float(s) for s in top3]
            case[name] = entry
        out["cases"].append(case)
        print(rows, cols, density, case["unweighted"]["t1"], case["unweighted"]["t2"], case["weighted"]["t2"], flush=True)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "graph", "scipy_spectra.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


VGG19_SHAPES = [((64, 3, 3, 3), 1), ((64, 64, 3, 3), 1), ((128, 64, 3, 3), 1), ((128, 128, 3, 3), 1),
                ((256, 128, 3, 3), 1), ((256, 256, 3, 3), 3), ((512, 256, 3, 3), 1), ((512, 512, 3, 3), 7),
                ((10, 512), 1)]


def bench_layer(shape, density):
    """The matrices of bench/spectral.ts: counters 3k, 3k+1 (Box-Muller) and 3k+2 (mask)."""
    n = int(np.prod(shape))
    seed = int(sum(shape))
    k = np.arange(n, dtype=np.uint64)
    u1 = (hash32(seed, 3 * k).astype(np.float64) + 0.5) / 2**32
    u2 = (hash32(seed, 3 * k + 1).astype(np.float64) + 0.5) / 2**32
    std = np.sqrt(2.0 / (n / shape[0]))
    weight = (std * np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)).astype(np.float32)
    mask = hash32(seed, 3 * k + 2) < np.uint64(round(density * 2**32))
    rows = shape[0]
    return mask.reshape(rows, -1), weight.reshape(rows, -1)


def bench():
    grand = 0.0
    for density in (1.0, 0.2, 0.05, 0.01):
        total = 0.0
        for shape, count in VGG19_SHAPES:
            mask, weight = bench_layer(shape, density)
            times = []
            for b in (mask.astype(np.float64), np.abs(weight.astype(np.float64)) * mask):
                csr = sp.csr_matrix(b)
                svds(csr, k=2, return_singular_vectors=False)  # warm-up
                reps = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    svds(csr, k=2, return_singular_vectors=False)
                    reps.append((time.perf_counter() - t0) * 1e3)
                times.append(sorted(reps)[1])
            ms = sum(times)
            total += ms * count
            print(json.dumps({"suite": "scipy", "name": f"svds_{shape[0]}x{mask.shape[1]}_d{density * 100:g}", "value": round(ms, 3), "unit": "ms", "note": f"x{count} layers, unweighted + weighted"}), flush=True)
        print(json.dumps({"suite": "scipy", "name": f"vgg19_total_d{density * 100:g}", "value": round(total, 1), "unit": "ms"}), flush=True)
        grand += total
    print(json.dumps({"suite": "scipy", "name": "vgg19_total", "value": round(grand, 1), "unit": "ms", "note": "svds k=2 only, 1 process"}), flush=True)


def svds_file(path):
    """safetensors: 8-byte little-endian header length, JSON header, raw little-endian tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32" or len(t["shape"]) not in (2, 4):
            continue
        start, end = t["data_offsets"]
        w = np.frombuffer(raw, dtype="<f4", count=(end - start) // 4, offset=8 + n + start).reshape(t["shape"][0], -1)
        mask = (w != 0).astype(np.float64)
        top = [svds(sp.csr_matrix(b), k=2, return_singular_vectors=False).max() for b in (mask, np.abs(w).astype(np.float64))]
        print(json.dumps({"name": name, "t1": float(top[0]), "t1Weighted": float(top[1])}), flush=True)


if __name__ == "__main__":
    import sys
    if "--svds-file" in sys.argv:
        svds_file(sys.argv[sys.argv.index("--svds-file") + 1])
    elif "--bench" in sys.argv:
        bench()
    else:
        main()
