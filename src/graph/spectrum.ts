/**
 * t1, t2 (Definition 3), the raw sigma_2 and the multiplicity of t1 for a bipartite graph with
 * non-negative edge weights (NOTES section 2).
 *
 * Method
 * 1. Split by connected components (of the edges with non-zero weight). The singular values of
 *    B are the union of its components' singular values, and within one connected component with
 *    non-negative weights sigma_1 is simple (Perron-Frobenius: B_C B_C^T is irreducible). So the
 *    multiplicity of t1 is exactly the number of components whose sigma_1 equals t1 (within the
 *    relative tolerance), and t2 is the largest of the other values: each component's sigma_2 and
 *    the sigma_1 of components below t1. Only the top two singular values of each component are
 *    ever needed, and no Krylov method has to discover a repeated eigenvalue.
 * 2. Per component, the cheapest exact path:
 *    - one row or one column (a star): rank 1, sigma_1 = ||weights||, sigma_2 = 0;
 *    - unweighted and complete (K(a, b)): sigma_1 = sqrt(a b), sigma_2 = 0;
 *    - otherwise Lanczos with full reorthogonalisation, either
 *      a. Golub-Kahan-Lanczos bidiagonalisation on B itself (two sparse products per step), or
 *      b. symmetric Lanczos on the Gram matrix of the smaller side, either built densely (sum
 *         over the longer side of outer products of its sparse vectors; size bounded by
 *         GRAM_MAX_SIDE) or applied as two sparse products (at low density, where the
 *         reorthogonalisation against the longer side's vectors is what (a) would pay for),
 *      whichever a cost model in measured units (a dense multiply-add = 1, an indexed one = 3,
 *      a scattered update of the Gram matrix = 10) says is cheapest; in practice the implicit
 *      Gram path, except for dense blocks with a small side (explicit Gram by row dot products).
 *      The Gram path squares the spectrum, so it cannot resolve sigma_2 much below sigma_1:
 *      when it finds sigma_2 < 1e-2 sigma_1 the component is redone with (a), which works on
 *      sigma directly.
 * 3. Convergence is decided by residual bounds, not by an iteration count: for a Ritz value
 *    theta with residual norm r (|beta_k| times the last component of the small problem's
 *    eigenvector, plus that eigenvector's own residual), some singular value lies within
 *    min(r, r^2 / gap) of theta (Kato-Temple, gap estimated from the neighbouring Ritz
 *    values). The top two must be within REL_TOL of their value. A Lanczos breakdown (the
 *    Krylov space became invariant) makes the Ritz values exact. With a start vector that has no
 *    special structure, no singular direction is missed (the usual Lanczos assumption).
 * The small problems are solved by bisection (tridiagonal.ts), which keeps tiny singular values
 * accurate, so "below 1e-9 * t1 counts as 0" is decided on correct numbers.
 * The products with B and the reorthogonalisation run in WebAssembly SIMD when it is built
 * (wasm.ts); the TypeScript versions here are the fallback and the tests' reference for them.
 */
import { hasZeroWeight, type BipartiteStructure, type Components, type EdgeWeights } from './bipartite.js';
import { largestEigenvalues, tridiagonalEigenvector } from './tridiagonal.js';
import { releaseWasmMemory, reorthogonaliseTs, wasmBasis, wasmBlockProducts, wasmKernelsAvailable, type Basis, type BlockProducts, type ProductBlock } from './wasm.js';

/** Relative tolerance of Definition 3: sigma >= t1 (1 - TIE_TOL) counts as t1. */
export const TIE_TOL = 1e-9;
/** sigma < ZERO_TOL * t1 counts as 0. */
export const ZERO_TOL = 1e-9;
/** Target accuracy of each computed singular value (relative), far inside the 1e-6 promised. */
const REL_TOL = 1e-8;
/** A Lanczos coefficient below this times the norm estimate is a breakdown (invariant space). */
const BREAKDOWN_TOL = 1e-13;
/** Largest side for which a dense Gram matrix is built (2048^2 doubles = 32 MiB). */
const GRAM_MAX_SIDE = 2048;
/** Iterations assumed by the cost model that picks the path. */
const EXPECTED_STEPS = 50;
/** Cost of a sparse (indexed) multiply-add relative to an in-cache dense one, as measured in V8. */
const SPARSE_COST = 3;
/** Cost of one scattered update of a dense Gram matrix (read-modify-write at a random place). */
const SCATTER_COST = 10;
/**
 * The same costs of a dense and a sparse multiply-add in the wasm products (wasm.ts): f64x2 SIMD
 * for dense blocks, scalar gathers without bounds checks for sparse ones (measured on vgg19's
 * 512 x 4608 layers: about 0.4 and 0.9 ns, against 1.2 and 1.3 ns in TypeScript).
 */
