import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyzeLayer,
  boundDelta,
  degreeBound,
  eigenBound,
  graphMetrics,
  keepsProperty,
  layerVerdicts,
  isCollapsed,
  networkRegime,
  regimeText,
} from '../../src/graph/index.js';
import type { GraphMetrics, LayerVerdicts } from '../../src/graph/types.js';

const round2 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);

test('Table 4, layer 1 (unweighted): (t1, t2, dL, dR) = (31.84, 14.32, 235.20, 3.07) gives eb 11.11, db 16.74, DeltaS -0.22, DeltaR 0.17', () => {
  const eb = eigenBound(31.84);
  const db = degreeBound(235.2, 2352 / 766);
  assert.equal(round2(eb), 11.11);
  assert.equal(round2(db), 16.74);
  assert.equal(round2(boundDelta(eb, 14.32)), -0.22);
  assert.equal(round2(boundDelta(db, 14.32)), 0.17);
});

/** A rows x cols mask with `edges` edges spread over the first `activeRows` rows and `activeCols` columns. */
function spreadMask(rows: number, cols: number, edges: number, activeRows: number, activeCols: number): Float32Array {
  const mask = new Float32Array(rows * cols);
  let placed = 0;
  let next = 0;
  for (let r = 0; r < activeRows; r++) {
    const deg = Math.floor(edges / activeRows) + (r < edges % activeRows ? 1 : 0);
    for (let t = 0; t < deg; t++) {
      mask[r * cols + ((next + t) % activeCols)] = 1;
      placed++;
    }
    next = (next + deg) % activeCols;
  }
  assert.equal(placed, edges);
  return mask;
}

test('Table 4 degrees: layer 1 (2352 of 235,200 left) has dL = 2352/10 = 235.2 and dR = 2352/766 = 3.07', () => {
  // Lenet fc1 is [300, 784]: ten hidden neurons keep edges, to 766 pixels.
  const mask = spreadMask(300, 784, 2352, 10, 766);
  const m = graphMetrics(300, 784, mask, null, 'unweighted');
  assert.equal(m.edges, 2352);
  assert.equal(m.dL, 235.2);
  assert.equal(round2(m.dR), 3.07);
  assert.equal(m.isolatedL, 290);
  assert.equal(m.isolatedR, 18);
});

test('Table 4 degrees: layer 2 (300 left) has dL = 300/89 = 3.37 and dR = 300/10 = 30', () => {
  const mask = spreadMask(100, 300, 300, 89, 10);
  const m = graphMetrics(100, 300, mask, null, 'unweighted');
  assert.equal(round2(m.dL), 3.37);
  assert.equal(m.dR, 30);
});

test('Table 4, layer 3: 10 outputs fully connected to 89 inputs is K(10, 89): (29.83, 0.00, 89.00, 10.00), Deltas +Infinity', () => {
  const mask = new Float32Array(10 * 100);
  for (let i = 0; i < 10; i++) for (let j = 0; j < 89; j++) mask[i * 100 + j] = 1;
  const weight = Float32Array.from({ length: 1000 }, (_, k) => 0.01 * ((k % 13) + 1));
  const a = analyzeLayer({ name: 'fc3.weight', kind: 'linear', shape: [10, 100], weight, mask });
  const m = a.unweighted;
  assert.equal(a.edges, 890);
  assert.equal(round2(m.t1), 29.83);
  assert.equal(m.t2, 0);
  assert.equal(m.dL, 89);
  assert.equal(m.dR, 10);
  assert.equal(round2(m.eb), round2(2 * Math.sqrt(Math.sqrt(890) - 1)));
  assert.equal(m.deltaS, Infinity);
  assert.equal(m.deltaR, Infinity);
  assert.equal(a.collapsed, false);
  assert.equal(a.verdicts!.UE, true);
  assert.equal(a.density, 0.89);
});

test('bounds: eb undefined for t1 < 1, db undefined for a degree below 1, Delta +Infinity for t2 = 0', () => {
  assert.equal(eigenBound(0.999), null);
  assert.equal(eigenBound(1), 0);
  assert.equal(eigenBound(5), 4);
  assert.equal(degreeBound(0.5, 3), null);
  assert.equal(degreeBound(null, 3), null);
  assert.equal(degreeBound(1, 1), 0);
  assert.equal(degreeBound(5, 10), 5);
  assert.equal(boundDelta(null, 3), null);
  assert.equal(boundDelta(null, 0), null);
  assert.equal(boundDelta(0, 0), Infinity);
  assert.equal(boundDelta(3, 2), 0.5);
  assert.equal(boundDelta(1, 2), -0.5);
});

