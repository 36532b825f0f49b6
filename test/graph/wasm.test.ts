import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bipartiteStructure, edgeWeights, hasZeroWeight } from '../../src/graph/bipartite.js';
import { blockProducts, gklTopPair, gramTopPair, typescriptBlockProducts, type SparseBlock } from '../../src/graph/spectrum.js';
import { releaseWasmMemory, setWasmMemoryLimit, useWasmKernels, wasmBasis, wasmKernelsAvailable } from '../../src/graph/wasm.js';
import { analyzeLayer } from '../../src/graph/index.js';
import { denseB, denseSingularValues, hashedLayer, relClose } from './reference.js';

/** A block over the whole rows x cols graph (f32, f64 or unit weights). */
function block(rows: number, cols: number, density: number, seed: number, weights: 'f32' | 'f64' | 'unit'): SparseBlock {
  const { mask, weight } = hashedLayer(rows, cols, density, seed);
  const g = bipartiteStructure(rows, cols, mask, null);
  const values = weights === 'unit' ? null : weights === 'f32' ? Float32Array.from(weight) : weight;
  return { rows, cols, rowPtr: g.rowPtr, colIdx: g.colIdx, w: edgeWeights(g, values), dense: g.edges === rows * cols };
}

function vector(n: number, seed: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => Math.sin(1.3 * i + seed) + 0.2);
}

/** max |a - b| / max |b| (0 for two zero vectors) */
function relDiff(a: Float64Array, b: Float64Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return s === 0 ? d : d / s;
}

test('the wasm module is built (node scripts/build-wasm.mjs) and used by default', () => {
  assert.ok(wasmKernelsAvailable(), 'dist/wasm/spectral.wasm is missing: run `node scripts/build-wasm.mjs`');
});

test('wasm products (B x, B^T y, Gram) equal the TypeScript ones on odd sizes, f32 / f64 / unit weights, dense and sparse', () => {
  let seed = 900;
  let checked = 0;
  for (const [rows, cols] of [[1, 1], [1, 7], [3, 5], [7, 13], [17, 9], [33, 65], [130, 7], [5, 259]] as const) {
    for (const density of [1, 0.4, 0.05]) {
      for (const weights of ['f32', 'f64', 'unit'] as const) {
        const b = block(rows, cols, density, seed++, weights);
        const wasm = blockProducts(b);
        const ts = typescriptBlockProducts(b);
        const x = vector(cols, 1);
        const y = vector(rows, 2);
        const small = Math.min(rows, cols);
        const q = vector(small, 3);
        const got = [new Float64Array(rows), new Float64Array(cols), new Float64Array(small)];
        const want = [new Float64Array(rows), new Float64Array(cols), new Float64Array(small)];
        wasm.multiply(x, got[0]);
        ts.multiply(x, want[0]);
        wasm.multiplyTransposed(y, got[1]);
        ts.multiplyTransposed(y, want[1]);
        wasm.gram(q, got[2]);
        ts.gram(q, want[2]);
        const what = `${rows}x${cols} d=${density} ${weights}`;
        for (let k = 0; k < 3; k++) assert.ok(relDiff(got[k], want[k]) < 1e-13, `${what} product ${k}: ${relDiff(got[k], want[k])}`);
        // not trivially equal: B x is non-zero whenever the block has an edge
        if (b.colIdx.length > 0) assert.ok(want[0].some((v) => v !== 0), what);
        checked++;
      }
    }
  }
  assert.equal(checked, 8 * 3 * 3);
});

test('growing the wasm memory for a larger block keeps later products right', () => {
  const small = block(9, 11, 0.5, 1, 'f64');
  const large = block(700, 900, 1, 2, 'f32'); // 2.5 MB of weights: the memory grows
  for (const b of [small, large, small]) {
    const x = vector(b.cols, 4);
    const got = new Float64Array(b.rows);
    const want = new Float64Array(b.rows);
    blockProducts(b).multiply(x, got);
    typescriptBlockProducts(b).multiply(x, want);
    assert.ok(relDiff(got, want) < 1e-13);
  }
});

