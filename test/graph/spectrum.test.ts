import { test } from 'node:test';
import assert from 'node:assert/strict';
import { graphMetrics } from '../../src/graph/index.js';
import type { GraphMetrics } from '../../src/graph/types.js';
import { definition3, denseB, denseSingularValues, hashedLayer, relClose } from './reference.js';

/** Compares t1, t2, sigma2 and the multiplicity with the dense Jacobi SVD of the same B. */
function checkAgainstDense(rows: number, cols: number, mask: Float32Array, weight: Float64Array | null, label: string): GraphMetrics {
  const m = graphMetrics(rows, cols, mask, weight, weight ? 'weighted' : 'unweighted');
  const ref = definition3(denseSingularValues(denseB(mask, weight), rows, cols));
  const what = `${label}: got t1=${m.t1} t2=${m.t2} sigma2=${m.sigma2} mult=${m.t1Multiplicity}, dense ${JSON.stringify(ref)}`;
  assert.ok(relClose(m.t1, ref.t1, 1e-6), what);
  assert.ok(relClose(m.t2, ref.t2, 1e-6, 1e-12), what);
  assert.ok(relClose(m.sigma2, ref.sigma2, 1e-6, 1e-12), what);
  assert.equal(m.t1Multiplicity, ref.mult, what);
  return m;
}

test('t1, t2 agree with a dense SVD over shapes and densities 100% .. 0.5%, unweighted and weighted', () => {
  const shapes: Array<[number, number, number[]]> = [
    [10, 10, [1, 0.5, 0.2]],
    [30, 50, [1, 0.3, 0.1, 0.02]],
    [64, 27, [1, 0.5, 0.2, 0.05, 0.01, 0.005]],
    [100, 80, [0.5, 0.1, 0.05, 0.01, 0.005]],
    [120, 300, [1, 0.2, 0.02, 0.005]],
    [300, 60, [0.3, 0.05, 0.01]],
  ];
  let seed = 100;
  let cases = 0;
  for (const [rows, cols, densities] of shapes) {
    for (const density of densities) {
      const { mask, weight } = hashedLayer(rows, cols, density, seed++);
      checkAgainstDense(rows, cols, mask, null, `${rows}x${cols} d=${density} unweighted`);
      checkAgainstDense(rows, cols, mask, weight, `${rows}x${cols} d=${density} weighted`);
      cases += 2;
    }
  }
  assert.equal(cases, 50);
});

test('signed weights and a Float32 weight array give the spectrum of |W|', () => {
  const { mask, weight } = hashedLayer(40, 70, 0.3, 9);
  const signed = Float32Array.from(weight, (w, k) => (k % 3 === 0 ? -w : w));
  const m = graphMetrics(40, 70, mask, signed, 'weighted');
  const abs = Float64Array.from(signed, Math.abs);
  const ref = definition3(denseSingularValues(denseB(mask, abs), 40, 70));
  assert.ok(relClose(m.t1, ref.t1, 1e-6) && relClose(m.t2, ref.t2, 1e-6), `${m.t1} ${m.t2} vs ${ref.t1} ${ref.t2}`);
});

test('near-degenerate top pair in one connected component (t1, t2 within 1%)', () => {
  // Two dense random blocks, the second scaled by 0.995, joined by a few weak edges: connected,
  // sigma_1 and sigma_2 about 0.5% apart.
  for (const [scale, coupling] of [[0.995, 1e-3], [0.999, 1e-2], [0.9999, 1e-3]] as const) {
    const a = 30;
    const b = 45;
    const rows = 2 * a;
    const cols = 2 * b;
    const { weight: w1 } = hashedLayer(a, b, 1, 77);
    const mask = new Float32Array(rows * cols);
    const weight = new Float64Array(rows * cols);
    for (let i = 0; i < a; i++) {
      for (let j = 0; j < b; j++) {
        mask[i * cols + j] = 1;
        weight[i * cols + j] = w1[i * b + j];
        mask[(i + a) * cols + j + b] = 1;
        weight[(i + a) * cols + j + b] = scale * w1[i * b + j];
      }
    }
    for (const [i, j] of [[0, b + 3], [a + 5, 7], [a - 1, 2 * b - 1]]) {
      mask[i * cols + j] = 1;
      weight[i * cols + j] = coupling;
    }
    const m = checkAgainstDense(rows, cols, mask, weight, `near-degenerate ${scale}`);
    assert.equal(m.components, 1);
    assert.equal(m.t1Multiplicity, 1);
    assert.ok(m.t2 / m.t1 > 0.99, `t2/t1 = ${m.t2 / m.t1}`);
  }
});