test('weighted degrees: dbWeighted from the sums of |W|, null when they are below 1', () => {
  const mask = new Float32Array([1, 1, 0, 1]);
  const big = graphMetrics(2, 2, mask, new Float64Array([2, -3, 9, 4]), 'weighted');
  assert.equal(big.dL, 1.5);
  assert.equal(big.weightedDL, 4.5); // (2 + 3 + 4) / 2 rows
  assert.equal(big.weightedDR, 4.5);
  assert.equal(big.dbWeighted, 2 * Math.sqrt(3.5));
  const small = graphMetrics(2, 2, mask, new Float64Array([0.1, 0.2, 9, 0.3]), 'weighted');
  assert.equal(small.dbWeighted, null);
  assert.equal(small.deltaRWeighted, null);
  assert.equal(small.eb, null); // t1 < 1
  assert.equal(small.deltaS, null);
  // unweighted: the weighted degrees are the plain ones
  const u = graphMetrics(2, 2, mask, null, 'unweighted');
  assert.equal(u.weightedDL, u.dL);
  assert.equal(u.dbWeighted, u.db);
});

function metrics(over: Partial<GraphMetrics>): GraphMetrics {
  return {
    weighting: 'unweighted', edges: 10, t1: 4, t2: 2, sigma2: 2, t1Multiplicity: 1, dL: 3, dR: 3,
    weightedDL: 3, weightedDR: 3, eb: null, db: null, dbWeighted: null, deltaS: null, deltaR: null,
    deltaRWeighted: null, isolatedL: 0, isolatedR: 0, components: 1, largestComponentL: 3,
    largestComponentR: 3, collapsed: false, ...over,
  };
}

test('verdicts: UE/UD need Delta > 0 unweighted; WE needs DeltaS >= 0 and t1 >= 1 on the score (else weighted) graph; WD needs the weighted-degree Delta > 0', () => {
  const u0 = metrics({ deltaS: 0, deltaR: -0.1 });
  const w = metrics({ weighting: 'weighted', deltaS: 0, t1: 1, deltaRWeighted: 0 });
  let v = layerVerdicts(u0, w);
  assert.deepEqual(v, { UE: false, UD: false, WE: true, WD: false, combined: true });
  v = layerVerdicts(metrics({ deltaS: 0.01, deltaR: null }), metrics({ deltaS: -1, t1: 5, deltaRWeighted: 0.3 }));
  assert.deepEqual(v, { UE: true, UD: false, WE: false, WD: true, combined: true });
  // t1 < 1 fails WE even with a non-negative Delta
  v = layerVerdicts(u0, metrics({ deltaS: 2, t1: 0.9 }));
  assert.equal(v.WE, false);
  assert.equal(v.combined, false);
  // the score graph, when given, replaces the weighted one for WE/WD and the combined rule
  v = layerVerdicts(u0, metrics({ deltaS: 1, t1: 3 }), metrics({ weighting: 'score', deltaS: -0.5, t1: 3 }));
  assert.equal(v.WE, false);
  assert.equal(v.combined, false);
  v = layerVerdicts(metrics({ deltaS: Infinity }), metrics({}));
  assert.equal(v.UE, true);
});

test('keepsProperty and networkRegime: fully, partially, non', () => {
  const yes: LayerVerdicts = { UE: true, UD: false, WE: true, WD: false, combined: true };
  const no: LayerVerdicts = { UE: false, UD: false, WE: false, WD: false, combined: false };
  assert.equal(keepsProperty(yes, 'UE'), true);
  assert.equal(keepsProperty(yes, 'UD'), false);
  assert.equal(keepsProperty(yes, 'combined'), true);
  assert.equal(networkRegime([yes, yes], 'combined'), 'fully');
  assert.equal(networkRegime([yes, no], 'combined'), 'partially');
  assert.equal(networkRegime([no, no], 'combined'), 'non');
  assert.equal(networkRegime([yes, yes], 'UD'), 'non');
  assert.equal(networkRegime([], 'combined'), 'non');
  // 'unweighted' (Algorithm 1 line 12): UE or UD, whatever the weighted graphs say
  const udOnly: LayerVerdicts = { UE: false, UD: true, WE: false, WD: false, combined: true };
  const weightedOnly: LayerVerdicts = { UE: false, UD: false, WE: true, WD: true, combined: true };
  assert.equal(keepsProperty(yes, 'unweighted'), true);
  assert.equal(keepsProperty(udOnly, 'unweighted'), true);
  assert.equal(keepsProperty(weightedOnly, 'unweighted'), false);
  assert.equal(networkRegime([yes, weightedOnly], 'unweighted'), 'partially');
  assert.equal(networkRegime([yes, weightedOnly], 'combined'), 'fully');
});

test('a layer with no edge left is collapsed and gets no verdict', () => {
  const a = analyzeLayer({ name: 'x', kind: 'conv', shape: [4, 2, 3, 3], weight: new Float32Array(72).fill(1), mask: new Float32Array(72) });
  assert.equal(a.rows, 4);
  assert.equal(a.cols, 18);
  assert.equal(a.unweighted.collapsed, true);
  assert.equal(a.weighted.collapsed, true);
  assert.equal(a.collapsed, true);
  assert.equal(a.verdicts, null);
});

