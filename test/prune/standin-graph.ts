/**
 * A small, independent stand-in for src/graph's graphMetrics, for Algorithm 1 tests on tiny
 * constructed layers: singular values from a cyclic Jacobi eigen-decomposition of BᵀB (dense,
 * float64), t2 per NOTES section 2, degrees over non-isolated vertices (section 3), bounds and
 * Deltas per section 4. Only the fields Algorithm 1 reads are meaningful.
 */
import type { GraphMetrics, Weighting } from '../../src/graph/types.js';

/** Eigenvalues of a symmetric n x n matrix (row-major, modified in place), descending. */
function symmetricEigenvalues(a: Float64Array, n: number): number[] {
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const ev: number[] = [];
  for (let i = 0; i < n; i++) ev.push(a[i * n + i]);
  return ev.sort((x, y) => y - x);
}

export function standinGraphMetrics(
  rows: number,
  cols: number,
  mask: Float32Array | Uint8Array | null,
  values: Float32Array | Float64Array | null,
  weighting: Weighting,
): GraphMetrics {
  const b = new Float64Array(rows * cols);
  let edges = 0;
  const degL = new Array<number>(rows).fill(0), degR = new Array<number>(cols).fill(0);
  const wL = new Array<number>(rows).fill(0), wR = new Array<number>(cols).fill(0);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const on = mask === null || mask[i * cols + j] !== 0;
      if (!on) continue;
      const v = weighting === 'unweighted' ? 1 : Math.abs(values![i * cols + j]);
      b[i * cols + j] = v;
      edges++;
      degL[i]++; degR[j]++; wL[i] += v; wR[j] += v;
    }
  }
  const btb = new Float64Array(cols * cols);
  for (let p = 0; p < cols; p++) for (let q = 0; q < cols; q++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += b[i * cols + p] * b[i * cols + q];
    btb[p * cols + q] = s;
  }
  const sigma = symmetricEigenvalues(btb, cols).map((e) => Math.sqrt(Math.max(e, 0)));
  const t1 = sigma[0] ?? 0;
  const tol = 1e-9 * t1;
  let t2 = 0;
  let mult = 0;
  for (const s of sigma) {
    if (s <= tol) break;
    if (t1 - s <= tol) mult++;
    else { t2 = s; break; }
  }
  const nzL = degL.filter((d) => d > 0).length, nzR = degR.filter((d) => d > 0).length;
  const dL = nzL > 0 ? edges / nzL : null, dR = nzR > 0 ? edges / nzR : null;
  const weightedDL = nzL > 0 ? wL.reduce((x, y) => x + y, 0) / nzL : null;
  const weightedDR = nzR > 0 ? wR.reduce((x, y) => x + y, 0) / nzR : null;
  const eb = t1 >= 1 ? 2 * Math.sqrt(t1 - 1) : null;
  const dbOf = (l: number | null, r: number | null) => (l !== null && r !== null && l >= 1 && r >= 1 ? Math.sqrt(l - 1) + Math.sqrt(r - 1) : null);
  const db = dbOf(dL, dR), dbWeighted = dbOf(weightedDL, weightedDR);
  const delta = (bound: number | null) => (bound === null ? null : t2 === 0 ? Infinity : (bound - t2) / t2);
  return {
    weighting, edges, t1, t2, sigma2: sigma[1] ?? 0, t1Multiplicity: mult,
    dL, dR, weightedDL, weightedDR, eb, db, dbWeighted,
    deltaS: delta(eb), deltaR: delta(db), deltaRWeighted: delta(dbWeighted),
    isolatedL: rows - nzL, isolatedR: cols - nzR, components: 0, largestComponentL: 0, largestComponentR: 0,
    collapsed: edges === 0,
  };
}

