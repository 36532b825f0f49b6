/**
 * A layer's weight as a bipartite graph (NOTES section 1).
 *
 * The bi-adjacency B is rows x cols, row-major like the weight it comes from:
 *   Linear [out, in]              -> rows = out (L, outputs),   cols = in (R, inputs)
 *   Conv [c_out, c_in, kh, kw]    -> rows = c_out (L),          cols = c_in*kh*kw (R)
 * Entry (i, j) is an edge when the mask is non-zero there (or, with no mask, when the value is
 * non-zero; with neither, every entry is an edge). Edge weights are magnitudes: |W| for the
 * weighted graph, |score| for the score-weighted one, 1 for the unweighted one (the paper uses
 * "only the magnitudes" of weights; Perron-Frobenius arguments in spectrum.ts rely on it).
 *
 * Storage is CSR (row pointers + column indices), and CSC on demand; degrees, isolated vertices
 * and connected components are computed from the edge set alone.
 */

import type { EdgeWeights } from './types.js';
import { wasmAbsF32, wasmEdgesOfF32 } from './wasm.js';

/** The edge set of a bi-adjacency in compressed sparse row form. */
export interface BipartiteStructure {
  rows: number;
  cols: number;
  /** rowPtr[i]..rowPtr[i+1] index colIdx for row i; length rows + 1 */
  rowPtr: Int32Array;
  /** column of each edge, ascending within a row; length = edges (edge e of row i sits at i*cols + colIdx[e] in the weight) */
  colIdx: Int32Array;
  edges: number;
  /** edges at each row (L) and column (R) vertex */
  degreeL: Int32Array;
  degreeR: Int32Array;
}

/** Compressed sparse column form of the same edge set. */
export interface CscStructure {
  /** colPtr[j]..colPtr[j+1] index rowIdx for column j */
  colPtr: Int32Array;
  rowIdx: Int32Array;
  /** position of each CSC entry in the CSR edge order (to carry values over) */
  edgeOf: Int32Array;
}

/**
 * The edge set of a rows x cols bi-adjacency. `mask` (0 = pruned) decides the edges; with no mask,
 * the non-zero entries of `values` do (how pruned PyTorch models are saved); with neither, the
 * graph is complete.
 */
export function bipartiteStructure(
  rows: number,
  cols: number,
  mask: ArrayLike<number> | null,
  values: ArrayLike<number> | null,
): BipartiteStructure {
  const size = rows * cols;
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw new RangeError(`bipartiteStructure: bad size ${rows} x ${cols}`);
  }
  if (mask && mask.length !== size) throw new RangeError(`bipartiteStructure: mask has ${mask.length} entries, expected ${rows} x ${cols}`);
  if (values && values.length !== size) throw new RangeError(`bipartiteStructure: values have ${values.length} entries, expected ${rows} x ${cols}`);
  const support = mask ?? values;
  if (support instanceof Float32Array && size > 0) {
    // the common case (float32 masks and weights): scanned in wasm when it is built (wasm.ts)
    const scanned = wasmEdgesOfF32(support, rows, cols);
    if (scanned !== null) {
      const degreeL = new Int32Array(rows);
      for (let i = 0; i < rows; i++) degreeL[i] = scanned.rowPtr[i + 1] - scanned.rowPtr[i];
      return { rows, cols, rowPtr: scanned.rowPtr, colIdx: scanned.colIdx, edges: scanned.colIdx.length, degreeL, degreeR: scanned.degreeR };
    }
  }
  // A float32 support is scanned through its bit patterns, four entries per test (x << 1 drops
  // the sign, so +0 and -0 both read as zero): masks at low density are mostly zero words.
  const bits = support instanceof Float32Array ? new Uint32Array(support.buffer, support.byteOffset, support.length) : null;
  // First pass counts edges so that the index arrays are allocated once, at their exact size.
  let edges = 0;
  if (support === null) edges = size;
  else if (bits !== null) {
    let k = 0;
    for (; k + 3 < size; k += 4) {
      if (((bits[k] | bits[k + 1] | bits[k + 2] | bits[k + 3]) << 1) === 0) continue;
      for (let t = k; t < k + 4; t++) if (bits[t] << 1) edges++;
    }
    for (; k < size; k++) if (bits[k] << 1) edges++;
  } else for (let k = 0; k < size; k++) if (support[k] !== 0) edges++;

  const rowPtr = new Int32Array(rows + 1);
  // One slack entry: the float32 scan below writes every column index and advances only past
  // edges (no branch to mispredict at random masks), so it may write one entry past the last edge.
  const colIdx = new Int32Array(edges + 1).subarray(0, edges);
  const slack = new Int32Array(colIdx.buffer, 0, edges + 1);
  const degreeL = new Int32Array(rows);
  const degreeR = new Int32Array(cols);
  let e = 0;
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    if (support === null) {
      for (let j = 0; j < cols; j++) colIdx[e++] = j;
    } else if (bits !== null) {
      let j = 0;
      for (; j + 3 < cols; j += 4) {
        const k = base + j;
        if (((bits[k] | bits[k + 1] | bits[k + 2] | bits[k + 3]) << 1) === 0) continue;
        for (let t = 0; t < 4; t++) {
          slack[e] = j + t;
          e += bits[k + t] << 1 ? 1 : 0;
        }
      }
      for (; j < cols; j++) if (bits[base + j] << 1) colIdx[e++] = j;
    } else {
      for (let j = 0; j < cols; j++) if (support[base + j] !== 0) colIdx[e++] = j;
    }
    rowPtr[i + 1] = e;
    degreeL[i] = e - rowPtr[i];
  }
  for (let q = 0; q < edges; q++) degreeR[colIdx[q]]++;
  return { rows, cols, rowPtr, colIdx, edges, degreeL, degreeR };
}

