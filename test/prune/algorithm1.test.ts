/**
 * Algorithm 1 on constructed layers where each branch is taken. The layers are unions of complete
 * bipartite blocks, whose spectra are known in closed form: K_{a,b} has the single nonzero singular
 * value sqrt(a*b), so a block-diagonal B has singular values sqrt(a_i*b_i).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attemptFraction, ramanujanPreservingPrune, scaleToMeanOne, type GraphMetricsFn } from '../../src/prune/algorithm1.js';
import type { BoundConfig } from '../../src/prune/config.js';
import type { GraphMetrics } from '../../src/graph/types.js';
import { countRemaining } from '../../src/prune/select.js';
import { graphMetrics } from '../../src/graph/index.js';
import { standinGraphMetrics } from './standin-graph.js';

const metricsFns: Array<[string, GraphMetricsFn]> = [['graph library', graphMetrics], ['stand-in', standinGraphMetrics]];

const combined: BoundConfig = { criterion: 'combined', maxTries: 3, schedule: 'text', scoreScale: 'none' };

/** A rows x cols layer: `blocks` are complete blocks [row0, col0, h, w, score]; `extra` edges [row, col, score]. */
function layerOf(rows: number, cols: number, blocks: number[][], extra: number[][] = []) {
  const mask = new Float32Array(rows * cols);
  const score = new Float64Array(rows * cols);
  for (const [r0, c0, h, w, s] of blocks) {
    for (let i = r0; i < r0 + h; i++) for (let j = c0; j < c0 + w; j++) { mask[i * cols + j] = 1; score[i * cols + j] = s; }
  }
  for (const [i, j, s] of extra) { mask[i * cols + j] = 1; score[i * cols + j] = s; }
  return { name: 'fc.weight', rows, cols, mask, score };
}

