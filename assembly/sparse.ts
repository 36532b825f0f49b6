// Sparse x dense products for pruned weights.
//
// A pruned weight W [rows, cols] is kept compressed twice: by rows (CSR: rowPtr[rows+1],
// colIdx[nnz], vals[nnz]) for products with W, and by columns (CSC, the CSR of Wᵀ) for products
// with Wᵀ. The dense operand is "batch-contiguous": X [K, n] with the n batch (or spatial) values of
// one feature contiguous, so the inner loop is a SIMD axpy over n. See docs/engine.md.

/** out[c, r] = src[r, c] for a [rows, cols] matrix (row strides ldSrc, ldOut). */
export function transpose(src: usize, rows: i32, cols: i32, ldSrc: i32, out: usize, ldOut: i32): void {
  const s = <usize>ldSrc << 2;
  const o = <usize>ldOut << 2;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let c = 0;
    const p = src + <usize>r * s;
    for (; c + 4 <= cols; c += 4) {
      const q = p + (<usize>c << 2);
      const r0 = v128.load(q);
      const r1 = v128.load(q + s);
      const r2 = v128.load(q + 2 * s);
      const r3 = v128.load(q + 3 * s);
      const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const d = out + <usize>c * o + (<usize>r << 2);
      v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(d + o, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
      v128.store(d + 2 * o, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
      v128.store(d + 3 * o, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
    }
    for (; c < cols; c++) {
      for (let i = 0; i < 4; i++) {
        store<f32>(out + <usize>c * o + (<usize>(r + i) << 2), load<f32>(p + <usize>i * s + (<usize>c << 2)));
      }
    }
  }
  for (; r < rows; r++) {
    const p = src + <usize>r * s;
    for (let c = 0; c < cols; c++) store<f32>(out + <usize>c * o + (<usize>r << 2), load<f32>(p + (<usize>c << 2)));
  }
}

/** vals[e] = W[r*cols + idx[e]] for the rows r0..r1 of a CSR pattern (refresh after a step). */
export function csrGather(W: usize, cols: i32, rowPtr: usize, idx: usize, vals: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const start = load<i32>(rowPtr + (<usize>r << 2));
    const end = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    const row = W + (<usize>(r * cols) << 2);
    for (let e = start; e < end; e++) {
      store<f32>(vals + (<usize>e << 2), load<f32>(row + (<usize>load<i32>(idx + (<usize>e << 2)) << 2)));
    }
  }
}

/** vals[e] = W[idx[e]*cols + c] for the columns c0..c1 of a CSC pattern. */
export function cscGather(W: usize, cols: i32, colPtr: usize, idx: usize, vals: usize, c0: i32, c1: i32): void {
  for (let c = c0; c < c1; c++) {
    const start = load<i32>(colPtr + (<usize>c << 2));
    const end = load<i32>(colPtr + (<usize>(c + 1) << 2));
    for (let e = start; e < end; e++) {
      const r = load<i32>(idx + (<usize>e << 2));
      store<f32>(vals + (<usize>e << 2), load<f32>(W + (<usize>(r * cols + c) << 2)));
    }
  }
}

/**
 * Y[r, 0:n] = (accumulate ? Y[r, :] : 0) + (bias ? bias[r] : 0) + Σ_e vals[e] · X[idx[e], 0:n]
 * for rows r0..r1 of a compressed matrix; X [*, ldx], Y [*, ldy] (batch-contiguous).
 */
export function spmmRows(
  ptr: usize, idx: usize, vals: usize, r0: i32, r1: i32,
  X: usize, ldx: i32, n: i32, Y: usize, ldy: i32, bias: usize, accumulate: i32,
): void {
  const xs = <usize>ldx << 2;
  for (let r = r0; r < r1; r++) {
    const start = load<i32>(ptr + (<usize>r << 2));
    const end = load<i32>(ptr + (<usize>(r + 1) << 2));
    const y = Y + (<usize>(r * ldy) << 2);
    const b: f32 = bias != 0 ? load<f32>(bias + (<usize>r << 2)) : 0;
    let j = 0;
    // 16 columns at a time in 4 registers
    for (; j + 16 <= n; j += 16) {
      let a0 = f32x4.splat(b), a1 = f32x4.splat(b), a2 = f32x4.splat(b), a3 = f32x4.splat(b);
      if (accumulate) {
        a0 = f32x4.add(a0, v128.load(y + (<usize>j << 2)));
        a1 = f32x4.add(a1, v128.load(y + (<usize>j << 2), 16));
        a2 = f32x4.add(a2, v128.load(y + (<usize>j << 2), 32));
        a3 = f32x4.add(a3, v128.load(y + (<usize>j << 2), 48));
      }
      const xj = X + (<usize>j << 2);
      for (let e = start; e < end; e++) {
        const w = v128.load32_splat(vals + (<usize>e << 2));
        const p = xj + <usize>load<i32>(idx + (<usize>e << 2)) * xs;
        a0 = f32x4.add(a0, f32x4.mul(w, v128.load(p)));
        a1 = f32x4.add(a1, f32x4.mul(w, v128.load(p, 16)));
        a2 = f32x4.add(a2, f32x4.mul(w, v128.load(p, 32)));
        a3 = f32x4.add(a3, f32x4.mul(w, v128.load(p, 48)));
      }
      v128.store(y + (<usize>j << 2), a0);
      v128.store(y + (<usize>j << 2), a1, 16);
      v128.store(y + (<usize>j << 2), a2, 32);
      v128.store(y + (<usize>j << 2), a3, 48);
    }
    for (; j + 4 <= n; j += 4) {
      let a0 = f32x4.splat(b);
      if (accumulate) a0 = f32x4.add(a0, v128.load(y + (<usize>j << 2)));
      const xj = X + (<usize>j << 2);
      for (let e = start; e < end; e++) {
        const w = v128.load32_splat(vals + (<usize>e << 2));
        a0 = f32x4.add(a0, f32x4.mul(w, v128.load(xj + <usize>load<i32>(idx + (<usize>e << 2)) * xs)));
      }
      v128.store(y + (<usize>j << 2), a0);
    }
    for (; j < n; j++) {
      let a: f32 = b;
      if (accumulate) a += load<f32>(y + (<usize>j << 2));
      const xj = X + (<usize>j << 2);
      for (let e = start; e < end; e++) {
        a += load<f32>(vals + (<usize>e << 2)) * load<f32>(xj + <usize>load<i32>(idx + (<usize>e << 2)) * xs);
      }
      store<f32>(y + (<usize>j << 2), a);
    }
  }
}

/** Σ_j a[j] · b[j] over n values, 4 lanes then a horizontal sum (fixed order). */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    const o = <usize>j << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  s0 = f32x4.add(s0, s1);
  let s = f32x4.extract_lane(s0, 0) + f32x4.extract_lane(s0, 1) + (f32x4.extract_lane(s0, 2) + f32x4.extract_lane(s0, 3));
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

/**
 * The masked weight gradient at the pattern's positions only, rows r0..r1:
 * dW[r*cols + c] (= or +=) Σ_j dYt[r, j] · Xt[c, j] for each stored (r, c); dYt [rows, ldd],
 * Xt [cols, ldx]. Positions outside the pattern are not touched (the host zeroes them).
 */
export function sparseWeightGrad(
  rowPtr: usize, colIdx: usize, r0: i32, r1: i32,
  dYt: usize, ldd: i32, Xt: usize, ldx: i32, n: i32, dW: usize, cols: i32, accumulate: i32,
): void {
  for (let r = r0; r < r1; r++) {
    const start = load<i32>(rowPtr + (<usize>r << 2));
    const end = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    const d = dYt + (<usize>(r * ldd) << 2);
    const row = dW + (<usize>(r * cols) << 2);
    for (let e = start; e < end; e++) {
      const c = load<i32>(colIdx + (<usize>e << 2));
      const s = dot(d, Xt + (<usize>(c * ldx) << 2), n);
      const p = row + (<usize>c << 2);
      store<f32>(p, accumulate ? load<f32>(p) + s : s);
    }
  }
}
