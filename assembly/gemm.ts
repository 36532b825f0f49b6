// Dense single-precision matrix product, packed and register-tiled (the Goto/BLIS scheme):
//
//   C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C[M,N]
//
// op(A) is A [M,K] row-major (lda = row stride) or, transposed, A stored [K,M]; the same for B.
// All sizes and strides are in elements, pointers in bytes.
//
// Loop nest (outer to inner): NC columns of B -> KC depth -> pack B panel [KC x NC] into strips of
// NR columns -> MC rows of A -> pack A block [MC x KC] into strips of MR rows -> micro-kernel on an
// MR x NR tile of C with the whole KC depth in registers. Packing makes every variant read its
// operands contiguously, so the transposed products run as fast as the plain one.
//
// Tile 4x8 with separate mul + add: 8 accumulators + 2 B vectors + broadcasts + 1 temporary fit in
// the 16 xmm registers V8 allocates (larger tiles spilled, see ENGINE-NOTES.md). Each C element is
// computed by the same sequence of operations whatever block of C a call covers, so splitting C
// across threads by columns or rows gives bit-identical results.

export const MR: i32 = 4;
export const NR: i32 = 8;
export const MC: i32 = 120;
export const KC: i32 = 512;
export const NC: i32 = 1024;

import { threadScratch } from './scratch';

/** Bytes of per-thread scratch the product needs: packed A (MC x KC), packed B (KC x NC), edge tile. */
export const GEMM_SCRATCH_BYTES: i32 = (MC * KC + KC * NC + MR * NR) * 4;

// ---- packing -----------------------------------------------------------------------------------

/**
 * Packs alpha * op(A)[i0:i0+mc, k0:k0+kc] into strips of MR rows: strip s holds, for each k, the MR
 * values of rows s*MR..s*MR+MR-1 (rows past mc are zero).
 */
function packA(transA: bool, A: usize, lda: i32, i0: i32, k0: i32, mc: i32, kc: i32, alpha: f32, dst: usize): void {
  const va = f32x4.splat(alpha);
  for (let s = 0; s < mc; s += MR) {
    const rows = min(MR, mc - s);
    const out = dst + (<usize>(s * kc) << 2);
    if (transA) {
      // op(A)[i, k] = A[k*lda + i]: the MR values of one k are contiguous
      const src = A + (<usize>(k0 * lda + i0 + s) << 2);
      if (rows == MR) {
        for (let k = 0; k < kc; k++) {
          v128.store(out + (<usize>k << 4), f32x4.mul(v128.load(src + (<usize>(k * lda) << 2)), va));
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const o = out + (<usize>k << 4);
          const p = src + (<usize>(k * lda) << 2);
          for (let r = 0; r < MR; r++) {
            store<f32>(o + (<usize>r << 2), r < rows ? load<f32>(p + (<usize>r << 2)) * alpha : 0);
          }
        }
      }
    } else {
      // op(A)[i, k] = A[i*lda + k]: read 4 rows, 4 k at a time, and transpose 4x4 in registers
      const src = A + (<usize>((i0 + s) * lda + k0) << 2);
      const stride = <usize>lda << 2;
      if (rows == MR) {
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const p = src + (<usize>k << 2);
          const r0 = v128.load(p);
          const r1 = v128.load(p + stride);
          const r2 = v128.load(p + 2 * stride);
          const r3 = v128.load(p + 3 * stride);
          const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5); // a0 b0 a1 b1
          const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5); // c0 d0 c1 d1
          const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7); // a2 b2 a3 b3
          const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7); // c2 d2 c3 d3
          const o = out + (<usize>k << 4);
          v128.store(o, f32x4.mul(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), va));
          v128.store(o, f32x4.mul(v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), va), 16);
          v128.store(o, f32x4.mul(v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), va), 32);
          v128.store(o, f32x4.mul(v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), va), 48);
        }
        for (; k < kc; k++) {
          const p = src + (<usize>k << 2);
          const o = out + (<usize>k << 4);
          store<f32>(o, load<f32>(p) * alpha);
          store<f32>(o + 4, load<f32>(p + stride) * alpha);
          store<f32>(o + 8, load<f32>(p + 2 * stride) * alpha);
          store<f32>(o + 12, load<f32>(p + 3 * stride) * alpha);
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const o = out + (<usize>k << 4);
          for (let r = 0; r < MR; r++) {
            store<f32>(o + (<usize>r << 2), r < rows ? load<f32>(src + <usize>r * stride + (<usize>k << 2)) * alpha : 0);
          }
        }
      }
    }
  }
}