const WASM_DENSE_COST = 0.4;
const WASM_SPARSE_COST = 1.5;

export interface Spectrum {
  t1: number;
  t2: number;
  sigma2: number;
  t1Multiplicity: number;
}

/**
 * A component (or the whole graph) as its own small CSR with non-negative edge weights; the same
 * shape the wasm products take (ProductBlock in wasm.ts).
 */
export type SparseBlock = ProductBlock;

/** Per-component result: the two largest singular values (0 where there are fewer). */
export interface TopPair {
  s1: number;
  s2: number;
  /** which path computed it (for the benchmark and tests) */
  method: 'star' | 'complete' | 'gkl' | 'gram' | 'gram-implicit';
  steps: number;
}

/** t1, t2, sigma_2 and the multiplicity of t1 from the components' top pairs. */
export function combineComponents(pairs: TopPair[]): Spectrum {
  let t1 = 0;
  for (const p of pairs) t1 = Math.max(t1, p.s1);
  if (!(t1 > 0)) return { t1: 0, t2: 0, sigma2: 0, t1Multiplicity: 0 };
  const zero = ZERO_TOL * t1;
  const tie = t1 * (1 - TIE_TOL);
  const values: number[] = [];
  for (const p of pairs) {
    values.push(p.s1 < zero ? 0 : p.s1, p.s2 < zero ? 0 : p.s2);
  }
  values.sort((a, b) => b - a);
  let t1Multiplicity = 0;
  let t2 = 0;
  for (const v of values) {
    if (v >= tie) t1Multiplicity++;
    else {
      t2 = v;
      break;
    }
  }
  return { t1, t2, sigma2: values.length > 1 ? values[1] : 0, t1Multiplicity };
}

/**
 * The spectrum of a graph: components from `comps` (computed on the edges with non-zero weight),
 * weights `w` in CSR edge order (null = unweighted).
 */
export function graphSpectrum(g: BipartiteStructure, w: EdgeWeights | null, comps: Components): { spectrum: Spectrum; pairs: TopPair[] } {
  if (comps.count === 0) return { spectrum: { t1: 0, t2: 0, sigma2: 0, t1Multiplicity: 0 }, pairs: [] };
  const blocks = comps.count === 1 ? [wholeBlock(g, w, comps)] : splitComponents(g, w, comps);
  const pairs = blocks.map((b) => topPair(b));
  return { spectrum: combineComponents(pairs), pairs };
}

/** The graph as one block (one component): isolated rows and columns removed. */
function wholeBlock(g: BipartiteStructure, w: EdgeWeights | null, comps: Components): SparseBlock {
  if (comps.sizeL[0] === g.rows && comps.sizeR[0] === g.cols && !hasZeroWeight(w)) {
    return { rows: g.rows, cols: g.cols, rowPtr: g.rowPtr, colIdx: g.colIdx, w, dense: g.edges === g.rows * g.cols };
  }
  return splitComponents(g, w, comps)[0];
}