test('each Lanczos path gives the same top pair with wasm and with TypeScript products, and the dense SVD one', () => {
  let seed = 950;
  for (const [rows, cols, density] of [[37, 101, 1], [101, 37, 1], [83, 211, 0.2], [150, 61, 0.07]] as const) {
    for (const weights of ['f32', 'f64', 'unit'] as const) {
      const b = block(rows, cols, density, seed++, weights);
      if (weights === 'unit' && b.dense) continue; // rank 1: handled without Lanczos
      const { mask, weight } = hashedLayer(rows, cols, density, seed - 1);
      const w = weights === 'unit' ? null : weights === 'f32' ? Float64Array.from(Float32Array.from(weight)) : weight;
      const sv = denseSingularValues(denseB(mask, w), rows, cols);
      const paths = [() => gklTopPair(b), () => gramTopPair(b, false)];
      for (const path of paths) {
        const viaWasm = path();
        useWasmKernels(false);
        let viaTs;
        try {
          viaTs = path();
        } finally {
          useWasmKernels(true);
        }
        const what = `${rows}x${cols} d=${density} ${weights} ${viaWasm.method}: ${viaWasm.s1} ${viaWasm.s2} / ${viaTs.s1} ${viaTs.s2} / ${sv[0]} ${sv[1]}`;
        assert.ok(relClose(viaWasm.s1, viaTs.s1, 1e-9) && relClose(viaWasm.s2, viaTs.s2, 1e-9), what);
        assert.ok(relClose(viaWasm.s1, sv[0], 1e-7) && relClose(viaWasm.s2, sv[1], 1e-7), what);
      }
    }
  }
});

test('analyzeLayer gives the same spectrum with and without the wasm products', () => {
  const { mask, weight } = hashedLayer(64, 300, 0.3, 77);
  const input = { name: 'l', kind: 'linear' as const, shape: [64, 300], weight: Float32Array.from(weight), mask };
  const a = analyzeLayer(input);
  useWasmKernels(false);
  let b;
  try {
    b = analyzeLayer(input);
  } finally {
    useWasmKernels(true);
  }
  for (const key of ['unweighted', 'weighted'] as const) {
    assert.ok(relClose(a[key].t1, b[key].t1, 1e-9) && relClose(a[key].t2, b[key].t2, 1e-9), `${key}: ${a[key].t1} ${a[key].t2} vs ${b[key].t1} ${b[key].t2}`);
    assert.equal(a[key].t1Multiplicity, b[key].t1Multiplicity);
  }
});

test('the wasm edge scan builds the same CSR and degrees as the TypeScript one (odd shapes, -0, NaN, tails)', () => {
  let seed = 990;
  let checked = 0;
  for (const [rows, cols] of [[1, 1], [1, 3], [2, 5], [7, 13], [16, 4], [33, 65], [5, 259]] as const) {
    for (const density of [1, 0.5, 0.05, 0]) {
      const { mask, weight } = hashedLayer(rows, cols, density, seed++);
      // float32 supports with signed zeros (not edges) and a NaN (an edge in both scans)
      const support = Float32Array.from(mask, (v, k) => (v === 0 && k % 3 === 0 ? -0 : v * (k % 2 === 0 ? -weight[k] : weight[k])));
      if (rows * cols > 4) support[rows * cols - 2] = NaN;
      const viaWasm = bipartiteStructure(rows, cols, support, null);
      useWasmKernels(false);
      let viaTs;
      try {
        viaTs = bipartiteStructure(rows, cols, support, null);
      } finally {
        useWasmKernels(true);
      }
      assert.deepEqual(viaWasm, viaTs, `${rows}x${cols} d=${density}`);
      checked++;
    }
  }
  assert.equal(checked, 7 * 4);
});

