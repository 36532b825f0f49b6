// Float64 matrix-vector products for the Lanczos methods of src/graph/spectrum.ts, compiled on
// their own (dist/wasm/spectral.wasm: no threads, own growable memory; see scripts/build-wasm.mjs).
//
// The host (src/graph/wasm.ts) owns the memory layout: it copies a block's arrays in once, above
// heapBase(), and passes byte pointers. Weights are f32 or f64 (as the layer holds them); every
// product accumulates in f64. The plain TypeScript kernels in src/graph/spectrum.ts compute the same
// sums (in another order) and are the reference the tests compare these with.

/** First free byte above this module's own data: the host allocates from here. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

// ---- dense blocks, A [rows, cols] row-major --------------------------------------------------------

/** y[i] = sum_j A[i, j] x[j] for f32 A: two rows at a time, four columns per step (f32x4 -> 2 x f64x2). */
export function denseDotsF32(a: usize, rows: i32, cols: i32, x: usize, y: usize): void {
  const rowBytes = <usize>cols << 2;
  const c4 = cols & ~3;
  let i = 0;
  for (; i + 1 < rows; i += 2) {
    const r0 = a + <usize>i * rowBytes;
    const r1 = r0 + rowBytes;
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    let t0 = f64x2.splat(0);
    let t1 = f64x2.splat(0);
    for (let j = 0; j < c4; j += 4) {
      const xa = v128.load(x + (<usize>j << 3));
      const xb = v128.load(x + (<usize>j << 3) + 16);
      const va = v128.load(r0 + (<usize>j << 2));
      const vb = v128.load(r1 + (<usize>j << 2));
      s0 = f64x2.add(s0, f64x2.mul(f64x2.promote_low_f32x4(va), xa));
      s1 = f64x2.add(s1, f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(va, va, 2, 3, 0, 1)), xb));
      t0 = f64x2.add(t0, f64x2.mul(f64x2.promote_low_f32x4(vb), xa));
      t1 = f64x2.add(t1, f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(vb, vb, 2, 3, 0, 1)), xb));
    }
    const s = f64x2.add(s0, s1);
    const t = f64x2.add(t0, t1);
    let u = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    let v = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
    for (let j = c4; j < cols; j++) {
      const xj = load<f64>(x + (<usize>j << 3));
      u += <f64>load<f32>(r0 + (<usize>j << 2)) * xj;
      v += <f64>load<f32>(r1 + (<usize>j << 2)) * xj;
    }
    store<f64>(y + (<usize>i << 3), u);
    store<f64>(y + (<usize>(i + 1) << 3), v);
  }
  if (i < rows) {
    const r0 = a + <usize>i * rowBytes;
    let u: f64 = 0;
    for (let j = 0; j < cols; j++) u += <f64>load<f32>(r0 + (<usize>j << 2)) * load<f64>(x + (<usize>j << 3));
    store<f64>(y + (<usize>i << 3), u);
  }
}

/** The same for f64 A. */
export function denseDotsF64(a: usize, rows: i32, cols: i32, x: usize, y: usize): void {
  const rowBytes = <usize>cols << 3;
  const c4 = cols & ~3;
  let i = 0;
  for (; i + 1 < rows; i += 2) {
    const r0 = a + <usize>i * rowBytes;
    const r1 = r0 + rowBytes;
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    let t0 = f64x2.splat(0);
    let t1 = f64x2.splat(0);
    for (let j = 0; j < c4; j += 4) {
      const o = <usize>j << 3;
      const xa = v128.load(x + o);
      const xb = v128.load(x + o + 16);
      s0 = f64x2.add(s0, f64x2.mul(v128.load(r0 + o), xa));
      s1 = f64x2.add(s1, f64x2.mul(v128.load(r0 + o + 16), xb));
      t0 = f64x2.add(t0, f64x2.mul(v128.load(r1 + o), xa));
      t1 = f64x2.add(t1, f64x2.mul(v128.load(r1 + o + 16), xb));
    }
    const s = f64x2.add(s0, s1);
    const t = f64x2.add(t0, t1);
    let u = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    let v = f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
    for (let j = c4; j < cols; j++) {
      const xj = load<f64>(x + (<usize>j << 3));
      u += load<f64>(r0 + (<usize>j << 3)) * xj;
      v += load<f64>(r1 + (<usize>j << 3)) * xj;
    }
    store<f64>(y + (<usize>i << 3), u);
    store<f64>(y + (<usize>(i + 1) << 3), v);
  }
  if (i < rows) {
    const r0 = a + <usize>i * rowBytes;
    let u: f64 = 0;
    for (let j = 0; j < cols; j++) u += load<f64>(r0 + (<usize>j << 3)) * load<f64>(x + (<usize>j << 3));
    store<f64>(y + (<usize>i << 3), u);
  }
}

