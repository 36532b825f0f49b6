// Convolution as im2col + matrix product, and pooling. Tensors are [N, C, H, W] row-major.
//
// One image's column matrix is col[K, P] with K = cIn*kh*kw rows (c, ki, kj) and P = oh*ow
// columns: col[(c*kh + ki)*kw + kj, oy*ow + ox] = x[c, oy*sh - ph + ki, ox*sw - pw + kj] (0 in the
// padding). Then y_n[cOut, P] = W[cOut, K] · col, dW += dy_n[cOut, P] · colᵀ and
// dcol = Wᵀ · dy_n folds back into dx_n (col2im). A 1x1 stride-1 unpadded convolution uses the
// image itself as its column matrix.
import { sgemm } from './gemm';
import { spmmRows, sparseWeightGrad } from './sparse';

// @ts-ignore: decorator
@inline function outSize(size: i32, k: i32, stride: i32, pad: i32): i32 {
  return (size + 2 * pad - k) / stride + 1;
}

/** col[K, P] from one image x[cIn, h, w]. Stride-1 rows are block copies with zeroed edges. */
export function im2col(
  x: usize, cIn: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, col: usize,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const P = oh * ow;
  for (let c = 0; c < cIn; c++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const row = col + (<usize>(((c * kh + ki) * kw + kj) * P) << 2);
        // output columns whose input column ix = ox*sw - pw + kj lies inside [0, w)
        let ox0 = 0;
        while (ox0 < ow && ox0 * sw - pw + kj < 0) ox0++;
        let ox1 = ow;
        while (ox1 > ox0 && (ox1 - 1) * sw - pw + kj >= w) ox1--;
        for (let oy = 0; oy < oh; oy++) {
          const dst = row + (<usize>(oy * ow) << 2);
          const iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) {
            memory.fill(dst, 0, <usize>ow << 2);
            continue;
          }
          const src = x + (<usize>((c * h + iy) * w) << 2);
          if (ox0 > 0) memory.fill(dst, 0, <usize>ox0 << 2);
          if (sw == 1) {
            if (ox1 > ox0) memory.copy(dst + (<usize>ox0 << 2), src + (<usize>(ox0 - pw + kj) << 2), <usize>(ox1 - ox0) << 2);
          } else {
            for (let ox = ox0; ox < ox1; ox++) {
              store<f32>(dst + (<usize>ox << 2), load<f32>(src + (<usize>(ox * sw - pw + kj) << 2)));
            }
          }
          if (ox1 < ow) memory.fill(dst + (<usize>ox1 << 2), 0, <usize>(ow - ox1) << 2);
        }
      }
    }
  }
}

/** dx[cIn, h, w] = Σ over the windows of col[K, P] (dx overwritten). */
export function col2im(
  col: usize, cIn: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dx: usize,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const P = oh * ow;
  memory.fill(dx, 0, <usize>(cIn * h * w) << 2);
  for (let c = 0; c < cIn; c++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const row = col + (<usize>(((c * kh + ki) * kw + kj) * P) << 2);
        let ox0 = 0;
        while (ox0 < ow && ox0 * sw - pw + kj < 0) ox0++;
        let ox1 = ow;
        while (ox1 > ox0 && (ox1 - 1) * sw - pw + kj >= w) ox1--;
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) continue;
          const src = row + (<usize>(oy * ow) << 2);
          const dst = dx + (<usize>((c * h + iy) * w) << 2);
          if (sw == 1) {
            // dx[iy, ox - pw + kj] += col[.., ox] for ox in [ox0, ox1)
            const d = dst + (<usize>(ox0 - pw + kj) << 2);
            const s = src + (<usize>ox0 << 2);
            const len = ox1 - ox0;
            let j = 0;
            for (; j + 4 <= len; j += 4) {
              const o = <usize>j << 2;
              v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(s + o)));
            }
            for (; j < len; j++) {
              const o = <usize>j << 2;
              store<f32>(d + o, load<f32>(d + o) + load<f32>(s + o));
            }
          } else {
            for (let ox = ox0; ox < ox1; ox++) {
              const p = dst + (<usize>(ox * sw - pw + kj) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>ox << 2)));
            }
          }
        }
      }
    }
  }
}

/**
 * Forward of images n0..n1: y_n[cOut, P] = W[cOut, K] · col_n + bias. Dense W (sparse = 0) or the
 * CSR copy (rowPtr, colIdx, vals). `col` is this call's [K, P] workspace.
 */
export function convForward(
  n0: i32, n1: i32, x: usize, W: usize, bias: usize,
  cIn: i32, h: i32, w: i32, cOut: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  y: usize, col: usize, sparse: i32, rowPtr: usize, colIdx: usize, vals: usize,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const P = oh * ow;
  const K = cIn * kh * kw;
  const direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  for (let n = n0; n < n1; n++) {
    const xn = x + (<usize>(n * cIn * h * w) << 2);
    const yn = y + (<usize>(n * cOut * P) << 2);
    let c = xn;
    if (!direct) {
      im2col(xn, cIn, h, w, kh, kw, sh, sw, ph, pw, col);
      c = col;
    }
    if (sparse) {
      spmmRows(rowPtr, colIdx, vals, 0, cOut, c, P, P, yn, P, bias, 0);
    } else {
      sgemm(0, 0, cOut, P, K, 1, W, K, c, P, 0, yn, P);
      if (bias != 0) {
        for (let o = 0; o < cOut; o++) {
          const b = v128.load32_splat(bias + (<usize>o << 2));
          const row = yn + (<usize>(o * P) << 2);
          let j = 0;
          for (; j + 4 <= P; j += 4) v128.store(row + (<usize>j << 2), f32x4.add(v128.load(row + (<usize>j << 2)), b));
          const bs = load<f32>(bias + (<usize>o << 2));
          for (; j < P; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) + bs);
        }
      }
    }
  }
}