test('float32 edge weights of a complete graph: wasm |x| equals the TypeScript one, zeros are seen, non-finite values refused', () => {
  for (const n of [1, 3, 4, 7, 1001]) {
    const g = bipartiteStructure(1, n, null, null);
    const values = Float32Array.from({ length: n }, (_, k) => (k % 2 ? -1 : 1) * (0.25 + k));
    const viaWasm = edgeWeights(g, values)!;
    useWasmKernels(false);
    let viaTs;
    try {
      viaTs = edgeWeights(g, values)!;
    } finally {
      useWasmKernels(true);
    }
    assert.deepEqual(viaWasm, viaTs);
    assert.ok(viaWasm.every((v) => v > 0));
    assert.equal(hasZeroWeight(viaWasm), false);
    // a -0 anywhere (also in the scalar tail) is a zero weight
    values[n - 1] = -0;
    const withZero = edgeWeights(g, values)!;
    assert.equal(hasZeroWeight(withZero), true, `n=${n}`);
    assert.equal(Object.is(withZero[n - 1], 0), true);
    values[0] = n > 1 ? -Infinity : NaN;
    assert.throws(() => edgeWeights(g, values), /edge 0 has the non-finite weight (Infinity|NaN)/);
  }
});

function checkBasisByHand(sizes: number[]): void {
  for (const n of sizes) {
    releaseWasmMemory();
    const basis = wasmBasis(n)!;
    const vectors: Float64Array[] = [];
    const count = Math.min(n, 40); // 40 > 16 and > 32: the basis moves twice
    for (let k = 0; k < count; k++) {
      // independent directions (vector() spans only three)
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(0.37 * i * i + 1.91 * k + 0.3 * i * k));
      const want = x.slice();
      for (let pass = 0; pass < 2; pass++) {
        const c = vectors.map((q) => q.reduce((s, qi, i) => s + qi * want[i], 0));
        vectors.forEach((q, i) => q.forEach((qi, t) => (want[t] -= c[i] * qi)));
      }
      basis.reorthogonalise(x);
      assert.ok(relDiff(x, want) < 1e-10, `n=${n} k=${k}: ${relDiff(x, want)}`);
      const norm = Math.hypot(...x);
      if (norm < 1e-8) break;
      const unit = x.map((v) => v / norm);
      vectors.push(unit);
      basis.push(unit);
      assert.equal(basis.count, vectors.length);
    }
    assert.equal(basis.count, count);
    // orthogonal to every basis vector afterwards
    const y = vector(n, 99);
    basis.reorthogonalise(y);
    for (const q of vectors) assert.ok(Math.abs(q.reduce((s, qi, i) => s + qi * y[i], 0)) < 1e-12);
  }
}

test('a wasm Lanczos basis reorthogonalises like classical Gram-Schmidt done twice by hand, across its growth', () => {
  checkBasisByHand([3, 37, 130]);
});

test('past the wasm memory limit: the basis moves to JS arrays and the products fall back to TypeScript, same results', () => {
  const { mask, weight } = hashedLayer(200, 300, 0.5, 31);
  const input = { name: 'l', kind: 'linear' as const, shape: [200, 300], weight: Float32Array.from(weight), mask };
  const full = analyzeLayer(input);
  // 64 KiB: a basis of 100-vectors starts in wasm and cannot double past 32 vectors; the layer's
  // block (about 1 MB) does not fit at all
  const previous = setWasmMemoryLimit(64 * 1024);
  let limited;
  try {
    checkBasisByHand([100]);
    limited = analyzeLayer(input);
  } finally {
    setWasmMemoryLimit(previous);
  }
  for (const key of ['unweighted', 'weighted'] as const) {
    assert.ok(relClose(full[key].t1, limited[key].t1, 1e-9) && relClose(full[key].t2, limited[key].t2, 1e-9), key);
  }
});