for (const [label, metrics] of metricsFns) {
  test(`${label}: accepted on the unweighted property`, () => {
    // K66 + K44 plus 4 low-score edges; removing those leaves singular values 6 and 4:
    // eb = 2 sqrt(5) = 4.47 > t2 = 4, DeltaS = 0.118 > 0
    const layer = layerOf(10, 10, [[0, 0, 6, 6, 1], [6, 6, 4, 4, 1]], [[0, 6, 0], [0, 7, 0], [1, 8, 0], [2, 9, 0]]);
    const p = 4 / 56;
    const { mask, decision } = ramanujanPreservingPrune(layer, p, combined, metrics);
    assert.equal(decision.outcome, 'pruned');
    assert.equal(decision.removed, 4);
    assert.equal(decision.fraction, p);
    assert.equal(decision.attempts.length, 1);
    const a = decision.attempts[0];
    assert.equal(a.check, 'unweighted');
    assert.ok(Math.abs(a.deltaS! - (2 * Math.sqrt(5) - 4) / 4) < 1e-9, String(a.deltaS));
    assert.equal(a.scoreDeltaS, null); // not needed, not computed
    assert.equal(countRemaining(mask), 52);
    assert.equal(mask[6], 0);
  });

  test(`${label}: accepted on the score-weighted expansion property`, () => {
    // K66 (score 100) + K55 (score 0.01) after pruning 4 extra edges. Unweighted: singular values
    // 6, 5: eb = 4.47 < 5, db = 2 sqrt(61/11 - 1) = 4.26 < 5: fails. Score-weighted: t1 = 600,
    // t2 = 0.05: passes.
    const layer = layerOf(11, 12, [[0, 0, 6, 6, 100], [6, 6, 5, 5, 0.01]], [[0, 11, 0], [1, 11, 0], [2, 11, 0], [3, 11, 0]]);
    const { decision } = ramanujanPreservingPrune(layer, 4 / 65, combined, metrics);
    assert.equal(decision.outcome, 'pruned');
    assert.equal(decision.attempts.length, 1);
    const a = decision.attempts[0];
    assert.equal(a.check, 'score-weighted');
    assert.ok(a.deltaS! < 0 && a.deltaR! < 0);
    assert.ok(Math.abs(a.scoreT1! - 600) < 1e-9);
    assert.ok(Math.abs(a.scoreDeltaS! - (2 * Math.sqrt(599) - 0.05) / 0.05) < 1e-6);
  });

  test(`${label}: a failed attempt halves the fraction, the next one is accepted`, () => {
    // K66 + K44, rows 0 and 1 of the big block scored lowest. Removing 12 (two rows) leaves K46 +
    // K44: sqrt(24) = 4.90 and 4: eb = 3.95 < 4 and db = 2 + sqrt(3) < 4: fails (the scores are 1
    // there, so the score-weighted graph fails too). Removing 6 (one row) leaves K56 + K44:
    // eb = 2 sqrt(sqrt(30) - 1) = 4.23 > 4: accepted.
    const layer = layerOf(10, 10, [[0, 0, 6, 6, 1], [6, 6, 4, 4, 1]]);
    for (let j = 0; j < 6; j++) { layer.score[j] = 0.1; layer.score[10 + j] = 0.2; }
    const p = 12 / 52;
    const { mask, decision } = ramanujanPreservingPrune(layer, p, combined, metrics);
    assert.equal(decision.outcome, 'pruned');
    assert.deepEqual(decision.attempts.map((a) => [a.fraction, a.removed, a.check]), [
      [p, 12, 'failed'],
      [p / 2, 6, 'unweighted'],
    ]);
    assert.ok(decision.attempts[0].scoreDeltaS! < 0);
    assert.equal(decision.fraction, p / 2);
    assert.equal(decision.removed, 6);
    for (let j = 0; j < 6; j++) { assert.equal(mask[j], 0); assert.equal(mask[10 + j], 1); }
  });

  test(`${label}: the collapse guard keeps the layer as it was`, () => {
    // a 4x4 cycle (two edges per vertex); removing the four lowest leaves a perfect matching,
    // dL = dR = 1 < 2
    const layer = layerOf(4, 4, []);
    for (let i = 0; i < 4; i++) {
      layer.mask[i * 4 + i] = 1; layer.score[i * 4 + i] = 1;
      layer.mask[i * 4 + ((i + 1) % 4)] = 1; layer.score[i * 4 + ((i + 1) % 4)] = 0;
    }
    const { mask, decision } = ramanujanPreservingPrune(layer, 0.5, combined, metrics);
    assert.equal(decision.outcome, 'guarded');
    assert.equal(decision.attempts.length, 1);
    assert.equal(decision.attempts[0].check, 'collapse-guard');
    assert.equal(decision.attempts[0].dL, 1);
    assert.equal(decision.removed, 0);
    assert.deepEqual([...mask], [...layer.mask]);
    assert.notEqual(mask, layer.mask);
  });

  test(`${label}: no attempt passes: the layer is held after K tries`, () => {
    // K66 + K55 fails whatever few edges of row 0 are removed: counts 6, 3, 2 (round(1.5))
    const layer = layerOf(11, 11, [[0, 0, 6, 6, 1], [6, 6, 5, 5, 1]]);
    for (let j = 0; j < 6; j++) layer.score[j] = 0.5;
    const p = 6 / 61;
    const { mask, decision } = ramanujanPreservingPrune(layer, p, combined, metrics);
    assert.equal(decision.outcome, 'held');
    assert.deepEqual(decision.attempts.map((a) => [a.removed, a.check]), [[6, 'failed'], [3, 'failed'], [2, 'failed']]);
    assert.deepEqual(decision.attempts.map((a) => a.fraction), [p, p / 2, p / 4]);
    assert.deepEqual([...mask], [...layer.mask]);
  });

  test(`${label}: the pseudocode schedule starts at p/2; single criteria`, () => {
    const layer = layerOf(11, 11, [[0, 0, 6, 6, 1], [6, 6, 5, 5, 1]]);
    const pseudo = ramanujanPreservingPrune(layer, 0.4, { ...combined, schedule: 'pseudocode' }, metrics);
    assert.deepEqual(pseudo.decision.attempts.map((a) => a.fraction), [0.2, 0.1, 0.05]);
    // UE alone never looks at the score-weighted graph
    const ue = ramanujanPreservingPrune(layer, 6 / 61, { ...combined, criterion: 'UE' }, metrics);
    assert.ok(ue.decision.attempts.every((a) => a.scoreDeltaS === null && a.check === 'failed'));
    // 'unweighted' neither: where the combined rule accepts on the score-weighted graph, it holds
    // (K66 at score 100, row 0 scored lowest, + K55 at 0.01: removing row 0 leaves K56 + K55, which
    // fails unweighted (t2 = 5 > eb = 4.23) and passes score-weighted (t1 = 548, t2 = 0.05))
    const strongScores = layerOf(11, 11, [[0, 0, 6, 6, 100], [6, 6, 5, 5, 0.01]]);
    for (let j = 0; j < 6; j++) strongScores.score[j] = 0.001;
    const viaScore = ramanujanPreservingPrune(strongScores, 6 / 61, combined, metrics);
    assert.equal(viaScore.decision.attempts.at(-1)!.check, 'score-weighted');
    const unweightedOnly = ramanujanPreservingPrune(strongScores, 6 / 61, { ...combined, criterion: 'unweighted' }, metrics);
    assert.equal(unweightedOnly.decision.outcome, 'held');
    assert.ok(unweightedOnly.decision.attempts.every((a) => a.scoreDeltaS === null && a.check === 'failed'));
    // WE alone accepts K66(100) + K55(0.01) on the score-weighted graph at once
    const strong = layerOf(11, 11, [[0, 0, 6, 6, 100], [6, 6, 5, 5, 0.01]]);
    const we = ramanujanPreservingPrune(strong, 0.1, { ...combined, criterion: 'WE' }, metrics);
    assert.equal(we.decision.attempts[0].check, 'score-weighted');
    assert.equal(we.decision.outcome, 'pruned');
  });

  test(`${label}: a fraction too small to remove a weight ends the tries`, () => {
    const layer = layerOf(4, 4, [[0, 0, 4, 4, 1]]);
    const { decision } = ramanujanPreservingPrune(layer, 0.01, combined, metrics);
    assert.equal(decision.outcome, 'held');
    assert.equal(decision.attempts.length, 0);
  });
}