/**
 * z = A^T y for f32 A [rows, cols] without a transposed copy: z = sum_i y[i] A[i, :], four rows
 * per sweep over z (so z is loaded and stored once per four rows; z [cols] stays in cache).
 */
export function denseTransposedF32(a: usize, rows: i32, cols: i32, y: usize, z: usize): void {
  const rowBytes = <usize>cols << 2;
  const c4 = cols & ~3;
  memory.fill(z, 0, <usize>cols << 3);
  let i = 0;
  for (; i < rows; i += 4) {
    const n = min(4, rows - i);
    // missing rows of the last group get weight 0 and read row i again (in bounds)
    const y0 = load<f64>(y + (<usize>i << 3));
    const y1 = n > 1 ? load<f64>(y + (<usize>(i + 1) << 3)) : 0;
    const y2 = n > 2 ? load<f64>(y + (<usize>(i + 2) << 3)) : 0;
    const y3 = n > 3 ? load<f64>(y + (<usize>(i + 3) << 3)) : 0;
    const r0 = a + <usize>i * rowBytes;
    const r1 = n > 1 ? r0 + rowBytes : r0;
    const r2 = n > 2 ? r0 + 2 * rowBytes : r0;
    const r3 = n > 3 ? r0 + 3 * rowBytes : r0;
    const w0 = f64x2.splat(y0);
    const w1 = f64x2.splat(y1);
    const w2 = f64x2.splat(y2);
    const w3 = f64x2.splat(y3);
    for (let j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      const v0 = v128.load(r0 + o);
      const v1 = v128.load(r1 + o);
      const v2 = v128.load(r2 + o);
      const v3 = v128.load(r3 + o);
      const zp = z + (<usize>j << 3);
      let lo = v128.load(zp);
      let hi = v128.load(zp + 16);
      lo = f64x2.add(lo, f64x2.add(
        f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v0), w0), f64x2.mul(f64x2.promote_low_f32x4(v1), w1)),
        f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v2), w2), f64x2.mul(f64x2.promote_low_f32x4(v3), w3)),
      ));
      hi = f64x2.add(hi, f64x2.add(
        f64x2.add(
          f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 0, 1)), w0),
          f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 0, 1)), w1),
        ),
        f64x2.add(
          f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v2, v2, 2, 3, 0, 1)), w2),
          f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v3, v3, 2, 3, 0, 1)), w3),
        ),
      ));
      v128.store(zp, lo);
      v128.store(zp + 16, hi);
    }
    for (let j = c4; j < cols; j++) {
      const o = <usize>j << 2;
      const zp = z + (<usize>j << 3);
      store<f64>(zp, load<f64>(zp) + (
        (<f64>load<f32>(r0 + o) * y0 + <f64>load<f32>(r1 + o) * y1) +
        (<f64>load<f32>(r2 + o) * y2 + <f64>load<f32>(r3 + o) * y3)
      ));
    }
  }
}

/** The same for f64 A. */
export function denseTransposedF64(a: usize, rows: i32, cols: i32, y: usize, z: usize): void {
  const rowBytes = <usize>cols << 3;
  const c2 = cols & ~1;
  memory.fill(z, 0, <usize>cols << 3);
  let i = 0;
  for (; i < rows; i += 4) {
    const n = min(4, rows - i);
    const y0 = load<f64>(y + (<usize>i << 3));
    const y1 = n > 1 ? load<f64>(y + (<usize>(i + 1) << 3)) : 0;
    const y2 = n > 2 ? load<f64>(y + (<usize>(i + 2) << 3)) : 0;
    const y3 = n > 3 ? load<f64>(y + (<usize>(i + 3) << 3)) : 0;
    const r0 = a + <usize>i * rowBytes;
    const r1 = n > 1 ? r0 + rowBytes : r0;
    const r2 = n > 2 ? r0 + 2 * rowBytes : r0;
    const r3 = n > 3 ? r0 + 3 * rowBytes : r0;
    const w0 = f64x2.splat(y0);
    const w1 = f64x2.splat(y1);
    const w2 = f64x2.splat(y2);
    const w3 = f64x2.splat(y3);
    for (let j = 0; j < c2; j += 2) {
      const o = <usize>j << 3;
      const zp = z + o;
      v128.store(zp, f64x2.add(v128.load(zp), f64x2.add(
        f64x2.add(f64x2.mul(v128.load(r0 + o), w0), f64x2.mul(v128.load(r1 + o), w1)),
        f64x2.add(f64x2.mul(v128.load(r2 + o), w2), f64x2.mul(v128.load(r3 + o), w3)),
      )));
    }
    for (let j = c2; j < cols; j++) {
      const o = <usize>j << 3;
      store<f64>(z + o, load<f64>(z + o) + (
        (load<f64>(r0 + o) * y0 + load<f64>(r1 + o) * y1) + (load<f64>(r2 + o) * y2 + load<f64>(r3 + o) * y3)
      ));
    }
  }
}