/** The CSC form of a structure (a counting sort of the edges by column). */
export function toCsc(g: BipartiteStructure): CscStructure {
  const colPtr = new Int32Array(g.cols + 1);
  for (let j = 0; j < g.cols; j++) colPtr[j + 1] = colPtr[j] + g.degreeR[j];
  const next = colPtr.slice(0, g.cols);
  const rowIdx = new Int32Array(g.edges);
  const edgeOf = new Int32Array(g.edges);
  for (let i = 0; i < g.rows; i++) {
    for (let p = g.rowPtr[i]; p < g.rowPtr[i + 1]; p++) {
      const q = next[g.colIdx[p]]++;
      rowIdx[q] = i;
      edgeOf[q] = p;
    }
  }
  return { colPtr, rowIdx, edgeOf };
}

// EdgeWeights is defined in types.ts (wasm.ts uses it too, and bipartite.ts imports wasm.ts).
export type { EdgeWeights } from './types.js';

export function edgeWeights(g: BipartiteStructure, values: Float32Array | Float64Array | null): EdgeWeights | null {
  if (values === null) return null;
  const w = values instanceof Float32Array ? new Float32Array(g.edges) : new Float64Array(g.edges);
  if (values instanceof Float32Array && g.edges === g.rows * g.cols) {
    // complete graph of float32 values: |x| by sign bits in wasm, with the finiteness test and
    // whether some weight is zero (remembered for hasZeroWeight)
    const flags = wasmAbsF32(values, w as Float32Array);
    if (flags !== null && !flags.nonFinite) {
      zeroWeightKnown.set(w, flags.zero);
      return w;
    }
    if (flags === null) for (let e = 0; e < g.edges; e++) w[e] = Math.abs(values[e]);
  } else if (g.edges === g.rows * g.cols) {
    // complete graph: edge order is the weight's own order
    for (let e = 0; e < g.edges; e++) w[e] = Math.abs(values[e]);
  } else {
    const { rowPtr, colIdx, cols } = g;
    for (let i = 0; i < g.rows; i++) {
      const base = i * cols;
      for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) w[e] = Math.abs(values[base + colIdx[e]]);
    }
  }
  // A NaN or infinite weight would make every spectral value NaN: refuse it here.
  for (let e = 0; e < w.length; e++) {
    if (!Number.isFinite(w[e])) throw new RangeError(`edgeWeights: edge ${e} has the non-finite weight ${w[e]}`);
  }
  return w;
}

/** Whether any edge weighs exactly 0 (such edges are in the graph but not in B's support). */
export function hasZeroWeight(w: EdgeWeights | null): boolean {
  if (w === null) return false;
  const known = zeroWeightKnown.get(w);
  if (known !== undefined) return known;
  let zero = false;
  for (let e = 0; e < w.length; e++) {
    if (w[e] === 0) {
      zero = true;
      break;
    }
  }
  zeroWeightKnown.set(w, zero);
  return zero;
}

/**
 * Whether an edge-weight array (as made by edgeWeights) holds a zero, once found: a layer's
 * analysis asks several times about the same large array. Callers must not change the array
 * afterwards (nothing in this library does).
 */
const zeroWeightKnown = new WeakMap<EdgeWeights, boolean>();

/** Degree statistics of one weighting of the graph (NOTES section 3). */
export interface DegreeStats {
  isolatedL: number;
  isolatedR: number;
  /** |E| / non-isolated L vertices; null with no edge */
  dL: number | null;
  dR: number | null;
  /** sum of edge weights / non-isolated L (R) vertices; equals dL (dR) when unweighted */
  weightedDL: number | null;
  weightedDR: number | null;
}

