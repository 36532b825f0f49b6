/**
 * Result types of the Ramanujan analysis of one layer (see ../shared/paper/NOTES.md sections 1-5).
 * These are the shapes that the pruning records, the store, the reports and `ramanujan analyze
 * --json` all carry, so they are fixed here.
 *
 * Numbers: +Infinity where t2 = 0 makes a Delta infinite; null where a quantity is undefined
 * (eb for t1 < 1, db for a degree below 1, anything of a collapsed layer).
 */

/**
 * Edge weights in CSR edge order of a bipartite structure (bipartite.ts) (the same precision as `values`: |x| of a float32 is exact in
 * float32, and keeping it there halves the memory traffic of the products; all arithmetic on them
 * is in Float64): |values| at the edges (the weighted and score-weighted graphs), or null for the
 * unweighted graph (every edge weighs 1).
 */
export type EdgeWeights = Float32Array | Float64Array;

/** Which edge weights a bipartite graph carries. */
export type Weighting = 'unweighted' | 'weighted' | 'score';

// The criteria are config values too, so they are defined below every layer, in src/config/types.ts.
export type { Criterion, CriterionSet } from '../config/types.js';

/** Spectral and degree metrics of one bipartite graph B (rows L = outputs, cols R = inputs). */
export interface GraphMetrics {
  weighting: Weighting;
  /** number of edges (mask entries equal to 1) */
  edges: number;
  /** t1 = sigma_1(B) */
  t1: number;
  /** t2 per Definition 3: largest singular value strictly below t1 (0 if none) */
  t2: number;
  /** raw second singular value sigma_2(B) (equals t1 when t1 is repeated) */
  sigma2: number;
  /** multiplicity of sigma_1 */
  t1Multiplicity: number;
  /** average degree over non-isolated L (row) vertices; for weighted graphs the unweighted count */
  dL: number | null;
  /** average degree over non-isolated R (column) vertices */
  dR: number | null;
  /** average weighted degree (sum of edge weights) over non-isolated L / R vertices */
  weightedDL: number | null;
  weightedDR: number | null;
  /** eb = 2 sqrt(t1 - 1), null for t1 < 1 */
  eb: number | null;
  /** db = sqrt(dL - 1) + sqrt(dR - 1) (unweighted degrees), null when undefined */
  db: number | null;
  /** db computed from the weighted degrees (the WD criterion), null when undefined */
  dbWeighted: number | null;
  /** (eb - t2) / t2 */
  deltaS: number | null;
  /** (db - t2) / t2 */
  deltaR: number | null;
  /** (dbWeighted - t2) / t2 */
  deltaRWeighted: number | null;
  /** isolated vertices (no edge left) on each side */
  isolatedL: number;
  isolatedR: number;
  /** connected components among non-isolated vertices, and the largest one's size per side */
  components: number;
  largestComponentL: number;
  largestComponentR: number;
  /**
   * The layer collapsed: its average degree is below 2 on a side (or it has no edge left, when the
   * metrics above are 0 / null). Algorithm 1's layer-collapse guard, `isCollapsed` in bounds.ts;
   * the degrees are the unweighted counts, so all weightings of a layer agree. The metrics above
   * are still those of the graph, but such a layer gets no Ramanujan verdict (NOTES section 5).
   */
  collapsed: boolean;
}

/** Verdicts of one layer. */
export interface LayerVerdicts {
  UE: boolean;
  UD: boolean;
  WE: boolean;
  WD: boolean;
  /** Algorithm 1: max(DeltaS, DeltaR) > 0 on the unweighted graph, or the weighted expansion
   *  property (DeltaS >= 0 and t1 >= 1) on the score-weighted graph */
  combined: boolean;
}

/**
 * The network's regime over its analysed layers that did not collapse (Section 5.1); 'collapsed'
 * when every analysed layer collapsed (no layer has a verdict). See networkRegime in bounds.ts.
 */
export type Regime = 'fully' | 'partially' | 'non' | 'collapsed';

/** The full analysis of one prunable layer. */
export interface LayerAnalysis {
  /** PyTorch parameter name of the weight, e.g. `fc1.weight`, `features.0.weight` */
  name: string;
  kind: 'linear' | 'conv';
  /** the weight tensor's shape ([out, in] or [c_out, c_in, kh, kw]) */
  shape: number[];
  /** bi-adjacency size: rows (L, outputs) x cols (R, inputs) */
  rows: number;
  cols: number;
  edges: number;
  density: number;
  unweighted: GraphMetrics;
  weighted: GraphMetrics;
  /** present when a score tensor was given */
  score?: GraphMetrics;
  /** average degree below 2 on a side (the unweighted graph's `collapsed`): no verdict */
  collapsed: boolean;
  /** null for a collapsed layer: it is neither Ramanujan nor not */
  verdicts: LayerVerdicts | null;
}
