/**
 * The Ramanujan analysis of a layer (the paper's sections 3-4, NOTES sections 1-5): its bipartite
 * graph, degrees, components, spectrum, the bounds of Table 1 and the verdicts.
 * Pure functions over typed arrays, computing in Float64; nothing here knows about training.
 * Many layers on worker threads: parallel.ts (not re-exported here: it imports this module).
 */
import {
  bipartiteStructure,
  connectedComponents,
  degreeStats,
  edgeWeights,
  hasZeroWeight,
  type BipartiteStructure,
  type Components,
  type EdgeWeights,
} from './bipartite.js';
import { boundDelta, degreeBound, eigenBound, isCollapsed, layerVerdicts } from './bounds.js';
import { graphSpectrum } from './spectrum.js';
import type { GraphMetrics, LayerAnalysis, Weighting } from './types.js';

export * from './types.js';
export { layerVerdicts, keepsProperty, networkRegime, regimeText, isCollapsed, COLLAPSE_DEGREE, eigenBound, degreeBound, boundDelta } from './bounds.js';
export { bipartiteStructure, toCsc, connectedComponents, degreeStats, edgeWeights } from './bipartite.js';
export type { BipartiteStructure, CscStructure, Components, DegreeStats, EdgeWeights } from './bipartite.js';
export { TIE_TOL, ZERO_TOL, combineComponents, type Spectrum } from './spectrum.js';

/**
 * The power of two that brings the largest edge weight into [1, 2), or 1 when it already lies
 * within [2^-100, 2^100]. The spectrum squares weights (Gram products, norms) and the weighted
 * degrees add them up: F64 weights near 1e308 would overflow to Infinity and ones near 1e-300
 * underflow to 0, giving t1 = 0. Scaling by a power of two is exact in floating point, so the
 * results, scaled back, are those of the exact computation; weights within the range are not
 * touched at all, so ordinary layers give bit-for-bit the same numbers as before.
 */
function weightScale(w: EdgeWeights | null): number {
  if (w === null) return 1;
  let max = 0;
  for (let e = 0; e < w.length; e++) if (w[e] > max) max = w[e];
  if (max === 0 || (max >= 2 ** -100 && max <= 2 ** 100)) return 1;
  return 2 ** -Math.floor(Math.log2(max));
}

/** Metrics of one weighting of an already built edge set (shared by the weightings of a layer). */
function metricsOf(g: BipartiteStructure, comps: Components, unscaledWeights: EdgeWeights | null, weighting: Weighting): GraphMetrics {
  const scale = weightScale(unscaledWeights);
  let weights = unscaledWeights;
  if (scale !== 1 && unscaledWeights !== null) {
    weights = unscaledWeights instanceof Float32Array ? new Float32Array(unscaledWeights.length) : new Float64Array(unscaledWeights.length);
    for (let e = 0; e < weights.length; e++) weights[e] = unscaledWeights[e] * scale;
  }
  const unscale = (x: number | null) => (x === null || scale === 1 ? x : x / scale);
  const scaledDeg = degreeStats(g, weights);
  const deg = { ...scaledDeg, weightedDL: unscale(scaledDeg.weightedDL), weightedDR: unscale(scaledDeg.weightedDR) };
  if (g.edges === 0) {
    return {
      weighting,
      edges: 0,
      t1: 0,
      t2: 0,
      sigma2: 0,
      t1Multiplicity: 0,
      dL: null,
      dR: null,
      weightedDL: null,
      weightedDR: null,
      eb: null,
      db: null,
      dbWeighted: null,
      deltaS: null,
      deltaR: null,
      deltaRWeighted: null,
      isolatedL: deg.isolatedL,
      isolatedR: deg.isolatedR,
      components: 0,
      largestComponentL: 0,
      largestComponentR: 0,
      collapsed: true,
    };
  }
  // Edges of weight exactly 0 belong to the graph (degrees, components) but not to B's support:
  // the spectrum's component split must use the support, or Perron-Frobenius would not apply.
  const spectralComps = hasZeroWeight(weights) ? connectedComponents(g, weights) : comps;
  const scaled = graphSpectrum(g, weights, spectralComps).spectrum;
  const spectrum = { ...scaled, t1: unscale(scaled.t1)!, t2: unscale(scaled.t2)!, sigma2: unscale(scaled.sigma2)! };
  const eb = eigenBound(spectrum.t1);
  const db = degreeBound(deg.dL, deg.dR);
  const dbWeighted = degreeBound(deg.weightedDL, deg.weightedDR);
  return {
    weighting,
    edges: g.edges,
    t1: spectrum.t1,
    t2: spectrum.t2,
    sigma2: spectrum.sigma2,
    t1Multiplicity: spectrum.t1Multiplicity,
    dL: deg.dL,
    dR: deg.dR,
    weightedDL: deg.weightedDL,
    weightedDR: deg.weightedDR,
    eb,
    db,
    dbWeighted,
    deltaS: boundDelta(eb, spectrum.t2),
    deltaR: boundDelta(db, spectrum.t2),
    deltaRWeighted: boundDelta(dbWeighted, spectrum.t2),
    isolatedL: deg.isolatedL,
    isolatedR: deg.isolatedR,
    components: comps.count,
    largestComponentL: comps.largestL,
    largestComponentR: comps.largestR,
    collapsed: isCollapsed(deg),
  };
}

