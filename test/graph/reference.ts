/**
 * Test helpers: an independent dense SVD (one-sided Jacobi, Float64) and a counter-based hash
 * generator of masks and weights that scripts/scipy_spectra.py reproduces bit for bit.
 */

/**
 * All singular values of a dense rows x cols row-major matrix, descending, by one-sided (Hestenes)
 * Jacobi on the columns of the taller orientation. Independent of the library's Lanczos code.
 */
export function denseSingularValues(a: ArrayLike<number>, rows: number, cols: number): number[] {
  // Work on X (m x n, column-major columns) with n <= m: the columns are rotated until orthogonal.
  const transpose = cols > rows;
  const m = transpose ? cols : rows;
  const n = transpose ? rows : cols;
  const X: Float64Array[] = [];
  for (let c = 0; c < n; c++) {
    const col = new Float64Array(m);
    for (let r = 0; r < m; r++) col[r] = transpose ? a[c * cols + r] : a[r * cols + c];
    X.push(col);
  }
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const xp = X[p];
        const xq = X[q];
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let r = 0; r < m; r++) {
          alpha += xp[r] * xp[r];
          beta += xq[r] * xq[r];
          gamma += xp[r] * xq[r];
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let r = 0; r < m; r++) {
          const u = xp[r];
          const v = xq[r];
          xp[r] = c * u - s * v;
          xq[r] = s * u + c * v;
        }
      }
    }
    if (!rotated) break;
  }
  const sv = X.map((col) => Math.sqrt(col.reduce((s, x) => s + x * x, 0)));
  return sv.sort((x, y) => y - x);
}

/** t1, t2 (Definition 3 with the library's tolerances), sigma2 and multiplicity from all singular values. */
export function definition3(sv: number[]): { t1: number; t2: number; sigma2: number; mult: number } {
  const t1 = sv[0] ?? 0;
  if (!(t1 > 0)) return { t1: 0, t2: 0, sigma2: 0, mult: 0 };
  const vals = sv.map((s) => (s < 1e-9 * t1 ? 0 : s));
  let mult = 0;
  let t2 = 0;
  for (const v of vals) {
    if (v >= t1 * (1 - 1e-9)) mult++;
    else {
      t2 = v;
      break;
    }
  }
  return { t1, t2, sigma2: vals[1] ?? 0, mult };
}

/** 32-bit finaliser of MurmurHash3 on a counter: the value stream shared with the Python script. */
export function hash32(seed: number, i: number): number {
  let x = (Math.imul(i >>> 0, 0x9e3779b1) + Math.imul(seed >>> 0, 0x85ebca77)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * A rows x cols mask with P(edge) = density and weights uniform in (0, 1), from the counter hash:
 * entry k is an edge when hash(seed, 2k) < round(density * 2^32); its weight is
 * (hash(seed, 2k+1) + 0.5) / 2^32.
 */
export function hashedLayer(rows: number, cols: number, density: number, seed: number): { mask: Float32Array; weight: Float64Array } {
  const n = rows * cols;
  const threshold = Math.round(density * 2 ** 32);
  const mask = new Float32Array(n);
  const weight = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    mask[k] = hash32(seed, 2 * k) < threshold ? 1 : 0;
    weight[k] = (hash32(seed, 2 * k + 1) + 0.5) / 2 ** 32;
  }
  return { mask, weight };
}

/** The dense bi-adjacency B = mask (unweighted) or |weight| * mask. */
export function denseB(mask: ArrayLike<number>, weight: ArrayLike<number> | null): Float64Array {
  const b = new Float64Array(mask.length);
  for (let k = 0; k < mask.length; k++) b[k] = mask[k] !== 0 ? (weight ? Math.abs(weight[k]) : 1) : 0;
  return b;
}

/** Assert |actual - expected| <= rel * |expected| (+ abs for expected 0). */
export function relClose(actual: number, expected: number, rel: number, abs = 0): boolean {
  if (expected === Infinity || actual === Infinity) return actual === expected;
  return Math.abs(actual - expected) <= rel * Math.abs(expected) + abs;
}
