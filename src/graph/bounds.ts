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
 * Fully Ramanujan when every analysed layer keeps the property, partially when some do, non when
 * none do (Section 5.1). An empty set of layers is 'non' (nothing keeps the property).
 */
export function networkRegime(verdicts: LayerVerdicts[], criterion: CriterionSet): Regime {
  let keep = 0;
  for (const v of verdicts) if (keepsProperty(v, criterion)) keep++;
  if (keep === 0) return 'non';
  return keep === verdicts.length ? 'fully' : 'partially';
}