test('attemptFraction follows the two schedules', () => {
  assert.deepEqual([1, 2, 3].map((k) => attemptFraction(0.2, k, 'text')), [0.2, 0.1, 0.05]);
  assert.deepEqual([1, 2, 3].map((k) => attemptFraction(0.2, k, 'pseudocode')), [0.1, 0.05, 0.025]);
});

test('WD alone: accepted when the score-weighted degree bound holds', () => {
  // K66 (score 100) + K55 (score 0.01): weighted degrees ~ (3600 + 0.25) / 11 per vertex, so
  // db_weighted ~ 2 sqrt(327) = 36 > t2 = 0.05
  const mask = new Float32Array(121);
  const score = new Float64Array(121);
  for (let i = 0; i < 11; i++) for (let j = 0; j < 11; j++) {
    if ((i < 6 && j < 6) || (i >= 6 && j >= 6)) { mask[i * 11 + j] = 1; score[i * 11 + j] = i < 6 ? 100 : 0.01; }
  }
  for (const [label, metrics] of metricsFns) {
    const wd = ramanujanPreservingPrune({ name: 'w', rows: 11, cols: 11, mask, score }, 0.05, { ...combined, criterion: 'WD' }, metrics);
    assert.equal(wd.decision.outcome, 'pruned', label);
    assert.equal(wd.decision.attempts[0].check, 'score-weighted', label);
  }
});

/** Records every call of a metrics function: the weighting and the metrics it returned. */
function recording(metrics: GraphMetricsFn): { fn: GraphMetricsFn; calls: Array<{ weighting: string; m: GraphMetrics; values: Float32Array | Float64Array | null }> } {
  const calls: Array<{ weighting: string; m: GraphMetrics; values: Float32Array | Float64Array | null }> = [];
  return {
    calls,
    fn: (rows, cols, mask, values, weighting) => {
      const m = metrics(rows, cols, mask, values, weighting);
      calls.push({ weighting, m, values });
      return m;
    },
  };
}