/** One CSR block per component, with local row and column numbers (edges of weight 0 dropped). */
export function splitComponents(g: BipartiteStructure, w: EdgeWeights | null, comps: Components): SparseBlock[] {
  const count = comps.count;
  const localRow = new Int32Array(g.rows);
  const localCol = new Int32Array(g.cols);
  const nextRow = new Int32Array(count);
  const nextCol = new Int32Array(count);
  for (let i = 0; i < g.rows; i++) if (comps.labelL[i] >= 0) localRow[i] = nextRow[comps.labelL[i]]++;
  for (let j = 0; j < g.cols; j++) if (comps.labelR[j] >= 0) localCol[j] = nextCol[comps.labelR[j]]++;
  const nnz = new Int32Array(count);
  for (let i = 0; i < g.rows; i++) {
    const c = comps.labelL[i];
    if (c < 0) continue;
    for (let p = g.rowPtr[i]; p < g.rowPtr[i + 1]; p++) if (w === null || w[p] !== 0) nnz[c]++;
  }
  const blocks: SparseBlock[] = [];
  for (let c = 0; c < count; c++) {
    blocks.push({
      rows: nextRow[c],
      cols: nextCol[c],
      rowPtr: new Int32Array(nextRow[c] + 1),
      colIdx: new Int32Array(nnz[c]),
      w: w === null ? null : w instanceof Float32Array ? new Float32Array(nnz[c]) : new Float64Array(nnz[c]),
      dense: false,
    });
  }
  const fill = new Int32Array(count);
  for (let i = 0; i < g.rows; i++) {
    const c = comps.labelL[i];
    if (c < 0) continue;
    const b = blocks[c];
    for (let p = g.rowPtr[i]; p < g.rowPtr[i + 1]; p++) {
      if (w !== null && w[p] === 0) continue;
      const q = fill[c]++;
      b.colIdx[q] = localCol[g.colIdx[p]];
      if (b.w !== null) b.w[q] = w![p];
    }
    b.rowPtr[localRow[i] + 1] = fill[c];
  }
  for (const b of blocks) b.dense = b.colIdx.length === b.rows * b.cols;
  return blocks;
}

/** The two largest singular values of one connected block by the cheapest exact path. */
export function topPair(b: SparseBlock): TopPair {
  const nnz = b.colIdx.length;
  if (nnz === 0) return { s1: 0, s2: 0, method: 'star', steps: 0 };
  if (b.rows === 1 || b.cols === 1) {
    let s = 0;
    for (let p = 0; p < nnz; p++) s += b.w === null ? 1 : b.w[p] * b.w[p];
    return { s1: Math.sqrt(s), s2: 0, method: 'star', steps: 0 };
  }
  if (b.w === null && nnz === b.rows * b.cols) {
    return { s1: Math.sqrt(b.rows * b.cols), s2: 0, method: 'complete', steps: 0 };
  }
  const side = Math.min(b.rows, b.cols);
  const k = Math.min(EXPECTED_STEPS, side);
  // Estimated time of each path in units of one in-cache dense multiply-add; a sparse
  // (gathered or scattered) one costs about three.
  const wasm = wasmKernelsAvailable();
  const product = b.dense ? (wasm ? WASM_DENSE_COST : 1) : wasm ? WASM_SPARSE_COST : SPARSE_COST;
  const gklCost = k * (2 * nnz * product + 2 * k * (b.rows + b.cols));
  // Lanczos on the smaller side's Gram operator applied as two sparse products (no matrix built)
  const implicitCost = k * (2 * nnz * product + 2 * k * side);
  const explicitCost = side <= GRAM_MAX_SIDE ? gramBuildCost(b) + k * (side * side + 2 * k * side) : Infinity;
  if (Math.min(implicitCost, explicitCost) < gklCost) {
    const r = gramTopPair(b, explicitCost <= implicitCost);
    if (r.s2 >= 1e-2 * r.s1) return r;
  }
  return gklTopPair(b);
}

/** Cost of building the Gram matrix of the smaller side (same units as in topPair). */
function gramBuildCost(b: SparseBlock): number {
  const small = Math.min(b.rows, b.cols);
  const large = Math.max(b.rows, b.cols);
  // dense: row dot products over the upper triangle
  if (b.dense) return ((small * (small + 1)) / 2) * large;
  // sparse: sum over the longer side's vectors of nnz^2 / 2 scattered updates
  let cost = 0;
  if (b.rows <= b.cols) {
    const count = new Int32Array(b.cols);
    for (let p = 0; p < b.colIdx.length; p++) count[b.colIdx[p]]++;
    for (let j = 0; j < b.cols; j++) cost += (count[j] * (count[j] + 1)) / 2;
  } else {
    for (let i = 0; i < b.rows; i++) {
      const c = b.rowPtr[i + 1] - b.rowPtr[i];
      cost += (c * (c + 1)) / 2;
    }
  }
  return cost * SCATTER_COST;
}

/** A deterministic start vector with no special structure (so no singular direction is missed). */
function startVector(n: number): Float64Array {
  const v = new Float64Array(n);
  let s = 0x9e3779b9 | 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    // xorshift32: only to spread the entries, the values themselves do not matter.
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    v[i] = 0.5 + (s >>> 0) / 4294967296;
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < n; i++) v[i] /= norm;
  return v;
}