test('repeated top singular value: two disjoint copies of a weighted block', () => {
  const a = 20;
  const b = 33;
  const { mask: m1, weight: w1 } = hashedLayer(a, b, 0.4, 5);
  const rows = 2 * a;
  const cols = 2 * b;
  const mask = new Float32Array(rows * cols);
  const weight = new Float64Array(rows * cols);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      mask[i * cols + j] = m1[i * b + j];
      weight[i * cols + j] = w1[i * b + j];
      // the copy sits with its rows and columns in reverse order: same singular values
      mask[(rows - 1 - i) * cols + (cols - 1 - j)] = m1[i * b + j];
      weight[(rows - 1 - i) * cols + (cols - 1 - j)] = w1[i * b + j];
    }
  }
  const single = graphMetrics(a, b, m1, w1, 'weighted');
  const m = checkAgainstDense(rows, cols, mask, weight, 'two copies');
  assert.equal(m.t1Multiplicity, 2);
  assert.ok(relClose(m.t1, single.t1, 1e-12));
  assert.ok(relClose(m.sigma2, m.t1, 1e-12), 'raw sigma2 equals t1 when t1 is repeated');
  assert.ok(relClose(m.t2, single.t2, 1e-9), 't2 is the next distinct value');
  assert.equal(m.components, 2 * single.components);
});

test('complete bipartite K(a, b): t1 = sqrt(ab), t2 = 0; weighted with equal weights too', () => {
  for (const [a, b] of [[1, 1], [1, 7], [3, 4], [10, 89], [64, 27]]) {
    const u = graphMetrics(a, b, null, null, 'unweighted');
    assert.ok(relClose(u.t1, Math.sqrt(a * b), 1e-14), `${a}x${b}`);
    assert.equal(u.t2, 0);
    assert.equal(u.sigma2, 0);
    assert.equal(u.t1Multiplicity, 1);
    assert.equal(u.deltaS === null ? null : u.deltaS, a * b >= 1 ? Infinity : null);
    const w = graphMetrics(a, b, null, new Float64Array(a * b).fill(0.3), 'weighted');
    assert.ok(relClose(w.t1, 0.3 * Math.sqrt(a * b), 1e-12), `${a}x${b} weighted ${w.t1}`);
    assert.equal(w.t2, 0, `${a}x${b} weighted t2 ${w.t2}`);
  }
});

test('two disjoint copies of K(3, 4): t1 repeated, so t2 = 0', () => {
  const rows = 6;
  const cols = 8;
  const mask = new Float32Array(rows * cols);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) {
    mask[i * cols + j] = 1;
    mask[(i + 3) * cols + j + 4] = 1;
  }
  const m = graphMetrics(rows, cols, mask, null, 'unweighted');
  assert.ok(relClose(m.t1, Math.sqrt(12), 1e-14));
  assert.equal(m.t1Multiplicity, 2);
  assert.ok(relClose(m.sigma2, Math.sqrt(12), 1e-14));
  assert.equal(m.t2, 0);
  assert.equal(m.deltaS, Infinity);
  assert.equal(m.components, 2);
  // and a K(3,4) next to a K(2,4): t2 is the smaller block's sqrt(8)
  const mask2 = new Float32Array(5 * 8);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) mask2[i * 8 + j] = 1;
  for (let i = 3; i < 5; i++) for (let j = 4; j < 8; j++) mask2[i * 8 + j] = 1;
  const m2 = graphMetrics(5, 8, mask2, null, 'unweighted');
  assert.equal(m2.t1Multiplicity, 1);
  assert.ok(relClose(m2.t2, Math.sqrt(8), 1e-14));
});

test('even cycles C_2n: singular values 2|cos(pi k / n)|, so t1 = 2 and t2 = 2 cos(pi / n)', () => {
  for (const n of [3, 4, 5, 8, 13, 50, 101]) {
    // L_i -- R_i and L_i -- R_{i+1 mod n}: B = I + P
    const mask = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      mask[i * n + i] = 1;
      mask[i * n + ((i + 1) % n)] = 1;
    }
    const m = graphMetrics(n, n, mask, null, 'unweighted');
    assert.ok(relClose(m.t1, 2, 1e-12), `C_${2 * n} t1 ${m.t1}`);
    assert.ok(relClose(m.t2, 2 * Math.cos(Math.PI / n), 1e-9), `C_${2 * n} t2 ${m.t2} vs ${2 * Math.cos(Math.PI / n)}`);
    assert.equal(m.t1Multiplicity, 1);
    assert.equal(m.dL, 2);
    assert.equal(m.dR, 2);
    assert.equal(m.components, 1);
  }
});

/** A simple random (c, d)-biregular bipartite graph by the configuration model, retried until simple. */
function biregular(rows: number, cols: number, c: number, seed: number): Float32Array {
  const d = (rows * c) / cols;
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (;;) {
    const stubs: number[] = [];
    for (let j = 0; j < cols; j++) for (let t = 0; t < d; t++) stubs.push(j);
    for (let k = stubs.length - 1; k > 0; k--) {
      const r = Math.floor(rand() * (k + 1));
      [stubs[k], stubs[r]] = [stubs[r], stubs[k]];
    }
    const mask = new Float32Array(rows * cols);
    let simple = true;
    for (let i = 0; i < rows && simple; i++) {
      for (let t = 0; t < c; t++) {
        const j = stubs[i * c + t];
        if (mask[i * cols + j]) {
          simple = false;
          break;
        }
        mask[i * cols + j] = 1;
      }
    }
    if (simple) return mask;
  }
}