for (const [label, metrics] of metricsFns) {
  test(`${label}: scoreScale mean1 with constant scores gives the unweighted graph`, () => {
    // K66 + K44 at a constant score 3.7; WE looks only at the score-weighted graph
    const layer = layerOf(10, 10, [[0, 0, 6, 6, 3.7], [6, 6, 4, 4, 3.7]]);
    const rec = recording(metrics);
    ramanujanPreservingPrune(layer, 0.05, { ...combined, criterion: 'WE', scoreScale: 'mean1' }, rec.fn);
    const unweighted = rec.calls.find((c) => c.weighting === 'unweighted')!.m;
    const scored = rec.calls.find((c) => c.weighting === 'score')!;
    assert.ok(Math.abs(scored.m.t1 - unweighted.t1) < 1e-9, `${scored.m.t1} vs ${unweighted.t1}`);
    assert.ok(Math.abs(scored.m.t2 - unweighted.t2) < 1e-9, `${scored.m.t2} vs ${unweighted.t2}`);
    // raw, the same graph is 3.7 times larger
    const raw = recording(metrics);
    ramanujanPreservingPrune(layer, 0.05, { ...combined, criterion: 'WE', scoreScale: 'none' }, raw.fn);
    assert.ok(Math.abs(raw.calls.find((c) => c.weighting === 'score')!.m.t1 - 3.7 * unweighted.t1) < 1e-9);
  });

  test(`${label}: scoreScale changes line 17's verdict when the scores are large`, () => {
    // K66 + K44 at score 1000 plus 4 edges at score 0 (pruned first). The candidate K66 + K44 has
    // singular values 6, 4 on the unit scale: eb = 2 sqrt(5) = 4.47 > t2 = 4 (passes); raw x1000:
    // t1 = 6000, t2 = 4000, eb = 2 sqrt(5999) = 155 < 4000 (fails).
    const layer = layerOf(10, 10, [[0, 0, 6, 6, 1000], [6, 6, 4, 4, 1000]], [[0, 6, 0], [0, 7, 0], [1, 8, 0], [2, 9, 0]]);
    const p = 4 / 56;
    const mean1 = ramanujanPreservingPrune(layer, p, { ...combined, criterion: 'WE', scoreScale: 'mean1' }, metrics);
    assert.equal(mean1.decision.outcome, 'pruned');
    assert.equal(mean1.decision.attempts[0].check, 'score-weighted');
    assert.ok(Math.abs(mean1.decision.attempts[0].scoreT1! - 6) < 1e-9);
    const none = ramanujanPreservingPrune(layer, p, { ...combined, criterion: 'WE', scoreScale: 'none' }, metrics);
    assert.equal(none.decision.attempts[0].check, 'failed');
    assert.ok(Math.abs(none.decision.attempts[0].scoreT1! - 6000) < 1e-6);
    assert.equal(none.decision.outcome, 'held');
  });
}

test('scaleToMeanOne: the scores under the mask sum to |E|, zero elsewhere', () => {
  const mask = Float32Array.from([1, 0, 1, 1]);
  const score = Float64Array.from([2, 50, 4, 6]);
  assert.deepEqual([...scaleToMeanOne(mask, score)], [0.5, 0, 1, 1.5]);
  assert.deepEqual([...scaleToMeanOne(mask, new Float64Array(4))], [0, 0, 0, 0], 'all zero: left as it is');
});

test('a density floor caps every candidate and leaves a layer at its floor as it is', () => {
  // a stand-in that accepts every candidate on the unweighted check
  const accept: GraphMetricsFn = () => ({ dL: 10, dR: 10, deltaS: 1, deltaR: 1, t1: 10, t2: 1 }) as unknown as GraphMetrics;
  const layer = layerOf(10, 10, [[0, 0, 10, 10, 1]]);
  for (let i = 0; i < 100; i++) layer.score[i] = i;
  // p = 0.2 would remove 20 of 100; the floor 90 allows 10 (the lowest scores, 0..9)
  const capped = ramanujanPreservingPrune({ ...layer, floor: 90 }, 0.2, combined, accept);
  assert.equal(capped.decision.outcome, 'pruned');
  assert.equal(capped.decision.removed, 10);
  assert.equal(countRemaining(capped.mask), 90);
  for (let i = 0; i < 10; i++) assert.equal(capped.mask[i], 0);
  // every attempt of a rejected layer stays at or above the floor
  const reject: GraphMetricsFn = () => ({ dL: 10, dR: 10, deltaS: -1, deltaR: -1, t1: 10, t2: 20 }) as unknown as GraphMetrics;
  const held = ramanujanPreservingPrune({ ...layer, floor: 95 }, 0.4, { ...combined, criterion: 'UE' }, reject);
  assert.ok(held.decision.attempts.length > 0);
  for (const a of held.decision.attempts) assert.ok(a.removed <= 5, String(a.removed));
  // at its floor: no attempt, layer unchanged
  const atFloor = ramanujanPreservingPrune({ ...layer, mask: capped.mask, floor: 90 }, 0.2, combined, accept);
  assert.equal(atFloor.decision.outcome, 'held');
  assert.equal(atFloor.decision.attempts.length, 0);
  assert.deepEqual([...atFloor.mask], [...capped.mask]);
  // without a floor the same call removes 20% of the 90
  assert.equal(ramanujanPreservingPrune({ ...layer, mask: capped.mask }, 0.2, combined, accept).decision.removed, 18);
});