/** A basis of Lanczos vectors: in wasm memory when the module is built, else JS arrays. */
function lanczosBasis(n: number): Basis {
  const wasm = wasmBasis(n);
  if (wasm !== null) return wasm;
  const vectors: Float64Array[] = [];
  return {
    get count() {
      return vectors.length;
    },
    push: (v) => vectors.push(v.slice()),
    reorthogonalise: (x) => reorthogonaliseTs(x, vectors),
  };
}

function norm2(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/**
 * y = A x for a dense row-major A [rows, cols]: two rows at a time, so each x[j] is loaded once
 * for both (about 1.3x faster in V8 than one row at a time).
 */
function denseRowDots(a: EdgeWeights, rows: number, cols: number, x: Float64Array, y: Float64Array): void {
  let i = 0;
  for (; i + 1 < rows; i += 2) {
    const r0 = i * cols;
    const r1 = r0 + cols;
    let a0 = 0;
    let a1 = 0;
    let b0 = 0;
    let b1 = 0;
    let j = 0;
    for (; j + 1 < cols; j += 2) {
      const x0 = x[j];
      const x1 = x[j + 1];
      a0 += a[r0 + j] * x0;
      a1 += a[r0 + j + 1] * x1;
      b0 += a[r1 + j] * x0;
      b1 += a[r1 + j + 1] * x1;
    }
    if (j < cols) {
      a0 += a[r0 + j] * x[j];
      b0 += a[r1 + j] * x[j];
    }
    y[i] = a0 + a1;
    y[i + 1] = b0 + b1;
  }
  if (i < rows) {
    const r0 = i * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += a[r0 + j] * x[j];
    y[i] = s;
  }
}

/** Sum over p in [start, end) of w[p] * x[idx[p]] (w null = all 1), with four partial sums to
 *  break the dependency chain of the additions (about 20% faster in V8). */
function sparseDot(idx: Int32Array, w: EdgeWeights | null, start: number, end: number, x: Float64Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let p = start;
  if (w === null) {
    for (; p + 3 < end; p += 4) {
      s0 += x[idx[p]];
      s1 += x[idx[p + 1]];
      s2 += x[idx[p + 2]];
      s3 += x[idx[p + 3]];
    }
    for (; p < end; p++) s0 += x[idx[p]];
  } else {
    for (; p + 3 < end; p += 4) {
      s0 += w[p] * x[idx[p]];
      s1 += w[p + 1] * x[idx[p + 1]];
      s2 += w[p + 2] * x[idx[p + 2]];
      s3 += w[p + 3] * x[idx[p + 3]];
    }
    for (; p < end; p++) s0 += w[p] * x[idx[p]];
  }
  return s0 + s1 + s2 + s3;
}

/** y = B x  (B: rows x cols CSR; x: [cols]; y: [rows]) */
function multiply(b: SparseBlock, x: Float64Array, y: Float64Array): void {
  if (b.dense && b.w !== null) {
    denseRowDots(b.w, b.rows, b.cols, x, y);
    return;
  }
  const { rowPtr, colIdx, w } = b;
  for (let i = 0; i < b.rows; i++) y[i] = sparseDot(colIdx, w, rowPtr[i], rowPtr[i + 1], x);
}

/** The block's columns as compressed sparse columns, so that B^T y is gathered, not scattered. */
interface BlockCsc {
  colPtr: Int32Array;
  rowIdx: Int32Array;
  w: EdgeWeights | null;
}

function blockCsc(b: SparseBlock): BlockCsc {
  const nnz = b.colIdx.length;
  const colPtr = new Int32Array(b.cols + 1);
  for (let q = 0; q < nnz; q++) colPtr[b.colIdx[q] + 1]++;
  for (let j = 0; j < b.cols; j++) colPtr[j + 1] += colPtr[j];
  const next = colPtr.slice(0, b.cols);
  const rowIdx = new Int32Array(nnz);
  const w = b.w === null ? null : b.w instanceof Float32Array ? new Float32Array(nnz) : new Float64Array(nnz);
  for (let i = 0; i < b.rows; i++) {
    for (let q = b.rowPtr[i]; q < b.rowPtr[i + 1]; q++) {
      const t = next[b.colIdx[q]]++;
      rowIdx[t] = i;
      if (w !== null) w[t] = b.w![q];
    }
  }
  return { colPtr, rowIdx, w };
}

/**
 * z = B^T y  (y: [rows]; z: [cols]), by dot products over the dense transpose `wT` of a dense
 * block, or gathered through the CSC form of a sparse one.
 */
function multiplyTransposed(b: SparseBlock, y: Float64Array, z: Float64Array, wT: EdgeWeights | null, csc: BlockCsc | null): void {
  if (wT !== null) {
    denseRowDots(wT, b.cols, b.rows, y, z);
    return;
  }
  if (csc !== null) {
    for (let j = 0; j < b.cols; j++) z[j] = sparseDot(csc.rowIdx, csc.w, csc.colPtr[j], csc.colPtr[j + 1], y);
    return;
  }
  // no transposed form: scattered updates
  const { rowPtr, colIdx, w } = b;
  z.fill(0);
  for (let i = 0; i < b.rows; i++) {
    const yi = y[i];
    const end = rowPtr[i + 1];
    if (w === null) for (let p = rowPtr[i]; p < end; p++) z[colIdx[p]] += yi;
    else for (let p = rowPtr[i]; p < end; p++) z[colIdx[p]] += w[p] * yi;
  }
}

/** The dense transpose [cols, rows] of a dense weighted block, in the weights' precision. */
function denseTranspose(b: SparseBlock): EdgeWeights | null {
  if (!b.dense || b.w === null) return null;
  const { rows, cols, w } = b;
  const t = w instanceof Float32Array ? new Float32Array(rows * cols) : new Float64Array(rows * cols);
  // Blocked so that both the reads and the writes stay within cache lines.
  const B = 64;
  for (let i0 = 0; i0 < rows; i0 += B) {
    for (let j0 = 0; j0 < cols; j0 += B) {
      const i1 = Math.min(i0 + B, rows);
      const j1 = Math.min(j0 + B, cols);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) t[j * rows + i] = w[i * cols + j];
    }
  }
  return t;
}