export function degreeStats(g: BipartiteStructure, weights: EdgeWeights | null): DegreeStats {
  let isolatedL = 0;
  let isolatedR = 0;
  for (let i = 0; i < g.rows; i++) if (g.degreeL[i] === 0) isolatedL++;
  for (let j = 0; j < g.cols; j++) if (g.degreeR[j] === 0) isolatedR++;
  if (g.edges === 0) return { isolatedL, isolatedR, dL: null, dR: null, weightedDL: null, weightedDR: null };
  const activeL = g.rows - isolatedL;
  const activeR = g.cols - isolatedR;
  let total = g.edges;
  if (weights !== null) {
    total = 0;
    for (let e = 0; e < g.edges; e++) total += weights[e];
  }
  return {
    isolatedL,
    isolatedR,
    dL: g.edges / activeL,
    dR: g.edges / activeR,
    weightedDL: total / activeL,
    weightedDR: total / activeR,
  };
}

/** Connected components among the non-isolated vertices. */
export interface Components {
  count: number;
  /** component id (0..count-1) of each row / column vertex; -1 for isolated vertices */
  labelL: Int32Array;
  labelR: Int32Array;
  /** rows and columns in each component */
  sizeL: Int32Array;
  sizeR: Int32Array;
  /** size (per side) of the largest component by number of vertices */
  largestL: number;
  largestR: number;
}

/**
 * Connected components of the graph restricted to edges of non-zero weight (all edges when
 * `keep` is null), by union-find (union by size, path halving) over the rows + cols vertices.
 * Vertices with no such edge are isolated and get label -1.
 */
export function connectedComponents(g: BipartiteStructure, keep: EdgeWeights | null = null): Components {
  const { rows, cols } = g;
  if (keep === null && rows > 0 && cols > 0 && g.edges === rows * cols) {
    // complete graph: one component holding every vertex
    return {
      count: 1,
      labelL: new Int32Array(rows),
      labelR: new Int32Array(cols),
      sizeL: Int32Array.of(rows),
      sizeR: Int32Array.of(cols),
      largestL: rows,
      largestR: cols,
    };
  }
  const touched = new Uint8Array(rows + cols);
  // parent[v] for v < rows is row v, parent[rows + j] is column j.
  const parent = new Int32Array(rows + cols);
  const size = new Int32Array(rows + cols).fill(1);
  for (let v = 0; v < parent.length; v++) parent[v] = v;
  const find = (v: number): number => {
    while (parent[v] !== v) {
      parent[v] = parent[parent[v]];
      v = parent[v];
    }
    return v;
  };
  for (let i = 0; i < rows; i++) {
    let root = -1;
    for (let p = g.rowPtr[i]; p < g.rowPtr[i + 1]; p++) {
      if (keep !== null && keep[p] === 0) continue;
      const c = rows + g.colIdx[p];
      touched[c] = 1;
      if (root < 0) {
        touched[i] = 1;
        root = find(i);
      }
      // Fast exit: in dense graphs most columns already hang directly under this root.
      if (parent[c] === root) continue;
      const rc = find(c);
      if (rc === root) continue;
      if (size[rc] > size[root]) {
        parent[root] = rc;
        size[rc] += size[root];
        root = rc;
      } else {
        parent[rc] = root;
        size[root] += size[rc];
      }
    }
  }
  const labelOfRoot = new Int32Array(rows + cols).fill(-1);
  const labelL = new Int32Array(rows).fill(-1);
  const labelR = new Int32Array(cols).fill(-1);
  let count = 0;
  for (let v = 0; v < rows + cols; v++) {
    if (!touched[v]) continue;
    const r = find(v);
    if (labelOfRoot[r] < 0) labelOfRoot[r] = count++;
    if (v < rows) labelL[v] = labelOfRoot[r];
    else labelR[v - rows] = labelOfRoot[r];
  }
  const sizeL = new Int32Array(count);
  const sizeR = new Int32Array(count);
  for (let i = 0; i < rows; i++) if (labelL[i] >= 0) sizeL[labelL[i]]++;
  for (let j = 0; j < cols; j++) if (labelR[j] >= 0) sizeR[labelR[j]]++;
  let best = -1;
  for (let c = 0; c < count; c++) if (best < 0 || sizeL[c] + sizeR[c] > sizeL[best] + sizeR[best]) best = c;
  return {
    count,
    labelL,
    labelR,
    sizeL,
    sizeR,
    largestL: best < 0 ? 0 : sizeL[best],
    largestR: best < 0 ? 0 : sizeR[best],
  };
}
