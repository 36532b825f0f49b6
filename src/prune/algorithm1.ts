/**
 * Algorithm 1 of the paper (Ramanujan-preserving layer-wise pruning), for one layer at one level,
 * exactly as NOTES section 6 reads it:
 *
 *   for k = 1..K:
 *     candidate = the layer with round(f_k x remaining) lowest-scoring surviving weights removed
 *     if min(dL, dR) < 2 on the candidate's unweighted graph: keep the layer as it was; stop
 *                                                         (layer-collapse guard)
 *     if the unweighted graph keeps the property:          accept the candidate; stop
 *     elif the score-weighted graph keeps the expansion property: accept the candidate; stop
 *     else try the next fraction
 *   no attempt accepted: keep the layer as it was
 *
 * Fractions: 'text' schedule f_k = p / 2^(k-1) (p, p/2, p/4, ...); 'pseudocode' f_k = p / 2^k.
 * Each attempt starts from the layer's current mask (attempts are alternatives, not cumulative).
 * An attempt whose fraction would remove no weight ends the tries: neither it nor any smaller
 * fraction can change the layer (outcome 'held').
 *
 * The checks per criterion set (NOTES sections 4-5; Delta = null counts as not satisfied):
 * - combined: unweighted max(DeltaS, DeltaR) > 0 (line 12), else score-weighted DeltaS >= 0 and
 *   t1 >= 1 (line 17);
 * - unweighted: max(DeltaS, DeltaR) > 0 on the unweighted graph only (no score-weighted check);
 * - UE: unweighted DeltaS > 0;  UD: unweighted DeltaR > 0 (no score-weighted check);
 * - WE: score-weighted DeltaS >= 0 and t1 >= 1;  WD: score-weighted DeltaR from the weighted
 *   degrees > 0 (no unweighted check; the collapse guard still uses the unweighted degrees).
 *
 * Per-layer density floor (Table 2's protocol, NOTES section 6): with `layer.floor` set, a
 * candidate never keeps fewer than `floor` weights (its count is capped at remaining - floor), and
 * a layer already at its floor is left as it is (outcome 'held', no attempt).
 *
 * Line 17's score scale (`bound.scoreScale`): 'none' hands the raw scores to the score-weighted
 * test (the paper's rule); 'mean1' first divides them by their mean over the candidate's surviving
 * edges (sum = |E|), so constant scores give exactly the unweighted graph (see scaleToMeanOne).
 *
 * The graph metrics come in through `metrics` (the signature of graphMetrics in src/graph), so the
 * score-weighted spectrum is only computed when the unweighted check did not already decide.
 */
import type { BoundConfig } from './config.js';
import type { Algorithm1Attempt, Algorithm1Decision } from './records.js';
import { isCollapsed } from '../graph/bounds.js';
import type { CriterionSet, GraphMetrics, Weighting } from '../graph/types.js';
import { countRemaining, flooredPruneCount, pruneCount, pruneLowest, type ScoreArray } from './select.js';

/** The signature of graphMetrics (src/graph/index.ts). */
export type GraphMetricsFn = (
  rows: number,
  cols: number,
  mask: Float32Array | Uint8Array | null,
  values: Float32Array | Float64Array | null,
  weighting: Weighting,
) => GraphMetrics;

/** One layer as Algorithm 1 sees it: its bi-adjacency size, current mask and score. */
export interface Algorithm1Layer {
  /** PyTorch parameter name */
  name: string;
  /** bi-adjacency rows (outputs, L) and columns (inputs, R); rows x cols = mask.length */
  rows: number;
  cols: number;
  /** current 0/1 mask [rows * cols] */
  mask: Float32Array;
  /** pruning score [rows * cols] (only entries under the mask are read) */
  score: ScoreArray;
  /** weights the layer keeps at least (per-layer density floor); absent: no floor */
  floor?: number;
}

/**
 * The scores under `mask` divided by their mean over the mask's surviving edges, [rows * cols]
 * (zero off the mask), so they sum to |E|. Scores whose mean is not a positive finite number
 * (all zero) are returned unscaled: there is no scale to remove.
 */
export function scaleToMeanOne(mask: Float32Array, score: ScoreArray): Float64Array {
  let sum = 0;
  let edges = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 0) {
      sum += score[i];
      edges++;
    }
  }
  const mean = edges === 0 ? 0 : sum / edges;
  const factor = mean > 0 && Number.isFinite(mean) ? 1 / mean : 1;
  const out = new Float64Array(mask.length);
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) out[i] = score[i] * factor;
  return out;
}