/**
 * Packs op(B)[k0:k0+kc, j0:j0+nc] into strips of NR columns: strip s holds, for each k, the NR
 * values of columns s*NR.. (columns past nc are zero).
 */
function packB(transB: bool, B: usize, ldb: i32, k0: i32, j0: i32, kc: i32, nc: i32, dst: usize): void {
  for (let s = 0; s < nc; s += NR) {
    const cols = min(NR, nc - s);
    const out = dst + (<usize>(s * kc) << 2);
    if (!transB) {
      // op(B)[k, j] = B[k*ldb + j]: the NR values of one k are contiguous
      const src = B + (<usize>(k0 * ldb + j0 + s) << 2);
      if (cols == NR) {
        for (let k = 0; k < kc; k++) {
          const p = src + (<usize>(k * ldb) << 2);
          const o = out + (<usize>k << 5);
          v128.store(o, v128.load(p));
          v128.store(o, v128.load(p, 16), 16);
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const p = src + (<usize>(k * ldb) << 2);
          const o = out + (<usize>k << 5);
          for (let c = 0; c < NR; c++) store<f32>(o + (<usize>c << 2), c < cols ? load<f32>(p + (<usize>c << 2)) : 0);
        }
      }
    } else {
      // op(B)[k, j] = B[j*ldb + k]: NR rows of B, each contiguous in k; transpose 4x4 blocks
      const src = B + (<usize>((j0 + s) * ldb + k0) << 2);
      const stride = <usize>ldb << 2;
      if (cols == NR) {
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          for (let half = 0; half < 2; half++) {
            const p = src + <usize>(half * 4) * stride + (<usize>k << 2);
            const r0 = v128.load(p);
            const r1 = v128.load(p + stride);
            const r2 = v128.load(p + 2 * stride);
            const r3 = v128.load(p + 3 * stride);
            const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
            const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
            const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
            const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
            const o = out + (<usize>k << 5) + (<usize>half << 4);
            v128.store(o, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
            v128.store(o, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
            v128.store(o, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
            v128.store(o, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
          }
        }
        for (; k < kc; k++) {
          const o = out + (<usize>k << 5);
          for (let c = 0; c < NR; c++) store<f32>(o + (<usize>c << 2), load<f32>(src + <usize>c * stride + (<usize>k << 2)));
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const o = out + (<usize>k << 5);
          for (let c = 0; c < NR; c++) {
            store<f32>(o + (<usize>c << 2), c < cols ? load<f32>(src + <usize>c * stride + (<usize>k << 2)) : 0);
          }
        }
      }
    }
  }
}

// ---- micro-kernel ------------------------------------------------------------------------------

/** Scratch tile for partial edge tiles, MR x NR floats, in this thread's scratch. */
let EDGE: usize = 0;

/**
 * C tile (MR x NR at C, row stride ldc) <- mode 0: acc; mode 1: C + acc; mode 2: beta*C + acc,
 * where acc = packed A strip [kc x MR] · packed B strip [kc x NR]. Only rows < mr and
 * columns < nr are written.
 */
function microKernel(kc: i32, pa: usize, pb: usize, C: usize, ldc: i32, mr: i32, nr: i32, mode: i32, beta: f32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    pa += 16;
    pb += 32;
  }
  const full = mr == MR && nr == NR;
  // write the tile either straight into C or into the edge scratch (row stride NR)
  let dst = C;
  let ld = <usize>ldc << 2;
  if (!full) {
    dst = EDGE;
    ld = <usize>NR << 2;
  }
  v128.store(dst, c00);
  v128.store(dst, c01, 16);
  v128.store(dst + ld, c10);
  v128.store(dst + ld, c11, 16);
  v128.store(dst + 2 * ld, c20);
  v128.store(dst + 2 * ld, c21, 16);
  v128.store(dst + 3 * ld, c30);
  v128.store(dst + 3 * ld, c31, 16);
  if (full) return;
  const cld = <usize>ldc << 2;
  for (let r = 0; r < mr; r++) {
    for (let c = 0; c < nr; c++) {
      const p = C + <usize>r * cld + (<usize>c << 2);
      const acc = load<f32>(EDGE + (<usize>(r * NR + c) << 2));
      store<f32>(p, acc);
    }
  }
}

/** Same as microKernel, accumulating (mode 1) or blending with beta (mode 2) into C. */
function microKernelAccumulate(kc: i32, pa: usize, pb: usize, C: usize, ldc: i32, mr: i32, nr: i32, mode: i32, beta: f32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    pa += 16;
    pb += 32;
  }
  v128.store(EDGE, c00);
  v128.store(EDGE, c01, 16);
  v128.store(EDGE, c10, 32);
  v128.store(EDGE, c11, 48);
  v128.store(EDGE, c20, 64);
  v128.store(EDGE, c21, 80);
  v128.store(EDGE, c30, 96);
  v128.store(EDGE, c31, 112);
  const cld = <usize>ldc << 2;
  if (mr == MR && nr == NR) {
    const vb = f32x4.splat(beta);
    for (let r = 0; r < MR; r++) {
      const p = C + <usize>r * cld;
      const e = EDGE + (<usize>(r * NR) << 2);
      let old0 = v128.load(p);
      let old1 = v128.load(p, 16);
      if (mode == 2) {
        old0 = f32x4.mul(old0, vb);
        old1 = f32x4.mul(old1, vb);
      }
      v128.store(p, f32x4.add(old0, v128.load(e)));
      v128.store(p, f32x4.add(old1, v128.load(e, 16)), 16);
    }
    return;
  }
  for (let r = 0; r < mr; r++) {
    for (let c = 0; c < nr; c++) {
      const p = C + <usize>r * cld + (<usize>c << 2);
      const acc = load<f32>(EDGE + (<usize>(r * NR + c) << 2));
      const old = mode == 2 ? load<f32>(p) * beta : load<f32>(p);
      store<f32>(p, old + acc);
    }
  }
}

// ---- the product -------------------------------------------------------------------------------

/** C[r, c] <- beta * C[r, c] (beta = 0 writes zeros, ignoring NaN in C). */
function scaleC(M: i32, N: i32, beta: f32, C: usize, ldc: i32): void {
  for (let i = 0; i < M; i++) {
    const row = C + (<usize>(i * ldc) << 2);
    if (beta == 0) {
      memory.fill(row, 0, <usize>N << 2);
    } else if (beta != 1) {
      for (let j = 0; j < N; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) * beta);
    }
  }
}