test('4 isolated edges (every vertex of degree 1, t2 = 0, Deltas +inf) are collapsed, not Ramanujan; the raw values are kept', () => {
  // resnet18 at 99.5% (issue 13): layer4.1.conv1.weight had 4 edges, each vertex of degree 1.
  const shape = [8, 2, 2, 2];
  const mask = new Float32Array(64);
  for (let i = 0; i < 4; i++) mask[i * 8 + i] = 1;
  const weight = Float32Array.from({ length: 64 }, (_, k) => 0.5 + k / 100);
  const a = analyzeLayer({ name: 'layer4.1.conv1.weight', kind: 'conv', shape, weight, mask });
  assert.equal(a.edges, 4);
  assert.equal(a.unweighted.dL, 1);
  assert.equal(a.unweighted.dR, 1);
  assert.equal(a.unweighted.t2, 0);
  assert.equal(a.unweighted.deltaS, Infinity);
  assert.equal(a.unweighted.deltaR, Infinity);
  // what the verdicts would say, and what the analysis says
  assert.equal(layerVerdicts(a.unweighted, a.weighted).UE, true);
  assert.equal(a.collapsed, true);
  assert.equal(a.unweighted.collapsed, true);
  assert.equal(a.weighted.collapsed, true);
  assert.equal(a.verdicts, null);
  assert.equal(networkRegime([a.verdicts], 'combined'), 'collapsed');
});

test('isCollapsed: average degree below 2 on either side (Algorithm 1\'s guard); exactly 2 is not collapsed', () => {
  assert.equal(isCollapsed({ dL: 2, dR: 2 }), false);
  assert.equal(isCollapsed({ dL: 1.99, dR: 50 }), true);
  assert.equal(isCollapsed({ dL: 50, dR: 1.5 }), true);
  assert.equal(isCollapsed({ dL: null, dR: null }), true);
  // a complete 2x2 block: degree 2 on both sides, analysed with verdicts
  const a = analyzeLayer({ name: 'k22', kind: 'linear', shape: [2, 2], weight: new Float32Array([1, 2, 3, 4]), mask: null });
  assert.equal(a.collapsed, false);
  assert.notEqual(a.verdicts, null);
  // 3 rows of degree 1 over 3 columns of degree 1, plus one row of degree 3: dL = 6/4 = 1.5
  const mask = new Float32Array(4 * 6);
  for (let i = 0; i < 3; i++) mask[i * 6 + i] = 1;
  for (let j = 3; j < 6; j++) mask[3 * 6 + j] = 1;
  const b = analyzeLayer({ name: 'b', kind: 'linear', shape: [4, 6], weight: new Float32Array(24).fill(1), mask });
  assert.equal(b.unweighted.dL, 1.5);
  assert.equal(b.collapsed, true);
  assert.equal(b.verdicts, null);
});

test('networkRegime leaves collapsed layers out; regimeText counts them beside the regime', () => {
  const yes: LayerVerdicts = { UE: true, UD: false, WE: true, WD: false, combined: true };
  const no: LayerVerdicts = { UE: false, UD: false, WE: false, WD: false, combined: false };
  assert.equal(networkRegime([yes, null], 'combined'), 'fully');
  assert.equal(networkRegime([yes, no, null], 'combined'), 'partially');
  assert.equal(networkRegime([no, null, null], 'combined'), 'non');
  assert.equal(networkRegime([null, null], 'combined'), 'collapsed');
  assert.equal(networkRegime([], 'combined'), 'non');
  assert.equal(regimeText('partially', 5, 21), 'partially Ramanujan, 5 of 21 layers collapsed');
  assert.equal(regimeText('fully', 0, 3), 'fully Ramanujan');
  assert.equal(regimeText('non', 1, 3, true), 'non, 1/3 collapsed');
  assert.equal(regimeText('collapsed', 3, 3), 'collapsed (all 3 analysed layers; no verdict)');
});

test('analyzeLayer: conv reshape, score graph, exact zeros as pruned without a mask', () => {
  const shape = [3, 2, 2, 2];
  const weight = Float32Array.from({ length: 24 }, (_, k) => (k % 5 === 0 ? 0 : (k % 7) - 3.5));
  const score = Float64Array.from({ length: 24 }, (_, k) => (k + 1) / 10);
  const a = analyzeLayer({ name: 'features.0.weight', kind: 'conv', shape, weight, mask: null, score });
  assert.equal(a.edges, 24 - 5);
  assert.equal(a.cols, 8);
  assert.ok(a.score);
  assert.equal(a.score!.weighting, 'score');
  const direct = graphMetrics(3, 8, null, weight, 'weighted');
  assert.equal(a.weighted.t1, direct.t1);
  assert.equal(a.weighted.t2, direct.t2);
  assert.throws(() => analyzeLayer({ name: 'bad', kind: 'linear', shape: [2, 3], weight: new Float32Array(5), mask: null }), /needs 6/);
});