/**
 * The products of a block: the wasm kernels (wasm.ts) when built, else the TypeScript ones above
 * (dense transposed copy or CSC gathers), which are also the wasm kernels' reference in the tests.
 */
export function blockProducts(b: SparseBlock): BlockProducts {
  const wasm = wasmBlockProducts(b);
  if (wasm !== null) return wasm;
  return typescriptBlockProducts(b);
}

/** The plain TypeScript products of a block. */
export function typescriptBlockProducts(b: SparseBlock): BlockProducts {
  const wT = denseTranspose(b);
  const csc = wT === null ? blockCsc(b) : null;
  const t = new Float64Array(b.rows <= b.cols ? b.cols : b.rows);
  return {
    multiply: (x, y) => multiply(b, x, y),
    multiplyTransposed: (y, z) => multiplyTransposed(b, y, z, wT, csc),
    gram(q, w) {
      if (b.rows <= b.cols) {
        multiplyTransposed(b, q, t, wT, csc);
        multiply(b, t, w);
      } else {
        multiply(b, q, t);
        multiplyTransposed(b, t, w, wT, csc);
      }
    },
  };
}

/**
 * Convergence check on a symmetric tridiagonal projection T (diag d, off-diag e, size n) whose
 * coupling to the rest of the space is `beta` times the eigenvector's component `lastIndex`.
 * Returns the top three Ritz values (eigenvalues of T) and error bounds for the top two.
 */
function ritzTopTwo(
  d: Float64Array,
  e: Float64Array,
  n: number,
  beta: number,
  lastIndex: number,
): { theta: number[]; err: number[] } {
  const theta = largestEigenvalues(d, e, n, 3);
  while (theta.length < 3) theta.push(0);
  const err: number[] = [];
  for (let i = 0; i < 2; i++) {
    if (i >= n) {
      err.push(0);
      continue;
    }
    const { vector, residual } = tridiagonalEigenvector(d, e, n, theta[i]);
    const r = Math.abs(beta) * Math.abs(vector[lastIndex]) + residual;
    const gap = i === 0 ? theta[0] - theta[1] : Math.min(theta[0] - theta[1], theta[1] - theta[2]);
    err.push(gap > r ? Math.min(r, (r * r) / (gap - r)) : r);
  }
  return { theta, err };
}

/**
 * Golub-Kahan-Lanczos bidiagonalisation with full reorthogonalisation:
 *   B V_k = U_k C_k,  B^T U_k = V_k C_k^T + beta_k v_{k+1} e_k^T,  C_k upper bidiagonal (alpha, beta).
 * The singular values of C_k are the eigenvalues of the 2k x 2k Golub-Kahan tridiagonal with zero
 * diagonal and off-diagonal (alpha_1, beta_1, alpha_2, ..., alpha_k).
 */