// ---- sparse blocks, compressed rows (CSR; a CSC is the CSR of the transpose) ----------------------

/** y[i] = sum over p in row i of w[p] x[idx[p]], w f32; four partial sums per row. */
export function csrDotsF32(ptr: usize, idx: usize, w: usize, rows: i32, x: usize, y: usize): void {
  for (let i = 0; i < rows; i++) {
    let p = load<i32>(ptr + (<usize>i << 2));
    const end = load<i32>(ptr + (<usize>(i + 1) << 2));
    let s0: f64 = 0;
    let s1: f64 = 0;
    let s2: f64 = 0;
    let s3: f64 = 0;
    for (; p + 3 < end; p += 4) {
      const q = <usize>p << 2;
      s0 += <f64>load<f32>(w + q) * load<f64>(x + (<usize>load<i32>(idx + q) << 3));
      s1 += <f64>load<f32>(w + q + 4) * load<f64>(x + (<usize>load<i32>(idx + q + 4) << 3));
      s2 += <f64>load<f32>(w + q + 8) * load<f64>(x + (<usize>load<i32>(idx + q + 8) << 3));
      s3 += <f64>load<f32>(w + q + 12) * load<f64>(x + (<usize>load<i32>(idx + q + 12) << 3));
    }
    for (; p < end; p++) {
      const q = <usize>p << 2;
      s0 += <f64>load<f32>(w + q) * load<f64>(x + (<usize>load<i32>(idx + q) << 3));
    }
    store<f64>(y + (<usize>i << 3), (s0 + s1) + (s2 + s3));
  }
}

/** The same with f64 weights. */
export function csrDotsF64(ptr: usize, idx: usize, w: usize, rows: i32, x: usize, y: usize): void {
  for (let i = 0; i < rows; i++) {
    let p = load<i32>(ptr + (<usize>i << 2));
    const end = load<i32>(ptr + (<usize>(i + 1) << 2));
    let s0: f64 = 0;
    let s1: f64 = 0;
    let s2: f64 = 0;
    let s3: f64 = 0;
    for (; p + 3 < end; p += 4) {
      const q = <usize>p << 2;
      const r = <usize>p << 3;
      s0 += load<f64>(w + r) * load<f64>(x + (<usize>load<i32>(idx + q) << 3));
      s1 += load<f64>(w + r + 8) * load<f64>(x + (<usize>load<i32>(idx + q + 4) << 3));
      s2 += load<f64>(w + r + 16) * load<f64>(x + (<usize>load<i32>(idx + q + 8) << 3));
      s3 += load<f64>(w + r + 24) * load<f64>(x + (<usize>load<i32>(idx + q + 12) << 3));
    }
    for (; p < end; p++) {
      s0 += load<f64>(w + (<usize>p << 3)) * load<f64>(x + (<usize>load<i32>(idx + (<usize>p << 2)) << 3));
    }
    store<f64>(y + (<usize>i << 3), (s0 + s1) + (s2 + s3));
  }
}

/** The same with every weight 1 (the unweighted graph). */
export function csrDotsOnes(ptr: usize, idx: usize, rows: i32, x: usize, y: usize): void {
  for (let i = 0; i < rows; i++) {
    let p = load<i32>(ptr + (<usize>i << 2));
    const end = load<i32>(ptr + (<usize>(i + 1) << 2));
    let s0: f64 = 0;
    let s1: f64 = 0;
    let s2: f64 = 0;
    let s3: f64 = 0;
    for (; p + 3 < end; p += 4) {
      const q = <usize>p << 2;
      s0 += load<f64>(x + (<usize>load<i32>(idx + q) << 3));
      s1 += load<f64>(x + (<usize>load<i32>(idx + q + 4) << 3));
      s2 += load<f64>(x + (<usize>load<i32>(idx + q + 8) << 3));
      s3 += load<f64>(x + (<usize>load<i32>(idx + q + 12) << 3));
    }
    for (; p < end; p++) s0 += load<f64>(x + (<usize>load<i32>(idx + (<usize>p << 2)) << 3));
    store<f64>(y + (<usize>i << 3), (s0 + s1) + (s2 + s3));
  }
}

