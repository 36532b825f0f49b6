/**
 * The bounds of Table 1, the Ramanujan verdicts and the network regime (NOTES sections 4-5).
 *
 *   eb = 2 sqrt(t1 - 1)                 null for t1 < 1
 *   db = sqrt(dL - 1) + sqrt(dR - 1)    null when a degree is below 1 (or there is no edge)
 *   Delta = (bound - t2) / t2           +Infinity for t2 = 0, null when the bound is null
 *
 * Verdicts (a null Delta never satisfies a criterion):
 *   UE: unweighted DeltaS > 0          UD: unweighted DeltaR > 0
 *   WE: DeltaS >= 0 and t1 >= 1 on the score-weighted graph (the weighted one when no score)
 *   WD: DeltaR from the weighted degrees > 0 on that same graph
 *   unweighted (Algorithm 1 line 12): UE or UD, i.e. max(DeltaS, DeltaR) > 0 unweighted.
 *   combined (Algorithm 1): unweighted, or WE.
 *
 * A collapsed layer (average degree below 2 on a side: Algorithm 1's layer-collapse guard) gets no
 * verdict: its few isolated edges make t2 = 0 and the Deltas +inf, which says nothing about
 * expansion. The regime is taken over the layers that did not collapse, and the collapsed ones are
 * counted beside it.
 */
import type { CriterionSet, GraphMetrics, LayerVerdicts, Regime } from './types.js';

export function eigenBound(t1: number): number | null {
  return t1 >= 1 ? 2 * Math.sqrt(t1 - 1) : null;
}

export function degreeBound(dL: number | null, dR: number | null): number | null {
  if (dL === null || dR === null || !(dL >= 1) || !(dR >= 1)) return null;
  return Math.sqrt(dL - 1) + Math.sqrt(dR - 1);
}

export function boundDelta(bound: number | null, t2: number): number | null {
  if (bound === null) return null;
  if (t2 === 0) return Infinity;
  return (bound - t2) / t2;
}

/** Algorithm 1's layer-collapse threshold on the average degrees dL, dR (NOTES section 6). */
export const COLLAPSE_DEGREE = 2;

/**
 * Whether a graph collapsed: its average degree over the vertices with an edge is below 2 on
 * either side, or undefined (no edge). The one test behind Algorithm 1's layer-collapse guard and
 * the "collapsed" layers of the analysis.
 */
export function isCollapsed(m: { dL: number | null; dR: number | null }): boolean {
  return m.dL === null || m.dR === null || !(Math.min(m.dL, m.dR) >= COLLAPSE_DEGREE);
}

function above(x: number | null): boolean {
  return x !== null && x > 0;
}

/** Verdicts of one layer from its unweighted, weighted and (optional) score-weighted metrics. */
export function layerVerdicts(unweighted: GraphMetrics, weighted: GraphMetrics, score?: GraphMetrics | null): LayerVerdicts {
  const w = score ?? weighted;
  const UE = above(unweighted.deltaS);
  const UD = above(unweighted.deltaR);
  const WE = w.deltaS !== null && w.deltaS >= 0 && w.t1 >= 1;
  const WD = above(w.deltaRWeighted);
  return { UE, UD, WE, WD, combined: UE || UD || WE };
}

export function keepsProperty(verdicts: LayerVerdicts, criterion: CriterionSet): boolean {
  if (criterion === 'combined') return verdicts.combined;
  if (criterion === 'unweighted') return verdicts.UE || verdicts.UD;
  return verdicts[criterion];
}

/**
 * Fully Ramanujan when every analysed layer that did not collapse keeps the property, partially
 * when some do, non when none do (Section 5.1). A collapsed layer (verdicts null) counts for
 * neither; when every analysed layer collapsed the regime is 'collapsed'. An empty set of layers
 * is 'non' (nothing keeps the property).
 */
export function networkRegime(verdicts: ReadonlyArray<LayerVerdicts | null>, criterion: CriterionSet): Regime {
  let keep = 0;
  let judged = 0;
  for (const v of verdicts) {
    if (v === null) continue;
    judged++;
    if (keepsProperty(v, criterion)) keep++;
  }
  if (judged === 0) return verdicts.length > 0 ? 'collapsed' : 'non';
  if (keep === 0) return 'non';
  return keep === judged ? 'fully' : 'partially';
}

const REGIME_NAMES: Record<Regime, string> = {
  fully: 'fully Ramanujan',
  partially: 'partially Ramanujan',
  non: 'non-Ramanujan',
  collapsed: 'collapsed',
};

/**
 * The regime in words with the collapsed layers counted beside it: "partially Ramanujan, 5 of 21
 * layers collapsed"; "collapsed (all 3 analysed layers)". `short` gives "partially, 5/21
 * collapsed" for tables.
 */
export function regimeText(regime: Regime, collapsed: number, analysed: number, short = false): string {
  if (regime === 'collapsed') return short ? `collapsed ${collapsed}/${analysed}` : `collapsed (all ${analysed} analysed layers; no verdict)`;
  const name = short ? regime : REGIME_NAMES[regime];
  if (collapsed === 0) return name;
  return short ? `${name}, ${collapsed}/${analysed} collapsed` : `${name}, ${collapsed} of ${analysed} layers collapsed`;
}