export function gklTopPair(b: SparseBlock): TopPair {
  const m = b.rows;
  const n = b.cols;
  const maxSteps = Math.min(m, n) + 1;
  let v = startVector(n);
  const alpha: number[] = [];
  const beta: number[] = [];
  const p = new Float64Array(m);
  const r = new Float64Array(n);
  const products = blockProducts(b);
  // the bases after the products (wasm memory: see wasm.ts)
  const U = lanczosBasis(m);
  const V = lanczosBasis(n);
  V.push(v);
  let normEst = 0;
  let s1 = 0;
  let s2 = 0;
  for (let k = 1; k <= maxSteps; k++) {
    // p = B v_k - beta_{k-1} u_{k-1}, orthogonalised against U
    products.multiply(v, p);
    U.reorthogonalise(p);
    let a = norm2(p);
    normEst = Math.max(normEst, a);
    const breakdownA = a <= BREAKDOWN_TOL * normEst;
    if (breakdownA) a = 0;
    alpha.push(a);
    let bk = 0;
    if (!breakdownA) {
      const u = new Float64Array(m);
      for (let i = 0; i < m; i++) u[i] = p[i] / a;
      U.push(u);
      // r = B^T u_k - alpha_k v_k, orthogonalised against V
      products.multiplyTransposed(u, r);
      V.reorthogonalise(r);
      bk = norm2(r);
      normEst = Math.max(normEst, bk);
      if (bk <= BREAKDOWN_TOL * normEst) bk = 0;
    }
    beta.push(bk);
    // Golub-Kahan tridiagonal of C_k: size 2k, off-diagonal alpha_1, beta_1, ..., alpha_k.
    const size = 2 * k;
    const d = new Float64Array(size);
    const e = new Float64Array(size - 1);
    for (let i = 0; i < k; i++) {
      e[2 * i] = alpha[i];
      if (i < k - 1) e[2 * i + 1] = beta[i];
    }
    const exhausted = a === 0 || bk === 0 || k === maxSteps;
    // With z = (q_1, p_1, ..., q_k, p_k) a unit eigenvector of that tridiagonal (q: right, p: left
    // singular vector of C_k), the lifted pair's residual is beta_k |z_{2k-1}| (B^T U_k p picks up
    // beta_k v_{k+1} p_k), plus z's own residual.
    const { theta, err } = ritzTopTwo(d, e, size, bk, size - 1);
    s1 = Math.max(theta[0], 0);
    s2 = Math.max(theta[1], 0);
    const converged = k >= 2 && err[0] <= REL_TOL * s1 && err[1] <= REL_TOL * s2 + 1e-14 * s1;
    if (exhausted || converged) return { s1, s2, method: 'gkl', steps: k };
    v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = r[i] / bk;
    V.push(v);
  }
  return { s1, s2, method: 'gkl', steps: maxSteps };
}