/**
 * C[M,N] (row stride ldc) = alpha * op(A) · op(B) + beta * C, using this thread's scratch
 * (see scratch.ts) for the packed panels.
 */
export function sgemm(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  alpha: f32, A: usize, lda: i32, B: usize, ldb: i32,
  beta: f32, C: usize, ldc: i32,
): void {
  if (M <= 0 || N <= 0) return;
  const packABuf = threadScratch;
  const packBBuf = packABuf + <usize>(MC * KC * 4);
  EDGE = packBBuf + <usize>(KC * NC * 4);
  if (K <= 0 || alpha == 0) {
    scaleC(M, N, beta, C, ldc);
    return;
  }
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      packB(transB != 0, B, ldb, pc, jc, kc, nc, packBBuf);
      // the first depth block overwrites (beta = 0), blends (beta != 1) or accumulates into C
      const mode = pc > 0 || beta == 1 ? 1 : beta == 0 ? 0 : 2;
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        packA(transA != 0, A, lda, ic, pc, mc, kc, alpha, packABuf);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const pb = packBBuf + (<usize>(jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const pa = packABuf + (<usize>(ir * kc) << 2);
            const c = C + (<usize>((ic + ir) * ldc + jc + jr) << 2);
            if (mode == 0) microKernel(kc, pa, pb, c, ldc, mr, nr, mode, beta);
            else microKernelAccumulate(kc, pa, pb, c, ldc, mr, nr, mode, beta);
          }
        }
      }
    }
  }
}
