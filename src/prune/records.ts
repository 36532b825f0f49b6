/**
 * What one level of a lottery run yields. A level k trains the network under mask k (level 0 is
 * the dense network), evaluates it, analyses every prunable layer, then prunes to produce mask
 * k+1. These records feed the experiment store (src/experiment) and the reports (src/report), and
 * the `level` events of `ramanujan run --json`, so their field names are fixed.
 */
import { isCollapsed, regimeText } from '../graph/bounds.js';
import type { CriterionSet, GraphMetrics, LayerVerdicts, Regime } from '../graph/types.js';

/** One prunable layer at one level. */
export interface LayerLevelRecord {
  /** PyTorch parameter name of the weight, e.g. `fc1.weight` */
  name: string;
  kind: 'linear' | 'conv';
  shape: number[];
  /** weights in the layer and weights left under the mask */
  total: number;
  remaining: number;
  /** remaining / total */
  density: number;
  /** whether the layer takes part in the regime (see the run's excluded layers) */
  analysed: boolean;
  unweighted: GraphMetrics;
  weighted: GraphMetrics;
  /** graph weighted by the pruning score; null for a level that did not score (the last one) */
  score: GraphMetrics | null;
  /** average degree below 2 on a side (Algorithm 1's collapse test, `isCollapsed` in src/graph) */
  collapsed: boolean;
  /** null for a collapsed layer: no Ramanujan verdict (its metrics above are kept as they are) */
  verdicts: LayerVerdicts | null;
}

/** Which check decided one attempt of Algorithm 1 (NOTES section 6). */
export type Algorithm1Check =
  | 'collapse-guard' // min(dL, dR) < 2 after pruning: the layer is kept as it was
  | 'unweighted' // the unweighted graph keeps the property: accepted
  | 'score-weighted' // the score-weighted graph keeps the expansion property: accepted
  | 'failed'; // neither: the fraction is halved

export interface Algorithm1Attempt {
  /** fraction of the layer's remaining weights this attempt removed */
  fraction: number;
  /** weights the attempt removed */
  removed: number;
  check: Algorithm1Check;
  /** the values that decided it */
  dL: number | null;
  dR: number | null;
  deltaS: number | null;
  deltaR: number | null;
  scoreDeltaS: number | null;
  scoreT1: number | null;
}

export interface Algorithm1Decision {
  layer: string;
  attempts: Algorithm1Attempt[];
  /** pruned (an attempt was accepted), guarded (collapse guard), held (no attempt passed), skipped (excluded layer) */
  outcome: 'pruned' | 'guarded' | 'held' | 'skipped';
  /** fraction finally applied (0 unless pruned) */
  fraction: number;
  removed: number;
}

export interface PhaseTimings {
  trainMs: number;
  evalMs: number;
  analyzeMs: number;
  scoreMs: number;
  pruneMs: number;
}

export interface LevelRecord {
  /** 0 = dense */
  level: number;
  /** remaining fraction of all prunable weights */
  density: number;
  remaining: number;
  total: number;
  layers: LayerLevelRecord[];
  /** mean training loss over the last 100 iterations of this level (or fewer) */
  trainLoss: number;
  /** clean test accuracy and one per noise sigma, keyed by the sigma as written, e.g. "0.1" */
  accuracy: { clean: number; noisy: Record<string, number> };
  /** over the analysed layers that did not collapse; 'collapsed' when all of them did */
  regime: Regime;
  /** criterion the verdicts and the regime were computed with */
  criterion: CriterionSet;
  /** Algorithm 1 decisions made at the end of this level; null when the run does not use the bound */
  decisions: Algorithm1Decision[] | null;
  timings: PhaseTimings;
}

/**
 * A level's regime with its collapsed analysed layers counted beside it: "partially Ramanujan, 1
 * of 3 layers collapsed" (`short`: "partially, 1/3 collapsed"), for tables and progress lines.
 */
export function levelRegimeText(record: Pick<LevelRecord, 'regime' | 'layers'>, short = false): string {
  const analysed = record.layers.filter((l) => l.analysed);
  // records written before the flag existed (JSON files) lack it: the same degree test then
  const collapsed = analysed.filter((l) => l.collapsed ?? isCollapsed(l.unweighted)).length;
  return regimeText(record.regime, collapsed, analysed.length, short);
}