// ---- building the graph --------------------------------------------------------------------------

/**
 * The edges of a float32 support S [rows, cols] (entry != 0; -0 counts as 0): column indices of
 * each row in ascending order at `out` (room for rows * cols + 4 entries: the branch-free writes
 * may run 3 past the last edge) and row pointers [rows + 1] at `ptr`. Returns the edge count.
 * Four entries per step: their non-zero pattern as a 4-bit mask.
 */
export function edgesOfF32(s: usize, rows: i32, cols: i32, ptr: usize, out: usize): i32 {
  const c4 = cols & ~3;
  const zero = i32x4.splat(0);
  const lanes = i32x4(0, 1, 2, 3);
  let e = 0;
  store<i32>(ptr, 0);
  for (let i = 0; i < rows; i++) {
    const row = s + (<usize>i * <usize>cols << 2);
    for (let j = 0; j < c4; j += 4) {
      const bits = i32x4.bitmask(i32x4.ne(i32x4.shl(v128.load(row + (<usize>j << 2)), 1), zero));
      if (bits == 0) continue;
      const o = out + (<usize>e << 2);
      if (bits == 15) {
        v128.store(o, i32x4.add(i32x4.splat(j), lanes));
        e += 4;
        continue;
      }
      let q = o;
      store<i32>(q, j);
      q += <usize>(bits & 1) << 2;
      store<i32>(q, j + 1);
      q += <usize>((bits >> 1) & 1) << 2;
      store<i32>(q, j + 2);
      q += <usize>((bits >> 2) & 1) << 2;
      store<i32>(q, j + 3);
      e += popcnt<i32>(bits);
    }
    for (let j = c4; j < cols; j++) {
      if ((load<u32>(row + (<usize>j << 2)) << 1) != 0) {
        store<i32>(out + (<usize>e << 2), j);
        e++;
      }
    }
    store<i32>(ptr + (<usize>(i + 1) << 2), e);
  }
  return e;
}

/** deg[j] = number of q < n with idx[q] == j (deg [cols] zeroed here). */
export function countIndices(idx: usize, n: i32, deg: usize, cols: i32): void {
  memory.fill(deg, 0, <usize>cols << 2);
  for (let q = 0; q < n; q++) {
    const p = deg + (<usize>load<i32>(idx + (<usize>q << 2)) << 2);
    store<i32>(p, load<i32>(p) + 1);
  }
}

/**
 * In place: x[k] = |x[k]| for f32 x [n] (sign bits cleared). Returns bit 0 set when some entry is
 * not finite (exponent all ones) and bit 1 set when some entry is zero.
 */
export function absF32(x: usize, n: i32): i32 {
  const n4 = n & ~3;
  const magnitude = i32x4.splat(0x7fffffff);
  const exponent = i32x4.splat(0x7f800000);
  let nonFinite = i32x4.splat(0);
  let zero = i32x4.splat(0);
  for (let k = 0; k < n4; k += 4) {
    const p = x + (<usize>k << 2);
    const v = v128.and(v128.load(p), magnitude);
    v128.store(p, v);
    nonFinite = v128.or(nonFinite, i32x4.ge_u(v, exponent));
    zero = v128.or(zero, i32x4.eq(v, i32x4.splat(0)));
  }
  let flags = (v128.any_true(nonFinite) ? 1 : 0) | (v128.any_true(zero) ? 2 : 0);
  for (let k = n4; k < n; k++) {
    const p = x + (<usize>k << 2);
    const v = load<u32>(p) & 0x7fffffff;
    store<u32>(p, v);
    if (v >= 0x7f800000) flags |= 1;
    if (v == 0) flags |= 2;
  }
  return flags;
}

/**
 * The compressed columns of a CSR block [rows, cols] (a counting sort of its edges by column):
 * colPtr [cols + 1], rowIdx [nnz] and, when w != 0, the weights cw [nnz] (f32 when f32 != 0, else
 * f64). Within a column the rows ascend.
 */
