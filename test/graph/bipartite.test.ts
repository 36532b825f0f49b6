import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bipartiteStructure, connectedComponents, degreeStats, edgeWeights, toCsc } from '../../src/graph/index.js';
import { hashedLayer } from './reference.js';

test('CSR and CSC hold the mask edges, rows = outputs, cols = inputs', () => {
  // B = [[1 0 1],
  //      [0 0 0],
  //      [0 1 1]]
  const g = bipartiteStructure(3, 3, new Uint8Array([1, 0, 1, 0, 0, 0, 0, 1, 1]), null);
  assert.equal(g.edges, 4);
  assert.deepEqual([...g.rowPtr], [0, 2, 2, 4]);
  assert.deepEqual([...g.colIdx], [0, 2, 1, 2]);
  assert.deepEqual([...g.degreeL], [2, 0, 2]);
  assert.deepEqual([...g.degreeR], [1, 1, 2]);
  const csc = toCsc(g);
  assert.deepEqual([...csc.colPtr], [0, 1, 2, 4]);
  assert.deepEqual([...csc.rowIdx], [0, 2, 0, 2]);
  assert.deepEqual([...csc.edgeOf], [0, 2, 1, 3]);
  const w = edgeWeights(g, new Float64Array([1, 9, -2, 9, 9, 9, 9, 3, -4]))!;
  assert.deepEqual([...w], [1, 2, 3, 4]);
  assert.ok(edgeWeights(g, new Float32Array(9)) instanceof Float32Array);
});

test('degrees are averaged over non-isolated vertices', () => {
  const g = bipartiteStructure(3, 3, new Uint8Array([1, 0, 1, 0, 0, 0, 0, 1, 1]), null);
  const d = degreeStats(g, null);
  assert.equal(d.isolatedL, 1);
  assert.equal(d.isolatedR, 0);
  assert.equal(d.dL, 2);
  assert.equal(d.dR, 4 / 3);
  const dw = degreeStats(g, new Float64Array([1, 2, 3, 4]));
  assert.equal(dw.weightedDL, 5);
  assert.equal(dw.weightedDR, 10 / 3);
});

/** Components by breadth-first search over a dense mask: the test's own reference. */
function bfsComponents(mask: ArrayLike<number>, rows: number, cols: number): { count: number; largest: [number, number] } {
  const seenL = new Uint8Array(rows);
  const seenR = new Uint8Array(cols);
  let count = 0;
  let best: [number, number] = [0, 0];
  for (let start = 0; start < rows; start++) {
    if (seenL[start]) continue;
    let any = false;
    for (let j = 0; j < cols; j++) if (mask[start * cols + j]) any = true;
    if (!any) continue;
    count++;
    const queue: Array<[number, number]> = [[0, start]];
    seenL[start] = 1;
    let nl = 0;
    let nr = 0;
    while (queue.length) {
      const [side, v] = queue.pop()!;
      if (side === 0) {
        nl++;
        for (let j = 0; j < cols; j++) if (mask[v * cols + j] && !seenR[j]) { seenR[j] = 1; queue.push([1, j]); }
      } else {
        nr++;
        for (let i = 0; i < rows; i++) if (mask[i * cols + v] && !seenL[i]) { seenL[i] = 1; queue.push([0, i]); }
      }
    }
    if (nl + nr > best[0] + best[1]) best = [nl, nr];
  }
  return { count, largest: best };
}

test('connected components agree with a breadth-first search, over densities', () => {
  let seed = 1;
  for (const [rows, cols, density] of [[20, 30, 0.02], [50, 40, 0.01], [60, 60, 0.03], [100, 20, 0.05], [30, 30, 0.5], [8, 9, 0]] as const) {
    const { mask } = hashedLayer(rows, cols, density, seed++);
    const g = bipartiteStructure(rows, cols, mask, null);
    const c = connectedComponents(g);
    const ref = bfsComponents(mask, rows, cols);
    assert.equal(c.count, ref.count, `${rows}x${cols} d=${density}`);
    assert.deepEqual([c.largestL, c.largestR], ref.largest);
    // every non-isolated vertex has a label, isolated ones -1
    for (let i = 0; i < rows; i++) assert.equal(c.labelL[i] >= 0, g.degreeL[i] > 0);
    for (let j = 0; j < cols; j++) assert.equal(c.labelR[j] >= 0, g.degreeR[j] > 0);
  }
});

test('bad sizes are programming errors (RangeError)', () => {
  assert.throws(() => bipartiteStructure(2, 2, new Float32Array(3), null), RangeError);
  assert.throws(() => bipartiteStructure(-1, 2, null, null), RangeError);
});

test('a float32 mask (scanned by bit patterns) gives the same edges as any other array, -0 included', () => {
  for (const [rows, cols, density] of [[7, 13, 0.3], [5, 4, 0.9], [3, 1, 0.5], [11, 6, 0.02]] as const) {
    const { mask } = hashedLayer(rows, cols, density, rows * 31 + cols);
    const f32 = Float32Array.from(mask, (m, k) => (m ? (k % 3 === 0 ? -2.5 : 1) : k % 2 ? -0 : 0));
    const u8 = Uint8Array.from(mask, (m) => (m ? 1 : 0));
    const a = bipartiteStructure(rows, cols, f32, null);
    const b = bipartiteStructure(rows, cols, u8, null);
    assert.deepEqual([...a.rowPtr], [...b.rowPtr]);
    assert.deepEqual([...a.colIdx], [...b.colIdx]);
    assert.deepEqual([...a.degreeR], [...b.degreeR]);
    // and as values with no mask
    const c = bipartiteStructure(rows, cols, null, f32);
    assert.deepEqual([...c.colIdx], [...b.colIdx]);
  }
});

test('a non-finite edge weight is refused (it would make every spectral value NaN)', () => {
  const g = bipartiteStructure(1, 3, null, null);
  assert.throws(() => edgeWeights(g, new Float64Array([1, Infinity, 2])), /non-finite weight Infinity/);
});