export interface Algorithm1Result {
  /** the layer's mask for the next level (a fresh array, equal to the input unless pruned) */
  mask: Float32Array;
  decision: Algorithm1Decision;
}

/** The fraction tried at attempt k (1-based). */
export function attemptFraction(p: number, k: number, schedule: BoundConfig['schedule']): number {
  return schedule === 'text' ? p / 2 ** (k - 1) : p / 2 ** k;
}

function positive(x: number | null): boolean {
  return x !== null && x > 0;
}

/** Whether the unweighted graph decides acceptance under `criterion` (null: this criterion has no unweighted check). */
function unweightedPasses(m: GraphMetrics, criterion: CriterionSet): boolean | null {
  switch (criterion) {
    case 'combined':
    case 'unweighted':
      return positive(m.deltaS) || positive(m.deltaR);
    case 'UE':
      return positive(m.deltaS);
    case 'UD':
      return positive(m.deltaR);
    case 'WE':
    case 'WD':
      return null;
  }
}

function hasScoreCheck(criterion: CriterionSet): boolean {
  return criterion === 'combined' || criterion === 'WE' || criterion === 'WD';
}

/** Whether the score-weighted graph passes under `criterion` (one with a score-weighted check). */
function scorePasses(m: GraphMetrics, criterion: CriterionSet): boolean {
  if (criterion === 'WD') return positive(m.deltaRWeighted);
  return m.deltaS !== null && m.deltaS >= 0 && m.t1 >= 1;
}

/** Runs Algorithm 1 on one layer with base fraction `p`. */
export function ramanujanPreservingPrune(
  layer: Algorithm1Layer,
  p: number,
  bound: BoundConfig,
  metrics: GraphMetricsFn,
): Algorithm1Result {
  const { name, rows, cols, mask, score } = layer;
  if (rows * cols !== mask.length) throw new Error(`algorithm 1: ${name} is ${rows}x${cols} but its mask has ${mask.length} entries`);
  const remaining = countRemaining(mask);
  const attempts: Algorithm1Attempt[] = [];
  const keep = (outcome: 'guarded' | 'held'): Algorithm1Result => ({
    mask: Float32Array.from(mask),
    decision: { layer: name, attempts, outcome, fraction: 0, removed: 0 },
  });

  for (let k = 1; k <= bound.maxTries; k++) {
    const fraction = attemptFraction(p, k, bound.schedule);
    const count = layer.floor === undefined ? pruneCount(fraction, remaining) : flooredPruneCount(fraction, remaining, layer.floor);
    if (count === 0) break;
    const candidate = pruneLowest(mask, score, count, name);
    const unweighted = metrics(rows, cols, candidate, null, 'unweighted');
    const attempt: Algorithm1Attempt = {
      fraction,
      removed: count,
      check: 'failed',
      dL: unweighted.dL,
      dR: unweighted.dR,
      deltaS: unweighted.deltaS,
      deltaR: unweighted.deltaR,
      scoreDeltaS: null,
      scoreT1: null,
    };
    attempts.push(attempt);

    // layer-collapse guard: a side whose average degree (over vertices with an edge) is below 2
    if (isCollapsed(unweighted)) {
      attempt.check = 'collapse-guard';
      return keep('guarded');
    }
    const accept = (): Algorithm1Result => ({
      mask: candidate,
      decision: { layer: name, attempts, outcome: 'pruned', fraction, removed: count },
    });
    if (unweightedPasses(unweighted, bound.criterion) === true) {
      attempt.check = 'unweighted';
      return accept();
    }
    if (hasScoreCheck(bound.criterion)) {
      const lineScores = bound.scoreScale === 'mean1' ? scaleToMeanOne(candidate, score) : score;
      const weighted = metrics(rows, cols, candidate, lineScores, 'score');
      attempt.scoreDeltaS = weighted.deltaS;
      attempt.scoreT1 = weighted.t1;
      if (scorePasses(weighted, bound.criterion)) {
        attempt.check = 'score-weighted';
        return accept();
      }
    }
  }
  return keep('held');
}

/** The decision recorded for a layer that Algorithm 1 does not touch (excluded from pruning). */
export function skippedDecision(name: string): Algorithm1Decision {
  return { layer: name, attempts: [], outcome: 'skipped', fraction: 0, removed: 0 };
}