export function cscOf(rowPtr: usize, colIdx: usize, w: usize, f32: i32, rows: i32, cols: i32, colPtr: usize, rowIdx: usize, cw: usize): void {
  const nnz = load<i32>(rowPtr + (<usize>rows << 2));
  memory.fill(colPtr, 0, <usize>(cols + 1) << 2);
  for (let q = 0; q < nnz; q++) {
    const p = colPtr + (<usize>(load<i32>(colIdx + (<usize>q << 2)) + 1) << 2);
    store<i32>(p, load<i32>(p) + 1);
  }
  for (let j = 0; j < cols; j++) {
    const p = colPtr + (<usize>(j + 1) << 2);
    store<i32>(p, load<i32>(p) + load<i32>(p - 4));
  }
  // colPtr[j] serves as the fill position of column j, then is shifted back
  for (let i = 0; i < rows; i++) {
    const end = load<i32>(rowPtr + (<usize>(i + 1) << 2));
    for (let q = load<i32>(rowPtr + (<usize>i << 2)); q < end; q++) {
      const p = colPtr + (<usize>load<i32>(colIdx + (<usize>q << 2)) << 2);
      const t = load<i32>(p);
      store<i32>(p, t + 1);
      store<i32>(rowIdx + (<usize>t << 2), i);
      if (w != 0) {
        if (f32 != 0) store<f32>(cw + (<usize>t << 2), load<f32>(w + (<usize>q << 2)));
        else store<f64>(cw + (<usize>t << 3), load<f64>(w + (<usize>q << 3)));
      }
    }
  }
  for (let j = cols; j > 0; j--) store<i32>(colPtr + (<usize>j << 2), load<i32>(colPtr + (<usize>(j - 1) << 2)));
  store<i32>(colPtr, 0);
}

// ---- Lanczos bases ---------------------------------------------------------------------------------

/**
 * x -= Q^T c for Q [rows, cols] f64 row-major and c [rows]: four rows per sweep over x.
 */
function subtractTransposedF64(a: usize, rows: i32, cols: i32, c: usize, x: usize): void {
  const rowBytes = <usize>cols << 3;
  const c2 = cols & ~1;
  for (let i = 0; i < rows; i += 4) {
    const n = min(4, rows - i);
    const y0 = load<f64>(c + (<usize>i << 3));
    const y1 = n > 1 ? load<f64>(c + (<usize>(i + 1) << 3)) : 0;
    const y2 = n > 2 ? load<f64>(c + (<usize>(i + 2) << 3)) : 0;
    const y3 = n > 3 ? load<f64>(c + (<usize>(i + 3) << 3)) : 0;
    const r0 = a + <usize>i * rowBytes;
    const r1 = n > 1 ? r0 + rowBytes : r0;
    const r2 = n > 2 ? r0 + 2 * rowBytes : r0;
    const r3 = n > 3 ? r0 + 3 * rowBytes : r0;
    const w0 = f64x2.splat(y0);
    const w1 = f64x2.splat(y1);
    const w2 = f64x2.splat(y2);
    const w3 = f64x2.splat(y3);
    for (let j = 0; j < c2; j += 2) {
      const o = <usize>j << 3;
      const xp = x + o;
      v128.store(xp, f64x2.sub(v128.load(xp), f64x2.add(
        f64x2.add(f64x2.mul(v128.load(r0 + o), w0), f64x2.mul(v128.load(r1 + o), w1)),
        f64x2.add(f64x2.mul(v128.load(r2 + o), w2), f64x2.mul(v128.load(r3 + o), w3)),
      )));
    }
    for (let j = c2; j < cols; j++) {
      const o = <usize>j << 3;
      store<f64>(x + o, load<f64>(x + o) - (
        (load<f64>(r0 + o) * y0 + load<f64>(r1 + o) * y1) + (load<f64>(r2 + o) * y2 + load<f64>(r3 + o) * y3)
      ));
    }
  }
}

/**
 * Classical Gram-Schmidt, twice: x -= Q^T (Q x) for an orthonormal basis Q [count, n] (f64,
 * row-major); c [count] is scratch for the coefficients.
 */
export function reorthogonalise(q: usize, count: i32, n: i32, x: usize, c: usize): void {
  if (count == 0) return;
  for (let pass = 0; pass < 2; pass++) {
    denseDotsF64(q, count, n, x, c);
    subtractTransposedF64(q, count, n, c, x);
  }
}