/** Dense Gram matrix of the smaller side: G = B B^T (rows <= cols) or B^T B, p x p row-major. */
export function gramMatrix(b: SparseBlock): { G: Float64Array; p: number } {
  const byCols = b.rows <= b.cols;
  const p = byCols ? b.rows : b.cols;
  const G = new Float64Array(p * p);
  const nnz = b.colIdx.length;
  if (b.dense && b.w !== null) {
    // Dense block: G[a][c] = dot of two rows (rows <= cols) or two columns (via the transpose).
    const w = byCols ? b.w : denseTranspose(b)!;
    const n = byCols ? b.cols : b.rows;
    for (let a = 0; a < p; a++) {
      const ra = a * n;
      for (let c = a; c < p; c++) {
        const rc = c * n;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let j = 0;
        for (; j + 3 < n; j += 4) {
          s0 += w[ra + j] * w[rc + j];
          s1 += w[ra + j + 1] * w[rc + j + 1];
          s2 += w[ra + j + 2] * w[rc + j + 2];
          s3 += w[ra + j + 3] * w[rc + j + 3];
        }
        for (; j < n; j++) s0 += w[ra + j] * w[rc + j];
        G[a * p + c] = s0 + s1 + s2 + s3;
        G[c * p + a] = G[a * p + c];
      }
    }
    return { G, p };
  }
  // The longer side's vectors: columns (via a CSC pass) when the rows are the smaller side.
  let ptr: Int32Array;
  let idx: Int32Array;
  let val: EdgeWeights | null;
  if (byCols) {
    ptr = new Int32Array(b.cols + 1);
    for (let q = 0; q < nnz; q++) ptr[b.colIdx[q] + 1]++;
    for (let j = 0; j < b.cols; j++) ptr[j + 1] += ptr[j];
    const next = ptr.slice(0, b.cols);
    idx = new Int32Array(nnz);
    val = b.w === null ? null : new Float64Array(nnz);
    for (let i = 0; i < b.rows; i++) {
      for (let q = b.rowPtr[i]; q < b.rowPtr[i + 1]; q++) {
        const t = next[b.colIdx[q]]++;
        idx[t] = i;
        if (val !== null) val[t] = b.w![q];
      }
    }
  } else {
    ptr = b.rowPtr;
    idx = b.colIdx;
    val = b.w;
  }
  const outer = byCols ? b.cols : b.rows;
  // Upper triangle: G[a][c] += v_a v_c for a <= c within each longer-side vector.
  for (let k = 0; k < outer; k++) {
    const start = ptr[k];
    const end = ptr[k + 1];
    for (let x = start; x < end; x++) {
      const a = idx[x];
      const row = a * p;
      if (val === null) {
        for (let y = x; y < end; y++) G[row + idx[y]] += 1;
      } else {
        const va = val[x];
        for (let y = x; y < end; y++) G[row + idx[y]] += va * val[y];
      }
    }
  }
  for (let a = 0; a < p; a++) for (let c = a + 1; c < p; c++) G[c * p + a] = G[a * p + c];
  return { G, p };
}

/** Symmetric Lanczos with full reorthogonalisation on the dense Gram matrix; sigma = sqrt(lambda). */
export function gramTopPair(b: SparseBlock, explicit = true): TopPair {
  // explicit: the dense p x p Gram matrix; otherwise G q = B (B^T q) (rows <= cols) or
  // B^T (B q), through a vector `t` of the longer side.
  const byCols = b.rows <= b.cols;
  const p = byCols ? b.rows : b.cols;
  const G = explicit ? gramMatrix(b).G : null;
  if (explicit) releaseWasmMemory();
  const products = explicit ? null : blockProducts(b);
  let q = startVector(p);
  const Q = lanczosBasis(p);
  Q.push(q);
  const alpha: number[] = [];
  const beta: number[] = [];
  const w = new Float64Array(p);
  let normEst = 0;
  let l1 = 0;
  let l2 = 0;
  for (let k = 1; k <= p; k++) {
    if (G === null) products!.gram(q, w);
    else for (let i = 0; i < p; i++) {
      const row = i * p;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j + 3 < p; j += 4) {
        s0 += G[row + j] * q[j];
        s1 += G[row + j + 1] * q[j + 1];
        s2 += G[row + j + 2] * q[j + 2];
        s3 += G[row + j + 3] * q[j + 3];
      }
      for (; j < p; j++) s0 += G[row + j] * q[j];
      w[i] = s0 + s1 + s2 + s3;
    }
    let a = 0;
    for (let i = 0; i < p; i++) a += q[i] * w[i];
    alpha.push(a);
    Q.reorthogonalise(w);
    let bk = norm2(w);
    normEst = Math.max(normEst, Math.abs(a), bk);
    if (bk <= BREAKDOWN_TOL * normEst) bk = 0;
    beta.push(bk);
    const d = Float64Array.from(alpha);
    const e = Float64Array.from(beta.slice(0, k - 1));
    const { theta, err } = ritzTopTwo(d, e, k, bk, k - 1);
    l1 = Math.max(theta[0], 0);
    l2 = Math.max(theta[1], 0);
    // sigma = sqrt(lambda): a relative error eps on lambda is eps / 2 on sigma.
    const converged = k >= 2 && err[0] <= 2 * REL_TOL * l1 && err[1] <= 2 * REL_TOL * l2 + 1e-14 * l1;
    if (bk === 0 || k === p || converged) return { s1: Math.sqrt(l1), s2: Math.sqrt(l2), method: explicit ? 'gram' : 'gram-implicit', steps: k };
    q = new Float64Array(p);
    for (let i = 0; i < p; i++) q[i] = w[i] / bk;
    Q.push(q);
  }
  return { s1: Math.sqrt(l1), s2: Math.sqrt(l2), method: explicit ? 'gram' : 'gram-implicit', steps: p };
}
