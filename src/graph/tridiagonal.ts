/**
 * The small eigenproblems inside the Lanczos methods of spectrum.ts: a symmetric tridiagonal
 * matrix T (diagonal d[0..n-1], off-diagonal e[0..n-2]) of size n <= a few hundred.
 *
 * - Eigenvalues by bisection on Sturm counts: each one to full floating-point accuracy, in
 *   O(n) per step, with no iteration that can fail to converge. For the Golub-Kahan form
 *   (zero diagonal, eigenvalues +-sigma) bisection is also accurate for small sigma, which keeps
 *   "sigma < 1e-9 * t1 counts as 0" meaningful (a squared Gram matrix could not resolve it).
 * - Eigenvectors by inverse iteration with a pivoted tridiagonal LU, only to read the last
 *   component (the Lanczos residual bound) and to check the vector's own residual.
 */

/** Number of eigenvalues of T strictly less than x (Sturm count via the LDL^T pivots of T - xI). */
export function sturmCountBelow(d: Float64Array, e: Float64Array, n: number, x: number, tiny: number): number {
  let count = 0;
  let q = d[0] - x;
  if (q === 0) q = -tiny;
  if (q < 0) count++;
  for (let i = 1; i < n; i++) {
    q = d[i] - x - (e[i - 1] * e[i - 1]) / q;
    if (q === 0) q = -tiny;
    if (q < 0) count++;
  }
  return count;
}

/** Gershgorin bounds [lo, hi] containing every eigenvalue of T. */
export function gershgorin(d: Float64Array, e: Float64Array, n: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = (i > 0 ? Math.abs(e[i - 1]) : 0) + (i < n - 1 ? Math.abs(e[i]) : 0);
    lo = Math.min(lo, d[i] - r);
    hi = Math.max(hi, d[i] + r);
  }
  return [lo, hi];
}

/**
 * The `count` largest eigenvalues of T, in descending order (repeated ones repeated), each by
 * bisection to an absolute accuracy of about 4 ulp of the spectrum's bound.
 */
export function largestEigenvalues(d: Float64Array, e: Float64Array, n: number, count: number): number[] {
  const [lo0, hi0] = gershgorin(d, e, n);
  const scale = Math.max(Math.abs(lo0), Math.abs(hi0), Number.MIN_VALUE);
  const tiny = Number.MIN_VALUE * 4 + scale * 1e-300;
  const out: number[] = [];
  const k = Math.min(count, n);
  for (let r = 1; r <= k; r++) {
    // The r-th largest eigenvalue is the smallest x with #(eigenvalues >= x) < r, approached from
    // below: keep #(< lo) <= n - r and #(< hi) > n - r.
    let lo = lo0 - scale * 1e-15 - tiny;
    let hi = hi0 + scale * 1e-15 + tiny;
    if (out.length > 0) hi = Math.min(hi, out[out.length - 1] + scale * 1e-15 + tiny);
    for (let it = 0; it < 200; it++) {
      const mid = 0.5 * (lo + hi);
      if (mid === lo || mid === hi) break;
      if (sturmCountBelow(d, e, n, mid, tiny) > n - r) hi = mid;
      else lo = mid;
      // Relative accuracy, down to an absolute floor far below anything reported as non-zero.
      if (hi - lo <= Math.max(2 * Number.EPSILON * Math.max(Math.abs(lo), Math.abs(hi)), scale * 1e-24)) break;
    }
    out.push(0.5 * (lo + hi));
  }
  return out;
}

/**
 * A unit eigenvector of T for the (accurate) eigenvalue `lambda`, by two steps of inverse
 * iteration, and the norm of its residual ||(T - lambda I) z||.
 */
export function tridiagonalEigenvector(
  d: Float64Array,
  e: Float64Array,
  n: number,
  lambda: number,
): { vector: Float64Array; residual: number } {
  const [lo, hi] = gershgorin(d, e, n);
  const norm = Math.max(Math.abs(lo), Math.abs(hi), Number.MIN_VALUE);
  const tiny = norm * Number.EPSILON;
  // Pivoted LU of T - lambda I (LAPACK dgttrf's scheme): dl below, dd on, du and du2 above.
  const dl = new Float64Array(Math.max(n - 1, 0));
  const dd = new Float64Array(n);
  const du = new Float64Array(Math.max(n - 1, 0));
  const du2 = new Float64Array(Math.max(n - 2, 0));
  const swapped = new Uint8Array(Math.max(n - 1, 0));
  for (let i = 0; i < n; i++) dd[i] = d[i] - lambda;
  for (let i = 0; i < n - 1; i++) {
    dl[i] = e[i];
    du[i] = e[i];
  }
  for (let i = 0; i < n - 1; i++) {
    if (Math.abs(dd[i]) >= Math.abs(dl[i])) {
      if (dd[i] === 0) dd[i] = tiny;
      const f = dl[i] / dd[i];
      dl[i] = f;
      dd[i + 1] -= f * du[i];
    } else {
      const f = dd[i] / dl[i];
      dd[i] = dl[i];
      dl[i] = f;
      const t = du[i];
      du[i] = dd[i + 1];
      dd[i + 1] = t - f * dd[i + 1];
      if (i < n - 2) {
        du2[i] = du[i + 1];
        du[i + 1] = -f * du[i + 1];
      }
      swapped[i] = 1;
    }
  }
  if (dd[n - 1] === 0) dd[n - 1] = tiny;
  const solve = (b: Float64Array) => {
    for (let i = 0; i < n - 1; i++) {
      if (!swapped[i]) b[i + 1] -= dl[i] * b[i];
      else {
        const t = b[i];
        b[i] = b[i + 1];
        b[i + 1] = t - dl[i] * b[i];
      }
    }
    b[n - 1] /= dd[n - 1];
    if (n > 1) b[n - 2] = (b[n - 2] - du[n - 2] * b[n - 1]) / dd[n - 2];
    for (let i = n - 3; i >= 0; i--) b[i] = (b[i] - du[i] * b[i + 1] - du2[i] * b[i + 2]) / dd[i];
  };
  const z = new Float64Array(n);
  // A start vector with no special structure (not orthogonal to any eigenvector in practice).
  for (let i = 0; i < n; i++) z[i] = 1 + 0.5 * Math.sin(1.7 * i + 0.3);
  for (let it = 0; it < 3; it++) {
    solve(z);
    let s = 0;
    for (let i = 0; i < n; i++) s += z[i] * z[i];
    s = Math.sqrt(s);
    if (!(s > 0) || !Number.isFinite(s)) {
      // Overflow cannot really happen after scaling, but keep the vector usable.
      z.fill(0);
      z[n - 1] = 1;
      break;
    }
    for (let i = 0; i < n; i++) z[i] /= s;
  }
  let res = 0;
  for (let i = 0; i < n; i++) {
    let t = (d[i] - lambda) * z[i];
    if (i > 0) t += e[i - 1] * z[i - 1];
    if (i < n - 1) t += e[i] * z[i + 1];
    res += t * t;
  }
  return { vector: z, residual: Math.sqrt(res) };
}