/**
 * Metrics of one bipartite graph. B is rows x cols row-major (rows = outputs L, cols = inputs R).
 * Edges: mask entries != 0; with no mask, the non-zero entries of `values`; with neither, all.
 * Weighting 'unweighted' puts 1 on every edge; 'weighted' and 'score' put |values| (required).
 */
export function graphMetrics(
  rows: number,
  cols: number,
  mask: Float32Array | Float64Array | Uint8Array | null,
  values: Float32Array | Float64Array | null,
  weighting: Weighting,
): GraphMetrics {
  if (weighting !== 'unweighted' && values === null) {
    throw new RangeError(`graphMetrics: the ${weighting} graph needs edge values`);
  }
  const g = bipartiteStructure(rows, cols, mask, values);
  const comps = connectedComponents(g);
  return metricsOf(g, comps, weighting === 'unweighted' ? null : edgeWeights(g, values), weighting);
}

export interface LayerInput {
  /** PyTorch parameter name of the weight */
  name: string;
  kind: 'linear' | 'conv';
  /** [out, in] or [c_out, c_in, kh, kw] */
  shape: number[];
  weight: Float32Array | Float64Array;
  /** 0/1 mask of the weight's shape; null: the weight's exact zeros are the pruned entries */
  mask: Float32Array | Float64Array | Uint8Array | null;
  /** pruning score of the weight's shape, for the score-weighted graph */
  score?: Float32Array | Float64Array | null;
}

/** Bi-adjacency size of a weight: [out, in] -> out x in; [c_out, c_in, kh, kw] -> c_out x c_in*kh*kw. */
export function biadjacencySize(shape: number[]): { rows: number; cols: number } {
  if (shape.length < 2) throw new RangeError(`biadjacencySize: a weight needs at least 2 dimensions, got [${shape.join(', ')}]`);
  return { rows: shape[0], cols: shape.slice(1).reduce((a, b) => a * b, 1) };
}

/** The full analysis of one prunable layer: unweighted, weighted (|W|) and score-weighted graphs. */
export function analyzeLayer(input: LayerInput): LayerAnalysis {
  const { rows, cols } = biadjacencySize(input.shape);
  const size = rows * cols;
  if (input.weight.length !== size) {
    throw new RangeError(`analyzeLayer(${input.name}): weight has ${input.weight.length} values, shape [${input.shape.join(', ')}] needs ${size}`);
  }
  if (input.mask && input.mask.length !== size) {
    throw new RangeError(`analyzeLayer(${input.name}): mask has ${input.mask.length} values, expected ${size}`);
  }
  if (input.score && input.score.length !== size) {
    throw new RangeError(`analyzeLayer(${input.name}): score has ${input.score.length} values, expected ${size}`);
  }
  const g = bipartiteStructure(rows, cols, input.mask, input.mask ? null : input.weight);
  const comps = connectedComponents(g);
  const unweighted = metricsOf(g, comps, null, 'unweighted');
  const weighted = metricsOf(g, comps, edgeWeights(g, input.weight), 'weighted');
  const score = input.score ? metricsOf(g, comps, edgeWeights(g, input.score), 'score') : undefined;
  const result: LayerAnalysis = {
    name: input.name,
    kind: input.kind,
    shape: [...input.shape],
    rows,
    cols,
    edges: g.edges,
    density: size === 0 ? 0 : g.edges / size,
    unweighted,
    weighted,
    collapsed: unweighted.collapsed,
    verdicts: unweighted.collapsed ? null : layerVerdicts(unweighted, weighted, score ?? null),
  };
  if (score) result.score = score;
  return result;
}