/**
 * Backward of images n0..n1: dWpart[cOut, K] = Σ_n dy_n · col_nᵀ (overwritten; in the sparse case
 * only pattern positions are written), and, when dx != 0, dx_n = col2im(Wᵀ · dy_n).
 * Sparse uses CSR (rowPtr, colIdx) for dW and CSC (colPtr, rowIdx, valsT) for Wᵀ · dy.
 */
export function convBackward(
  n0: i32, n1: i32, x: usize, dy: usize, W: usize,
  cIn: i32, h: i32, w: i32, cOut: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dWpart: usize, dx: usize, col: usize,
  sparse: i32, rowPtr: usize, colIdx: usize, colPtr: usize, rowIdx: usize, valsT: usize,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const P = oh * ow;
  const K = cIn * kh * kw;
  const direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  for (let n = n0; n < n1; n++) {
    const xn = x + (<usize>(n * cIn * h * w) << 2);
    const dyn = dy + (<usize>(n * cOut * P) << 2);
    let c = xn;
    if (!direct) {
      im2col(xn, cIn, h, w, kh, kw, sh, sw, ph, pw, col);
      c = col;
    }
    const first = n == n0 ? 1 : 0;
    if (sparse) {
      sparseWeightGrad(rowPtr, colIdx, 0, cOut, dyn, P, c, P, P, dWpart, K, 1 - first);
    } else {
      sgemm(0, 1, cOut, K, P, 1, dyn, P, c, P, first ? 0 : 1, dWpart, K);
    }
    if (dx != 0) {
      const dxn = dx + (<usize>(n * cIn * h * w) << 2);
      const dcol = direct ? dxn : col;
      if (sparse) spmmRows(colPtr, rowIdx, valsT, 0, K, dyn, P, P, dcol, P, 0, 0);
      else sgemm(1, 0, K, P, cOut, 1, W, K, dyn, P, 0, dcol, P);
      if (!direct) col2im(col, cIn, h, w, kh, kw, sh, sw, ph, pw, dxn);
    }
  }
}

/**
 * dW[i] = mask[i] == 0 ? 0 : dW[i] + Σ_t part_t[i] for t < nParts, parts at base + t*stride bytes.
 * Used to reduce per-thread weight-gradient partials in a fixed order.
 */
export function addPartialsMasked(dW: usize, base: usize, stride: usize, nParts: i32, mask: usize, len: i32): void {
  for (let i = 0; i < len; i++) {
    const o = <usize>i << 2;
    let s = load<f32>(dW + o);
    for (let t = 0; t < nParts; t++) s += load<f32>(base + <usize>t * stride + o);
    store<f32>(dW + o, mask != 0 && load<f32>(mask + o) == 0 ? 0 : s);
  }
}

// ---- pooling over planes (N*C of them) of [h, w] ----------------------------------------------

export function maxPoolForward(
  x: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, y: usize, argmax: usize,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let best: f32 = -Infinity;
        let bestIndex = -1;
        for (let ki = 0; ki < kh; ki++) {
          const iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) continue;
          for (let kj = 0; kj < kw; kj++) {
            const ix = ox * sw - pw + kj;
            if (ix < 0 || ix >= w) continue;
            const index = base + iy * w + ix;
            const v = load<f32>(x + (<usize>index << 2));
            if (bestIndex == -1 || v > best || v != v) {
              best = v;
              bestIndex = index;
              if (v != v) break;
            }
          }
          if (best != best) break;
        }
        store<f32>(y + (<usize>out << 2), best);
        store<i32>(argmax + (<usize>out << 2), bestIndex);
        out++;
      }
    }
  }
}

/** dx (len elements) = scatter-add of dy[count] through argmax. */
export function maxPoolBackward(dy: usize, argmax: usize, count: i32, dx: usize, len: i32): void {
  memory.fill(dx, 0, <usize>len << 2);
  for (let i = 0; i < count; i++) {
    const p = dx + (<usize>load<i32>(argmax + (<usize>i << 2)) << 2);
    store<f32>(p, load<f32>(p) + load<f32>(dy + (<usize>i << 2)));
  }
}

export function avgPoolForward(
  x: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, y: usize,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const inv: f32 = 1 / <f32>(kh * kw); // count_include_pad
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const base = x + (<usize>(p * h * w) << 2);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let sum: f32 = 0;
        for (let ki = 0; ki < kh; ki++) {
          const iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) continue;
          for (let kj = 0; kj < kw; kj++) {
            const ix = ox * sw - pw + kj;
            if (ix < 0 || ix >= w) continue;
            sum += load<f32>(base + (<usize>(iy * w + ix) << 2));
          }
        }
        store<f32>(y + (<usize>out << 2), sum * inv);
        out++;
      }
    }
  }
}

export function avgPoolBackward(
  dy: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dx: usize,
): void {
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const inv: f32 = 1 / <f32>(kh * kw);
  memory.fill(dx, 0, <usize>(planes * h * w) << 2);
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const base = dx + (<usize>(p * h * w) << 2);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const share = load<f32>(dy + (<usize>out << 2)) * inv;
        out++;
        for (let ki = 0; ki < kh; ki++) {
          const iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) continue;
          for (let kj = 0; kj < kw; kj++) {
            const ix = ox * sw - pw + kj;
            if (ix < 0 || ix >= w) continue;
            const q = base + (<usize>(iy * w + ix) << 2);
            store<f32>(q, load<f32>(q) + share);
          }
        }
      }
    }
  }
}