test('random biregular graphs: t1 = sqrt(c d) exactly, t2 as the dense SVD, degrees c and d', () => {
  for (const [rows, cols, c, seed] of [[40, 40, 3, 1], [60, 30, 2, 2], [30, 90, 6, 3], [100, 50, 4, 4]] as const) {
    const mask = biregular(rows, cols, c, seed);
    const d = (rows * c) / cols;
    const m = checkAgainstDense(rows, cols, mask, null, `biregular ${rows}x${cols} (${c}, ${d})`);
    assert.ok(relClose(m.t1, Math.sqrt(c * d), 1e-12));
    assert.equal(m.dL, c);
    assert.equal(m.dR, d);
  }
});

test('an empty layer is collapsed with defined values and no NaN', () => {
  const m = graphMetrics(5, 7, new Float32Array(35), new Float64Array(35).fill(1), 'weighted');
  assert.equal(m.collapsed, true);
  assert.equal(m.edges, 0);
  assert.equal(m.t1, 0);
  assert.equal(m.t2, 0);
  assert.equal(m.isolatedL, 5);
  assert.equal(m.isolatedR, 7);
  assert.equal(m.components, 0);
  for (const [k, v] of Object.entries(m)) {
    assert.ok(!(typeof v === 'number' && Number.isNaN(v)), `${k} is NaN`);
  }
  assert.equal(m.deltaS, null);
  assert.equal(m.deltaR, null);
  assert.equal(m.dL, null);
  const empty = graphMetrics(0, 0, null, null, 'unweighted');
  assert.equal(empty.collapsed, true);
});

test('a single edge and stars (rank 1)', () => {
  const one = new Float32Array(12);
  one[5] = 1;
  const m = graphMetrics(3, 4, one, Float64Array.from({ length: 12 }, () => 2.5), 'weighted');
  assert.equal(m.t1, 2.5);
  assert.equal(m.t2, 0);
  assert.equal(m.components, 1);
  assert.equal(m.isolatedL, 2);
  assert.equal(m.isolatedR, 3);
  // a row star with weights 3 and 4 has sigma_1 = 5
  const star = new Float32Array([1, 0, 1, 0, 0, 0]);
  const s = graphMetrics(2, 3, star, new Float64Array([3, 9, 4, 9, 9, 9]), 'weighted');
  assert.equal(s.t1, 5);
  assert.equal(s.t2, 0);
});

test('edges of weight 0 count for degrees but not for the spectrum', () => {
  const { mask, weight } = hashedLayer(30, 40, 0.3, 21);
  for (let k = 0; k < weight.length; k += 7) weight[k] = 0;
  const m = checkAgainstDense(30, 40, mask, weight, 'zero weights');
  const u = graphMetrics(30, 40, mask, null, 'unweighted');
  assert.equal(m.edges, u.edges);
  assert.equal(m.dL, u.dL);
});

test('without a mask the non-zero values are the edges; with neither the graph is complete', () => {
  const { mask, weight } = hashedLayer(20, 30, 0.2, 3);
  const pruned = Float64Array.from(weight, (w, k) => (mask[k] ? w : 0));
  const a = graphMetrics(20, 30, null, pruned, 'weighted');
  const b = graphMetrics(20, 30, mask, weight, 'weighted');
  assert.equal(a.edges, b.edges);
  assert.equal(a.t1, b.t1);
  assert.equal(a.t2, b.t2);
  assert.equal(graphMetrics(20, 30, null, null, 'unweighted').edges, 600);
  assert.throws(() => graphMetrics(2, 2, null, null, 'weighted'), /needs edge values/);
});

test('each spectral path (Golub-Kahan, explicit Gram, implicit Gram) agrees with the dense SVD on the same blocks', async () => {
  const { gklTopPair, gramTopPair } = await import('../../src/graph/spectrum.js');
  const { bipartiteStructure, edgeWeights } = await import('../../src/graph/bipartite.js');
  let seed = 500;
  let checked = 0;
  for (const [rows, cols, density] of [[40, 90, 1], [90, 40, 0.3], [60, 200, 0.05], [120, 70, 0.15]] as const) {
    const { mask, weight } = hashedLayer(rows, cols, density, seed++);
    for (const w of [null, weight]) {
      const g = bipartiteStructure(rows, cols, mask, null);
      const block = { rows, cols, rowPtr: g.rowPtr, colIdx: g.colIdx, w: edgeWeights(g, w), dense: g.edges === rows * cols };
      const sv = denseSingularValues(denseB(mask, w), rows, cols);
      if (!(sv[1] > 0.01 * sv[0])) continue; // the Gram paths hand such blocks to Golub-Kahan
      for (const r of [gklTopPair(block), gramTopPair(block, true), gramTopPair(block, false)]) {
        const what = `${rows}x${cols} d=${density} ${w ? 'weighted' : 'unweighted'} ${r.method}: ${r.s1} ${r.s2} vs ${sv[0]} ${sv[1]}`;
        assert.ok(relClose(r.s1, sv[0], 1e-7) && relClose(r.s2, sv[1], 1e-7), what);
        checked++;
      }
    }
  }
  assert.equal(checked, 3 * 7); // all but the complete unweighted 40x90 block (rank 1)
});
