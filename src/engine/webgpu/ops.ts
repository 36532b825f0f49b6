/**
 * The webgpu kernels as typed operations on device tensors: each checks its arguments on the host
 * (lengths, offsets, aliasing), then records one or two dispatches into the runtime's current
 * batch (nothing runs until the batch is flushed by a download, an upload or `sync`). Semantics are
 * the reference backend's (src/engine/reference.ts); shapes as in src/engine/kernels.ts.
 *
 * An argument is a tensor or a view `{ tensor, offset }` starting at an element offset.
 */
import { convOutputSize, type Conv2dGeometry } from '../kernels.js';
import { GpuRuntime, GpuTensor, groups1d } from './runtime.js';
import * as k from './wgsl.js';

export interface View {
  tensor: GpuTensor;
  offset: number;
}
export type Arg = GpuTensor | View;

function view(a: Arg): View {
  return a instanceof GpuTensor ? { tensor: a, offset: 0 } : a;
}

/** Throws when a view has fewer than `length` elements (a programming error). */
function need(a: View, length: number, what: string): void {
  if (!(Number.isInteger(a.offset) && a.offset >= 0) || a.offset + length > a.tensor.length) {
    throw new Error(`webgpu kernels: ${what} needs ${length} elements from offset ${a.offset}, the tensor has ${a.tensor.length}`);
  }
}

/** Kernels that index an argument from its start take no offset parameter for it. */
function atStart(a: View, what: string): void {
  if (a.offset !== 0) throw new Error(`webgpu kernels: ${what} must start at offset 0`);
}

/** Binds batch norm's per-channel arguments ([C] each, from offset 0) under their WGSL names. */
function bindPerChannel(tensors: Record<string, GpuTensor>, C: number, args: Record<string, Arg>): void {
  for (const [name, a] of Object.entries(args)) {
    const v = view(a);
    need(v, C, name);
    atStart(v, name);
    tensors[name] = v.tensor;
  }
}

function sameElements(a: View, b: View): boolean {
  return a.tensor === b.tensor && a.offset === b.offset;
}

function outputSize(g: Conv2dGeometry): { oh: number; ow: number } {
  return { oh: convOutputSize(g.h, g.kh, g.strideH, g.padH), ow: convOutputSize(g.w, g.kw, g.strideW, g.padW) };
}

function convParams(g: Conv2dGeometry): Record<string, number> {
  const { oh, ow } = outputSize(g);
  return {
    n: g.n, cIn: g.cIn, h: g.h, w: g.w, cOut: g.cOut, kh: g.kh, kw: g.kw,
    sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW, oh, ow,
  };
}

/** Workgroups a product should have before it is worth splitting its reduction (split-K). */
const SPLIT_K_TARGET_GROUPS = 256;
/** The shortest K chunk a split workgroup sums. */
const SPLIT_K_MIN_CHUNK = 256;

/** How many K chunks a product of `tiles` output tiles and reduction length K is split into. */
export function splitKCount(tiles: number, K: number): number {
  if (tiles >= SPLIT_K_TARGET_GROUPS) return 1;
  return Math.max(1, Math.min(Math.ceil(SPLIT_K_TARGET_GROUPS / tiles), Math.floor(K / SPLIT_K_MIN_CHUNK), 64));
}

export class WebGpuOps {
  /** scratch for split-K partial sums, grown as needed */
  private scratch: GpuTensor | null = null;

  /** @param gemmTile how each product picks its GEMM tile (k.gemmTileFor); 'auto' outside tests and benchmarks */
  constructor(readonly rt: GpuRuntime, private readonly gemmTile: k.GemmTilePolicy = 'auto') {}

  /** The GEMM tile of a product C[M, N]. */
  private tile(M: number, N: number): k.GemmTile {
    return k.gemmTileFor(M, N, this.gemmTile);
  }

  private scratchOf(length: number): GpuTensor {
    if (this.scratch === null || this.scratch.length < length) {
      if (this.scratch !== null) this.rt.free(this.scratch);
      this.scratch = this.rt.tensor(length);
    }
    return this.scratch;
  }

  // ---- dense linear algebra -----------------------------------------------------------------

  /** C[M,N] = alpha·op(A)·op(B) + beta·C (beta = 0 ignores C). */
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Arg, B: Arg, beta: number, C: Arg): void {
    const a = view(A), b = view(B), c = view(C);
    need(a, M * K, 'A');
    need(b, K * N, 'B');
    need(c, M * N, 'C');
    if (M === 0 || N === 0) return;
    const tile = this.tile(M, N);
    this.rt.dispatch(
      k.gemmDef(transA, transB, 'alphaBeta', tile),
      { A: a.tensor, B: b.tensor, C: c.tensor },
      { M, N, K, aOff: a.offset, bOff: b.offset, cOff: c.offset, alpha, beta },
      k.gemmGroups(M, N, tile),
    );
  }

  // ---- masked Linear (W is already 0 under the mask) ----------------------------------------

  /** Y[N, rows] = X[N, cols] · W[rows, cols]ᵀ (+ bias[rows]). */
  linearForward(W: Arg, X: Arg, bias: Arg | null, N: number, rows: number, cols: number, Y: Arg): void {
    const w = view(W), x = view(X), y = view(Y);
    need(w, rows * cols, 'W');
    need(x, N * cols, 'X');
    need(y, N * rows, 'Y');
    if (bias === null) {
      this.sgemm(false, true, N, rows, cols, 1, x, w, 0, y);
      return;
    }
    const b = view(bias);
    need(b, rows, 'bias');
    if (N === 0 || rows === 0) return;
    const tile = this.tile(N, rows);
    this.rt.dispatch(
      k.gemmDef(false, true, 'bias', tile),
      { A: x.tensor, B: w.tensor, C: y.tensor, E: b.tensor },
      { M: N, N: rows, K: cols, aOff: x.offset, bOff: w.offset, cOff: y.offset, eOff: b.offset, alpha: 1, beta: 0 },
      k.gemmGroups(N, rows, tile),
    );
  }

  /** dX[N, cols] = dY[N, rows] · W[rows, cols]. */
  linearBackwardInput(W: Arg, dY: Arg, N: number, rows: number, cols: number, dX: Arg): void {
    this.sgemm(false, false, N, cols, rows, 1, dY, W, 0, dX);
  }

  /** dW[rows, cols] = (dY[N, rows]ᵀ · X[N, cols]) ⊙ mask, exactly 0 where the mask is 0. */
  linearBackwardWeight(mask: Arg, dY: Arg, X: Arg, N: number, rows: number, cols: number, dW: Arg): void {
    const m = view(mask), dy = view(dY), x = view(X), dw = view(dW);
    need(m, rows * cols, 'mask');
    need(dy, N * rows, 'dY');
    need(x, N * cols, 'X');
    need(dw, rows * cols, 'dW');
    if (rows === 0 || cols === 0) return;
    const tile = this.tile(rows, cols);
    this.rt.dispatch(
      k.gemmDef(true, false, 'mask', tile),
      { A: dy.tensor, B: x.tensor, C: dw.tensor, E: m.tensor },
      { M: rows, N: cols, K: N, aOff: dy.offset, bOff: x.offset, cOff: dw.offset, eOff: m.offset, alpha: 1, beta: 0 },
      k.gemmGroups(rows, cols, tile),
    );
  }

  // ---- convolution (implicit GEMM) ------------------------------------------------------------

  /** y[N, cOut, oh, ow] = conv(x, W[cOut, cIn, kh, kw]) + bias[cOut]. */
  conv2dForward(W: Arg, x: Arg, bias: Arg | null, g: Conv2dGeometry, y: Arg): void {
    const w = view(W), xv = view(x), yv = view(y);
    const { oh, ow } = outputSize(g);
    const K = g.cIn * g.kh * g.kw;
    need(w, g.cOut * K, 'W');
    need(xv, g.n * g.cIn * g.h * g.w, 'x');
    need(yv, g.n * g.cOut * oh * ow, 'y');
    const b = bias === null ? null : view(bias);
    if (b !== null) need(b, g.cOut, 'bias');
    const tensors: Record<string, GpuTensor> = { X: xv.tensor, W: w.tensor, Y: yv.tensor };
    if (b !== null) tensors.Bias = b.tensor;
    const tile = this.tile(g.cOut, g.n * oh * ow);
    this.rt.dispatch(
      k.convForwardDef(b !== null, tile),
      tensors,
      { ...convParams(g), M: g.cOut, N: g.n * oh * ow, K, xOff: xv.offset, wOff: w.offset, yOff: yv.offset, bOff: b?.offset ?? 0 },
      k.gemmGroups(g.cOut, g.n * oh * ow, tile),
    );
  }

  /**
   * From dy[N, cOut, oh, ow]: dW[cOut, cIn·kh·kw] masked (overwritten), dBias[cOut] (when given)
   * and dx[N, cIn, h, w] (when given), each one dispatch.
   */
  conv2dBackward(W: Arg, mask: Arg, x: Arg, dy: Arg, g: Conv2dGeometry, dW: Arg, dBias: Arg | null, dx: Arg | null): void {
    const w = view(W), m = view(mask), xv = view(x), dyv = view(dy), dwv = view(dW);
    const { oh, ow } = outputSize(g);
    const K = g.cIn * g.kh * g.kw;
    const P = oh * ow;
    need(w, g.cOut * K, 'W');
    need(m, g.cOut * K, 'mask');
    need(xv, g.n * g.cIn * g.h * g.w, 'x');
    need(dyv, g.n * g.cOut * P, 'dy');
    need(dwv, g.cOut * K, 'dW');
    const geometry = convParams(g);
    const dwTile = this.tile(g.cOut, K);
    const [gx, gy] = k.gemmGroups(g.cOut, K, dwTile);
    const splits = splitKCount(gx * gy, g.n * P);
    if (splits === 1) {
      this.rt.dispatch(
        k.convWeightGradDef(dwTile),
        { X: xv.tensor, DY: dyv.tensor, DW: dwv.tensor, Mask: m.tensor },
        { ...geometry, M: g.cOut, N: K, K: g.n * P, xOff: xv.offset, dyOff: dyv.offset, dwOff: dwv.offset, maskOff: m.offset },
        [gx, gy],
      );
    } else {
      const chunk = Math.ceil(g.n * P / splits / 16) * 16;
      const used = Math.ceil(g.n * P / chunk);
      const part = this.scratchOf(used * g.cOut * K);
      this.rt.dispatch(
        k.convWeightGradPartialDef(dwTile),
        { X: xv.tensor, DY: dyv.tensor, Part: part },
        { ...geometry, M: g.cOut, N: K, K: g.n * P, kChunk: chunk, xOff: xv.offset, dyOff: dyv.offset },
        [gx, gy, used],
      );
      this.rt.dispatch(k.splitKReduceMaskDef, { Part: part, Mask: m.tensor, DW: dwv.tensor },
        { len: g.cOut * K, splits: used, dwOff: dwv.offset, maskOff: m.offset }, groups1d(g.cOut * K));
    }
    if (dBias !== null) this.biasBackward(dyv, g.n, g.cOut, P, dBias);
    if (dx !== null) {
      const dxv = view(dx);
      need(dxv, g.n * g.cIn * g.h * g.w, 'dx');
      const dxTile = this.tile(g.cIn, g.n * g.h * g.w);
      this.rt.dispatch(
        k.convInputGradDef(dxTile),
        { W: w.tensor, DY: dyv.tensor, DX: dxv.tensor },
        { ...geometry, M: g.cIn, N: g.n * g.h * g.w, K: g.cOut * g.kh * g.kw, wOff: w.offset, dyOff: dyv.offset, dxOff: dxv.offset },
        k.gemmGroups(g.cIn, g.n * g.h * g.w, dxTile),
      );
    }
  }

  // ---- pooling (g.cOut = g.cIn) ----------------------------------------------------------------

  private poolParams(g: Conv2dGeometry, total: number): Record<string, number> {
    const { oh, ow } = outputSize(g);
    return { total, h: g.h, w: g.w, kh: g.kh, kw: g.kw, sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW, oh, ow };
  }

  maxPool2dForward(x: Arg, g: Conv2dGeometry, y: Arg, argmax: Arg): void {
    const xv = view(x), yv = view(y), a = view(argmax);
    const { oh, ow } = outputSize(g);
    const outputs = g.n * g.cIn * oh * ow;
    need(xv, g.n * g.cIn * g.h * g.w, 'x');
    need(yv, outputs, 'y');
    need(a, outputs, 'argmax');
    this.rt.dispatch(k.maxPoolForwardDef, { X: xv.tensor, Y: yv.tensor, Arg: a.tensor },
      { ...this.poolParams(g, outputs), xOff: xv.offset, yOff: yv.offset, aOff: a.offset }, groups1d(outputs));
  }

  maxPool2dBackward(dy: Arg, argmax: Arg, g: Conv2dGeometry, dx: Arg): void {
    const dyv = view(dy), a = view(argmax), dxv = view(dx);
    const { oh, ow } = outputSize(g);
    const inputs = g.n * g.cIn * g.h * g.w;
    need(dyv, g.n * g.cIn * oh * ow, 'dy');
    need(a, g.n * g.cIn * oh * ow, 'argmax');
    need(dxv, inputs, 'dx');
    this.rt.dispatch(k.maxPoolBackwardDef, { DY: dyv.tensor, Arg: a.tensor, DX: dxv.tensor },
      { ...this.poolParams(g, inputs), dyOff: dyv.offset, aOff: a.offset, dxOff: dxv.offset }, groups1d(inputs));
  }

  avgPool2dForward(x: Arg, g: Conv2dGeometry, y: Arg): void {
    const xv = view(x), yv = view(y);
    const { oh, ow } = outputSize(g);
    const outputs = g.n * g.cIn * oh * ow;
    need(xv, g.n * g.cIn * g.h * g.w, 'x');
    need(yv, outputs, 'y');
    this.rt.dispatch(k.avgPoolForwardDef, { X: xv.tensor, Y: yv.tensor },
      { ...this.poolParams(g, outputs), xOff: xv.offset, yOff: yv.offset }, groups1d(outputs));
  }

  avgPool2dBackward(dy: Arg, g: Conv2dGeometry, dx: Arg): void {
    const dyv = view(dy), dxv = view(dx);
    const { oh, ow } = outputSize(g);
    const inputs = g.n * g.cIn * g.h * g.w;
    need(dyv, g.n * g.cIn * oh * ow, 'dy');
    need(dxv, inputs, 'dx');
    this.rt.dispatch(k.avgPoolBackwardDef, { DY: dyv.tensor, DX: dxv.tensor },
      { ...this.poolParams(g, inputs), dyOff: dyv.offset, dxOff: dxv.offset }, groups1d(inputs));
  }

  // ---- elementwise ---------------------------------------------------------------------------

  /** y = max(x, 0) over `length` elements; y may be x. */
  reluForward(x: Arg, y: Arg, length: number): void {
    const xv = view(x), yv = view(y);
    need(xv, length, 'x');
    need(yv, length, 'y');
    if (sameElements(xv, yv)) {
      this.rt.dispatch(k.reluForwardInPlaceDef, { Y: yv.tensor }, { len: length, yOff: yv.offset }, groups1d(length));
    } else {
      this.rt.dispatch(k.reluForwardDef, { X: xv.tensor, Y: yv.tensor }, { len: length, xOff: xv.offset, yOff: yv.offset }, groups1d(length));
    }
  }

  /** dx = dy where y > 0 else 0; dx may be dy. */
  reluBackward(y: Arg, dy: Arg, dx: Arg, length: number): void {
    const yv = view(y), dyv = view(dy), dxv = view(dx);
    need(yv, length, 'y');
    need(dyv, length, 'dy');
    need(dxv, length, 'dx');
    if (sameElements(dyv, dxv)) {
      this.rt.dispatch(k.reluBackwardInPlaceDef, { Y: yv.tensor, DX: dxv.tensor }, { len: length, yOff: yv.offset, dxOff: dxv.offset }, groups1d(length));
    } else {
      this.rt.dispatch(k.reluBackwardDef, { Y: yv.tensor, DY: dyv.tensor, DX: dxv.tensor },
        { len: length, yOff: yv.offset, dyOff: dyv.offset, dxOff: dxv.offset }, groups1d(length));
    }
  }

  /** y[N, C, S] += bias[C]. */
  addBias(y: Arg, bias: Arg, N: number, C: number, S: number): void {
    const yv = view(y), b = view(bias);
    need(yv, N * C * S, 'y');
    need(b, C, 'bias');
    this.rt.dispatch(k.addBiasDef, { Y: yv.tensor, Bias: b.tensor }, { len: N * C * S, C, S, yOff: yv.offset, bOff: b.offset }, groups1d(N * C * S));
  }

  /** dBias[C] = Σ over n and s of dy[N, C, S]. */
  biasBackward(dy: Arg, N: number, C: number, S: number, dBias: Arg): void {
    const dyv = view(dy), db = view(dBias);
    need(dyv, N * C * S, 'dy');
    need(db, C, 'dBias');
    this.rt.dispatch(k.biasBackwardDef, { DY: dyv.tensor, DB: db.tensor }, { N, C, S, dyOff: dyv.offset, dbOff: db.offset }, [C]);
  }

  /** t[offset .. offset + length) = value (f32 or i32 tensors). */
  fill(t: Arg, value: number, length: number): void {
    const v = view(t);
    need(v, length, 'tensor');
    if (v.tensor.dtype === 'i32' && !Number.isInteger(value)) throw new Error(`webgpu kernels: filling an i32 tensor with ${value}`);
    this.rt.dispatch(k.fillDef(v.tensor.dtype), { T: v.tensor }, { len: length, off: v.offset, value }, groups1d(length));
  }

  /** dst[dstOffset + i] = src[srcOffset + i] for i < length (same dtype, different tensors). */
  copy(src: Arg, dst: Arg, length: number): void {
    const s = view(src), d = view(dst);
    need(s, length, 'src');
    need(d, length, 'dst');
    if (s.tensor.dtype !== d.tensor.dtype) throw new Error('webgpu kernels: copy between tensors of different dtypes');
    if (s.tensor === d.tensor) throw new Error('webgpu kernels: copy within one tensor is not supported');
    this.rt.dispatch(k.copyDef(s.tensor.dtype), { Src: s.tensor, Dst: d.tensor }, { len: length, srcOff: s.offset, dstOff: d.offset }, groups1d(length));
  }

  /** x[i] = x[i]·alpha + add for i < length. */
  affine(x: Arg, alpha: number, add: number, length: number): void {
    const v = view(x);
    need(v, length, 'x');
    this.rt.dispatch(k.affineDef, { X: v.tensor }, { len: length, off: v.offset, alpha, add }, groups1d(length));
  }

  /** y[i] += alpha·x[i] for i < length (whole tensors from 0). */
  axpy(alpha: number, x: GpuTensor, y: GpuTensor, length: number): void {
    need(view(x), length, 'x');
    need(view(y), length, 'y');
    this.rt.dispatch(k.axpyDef, { X: x, Y: y }, { len: length, alpha }, groups1d(length));
  }

  /** y[i] = |x[i]| for i < length; y may be x. */
  abs(x: GpuTensor, y: GpuTensor, length: number): void {
    need(view(x), length, 'x');
    need(view(y), length, 'y');
    if (x === y) this.rt.dispatch(k.absDef(true), { Y: y }, { len: length }, groups1d(length));
    else this.rt.dispatch(k.absDef(false), { X: x, Y: y }, { len: length }, groups1d(length));
  }

  /** x[i] = 0 where mask[i] = 0, for i < length (exactly 0, NaN included). */
  applyMask(x: GpuTensor, mask: GpuTensor, length: number): void {
    need(view(x), length, 'x');
    need(view(mask), length, 'mask');
    if (x === mask) throw new Error('webgpu kernels: applyMask with the mask as x');
    this.rt.dispatch(k.applyMaskDef, { X: x, Mask: mask }, { len: length }, groups1d(length));
  }

  /** out[outOffset] = max |x[offset + i]| over i < length (NaN when any is NaN). */
  maxAbs(x: Arg, length: number, out: Arg): void {
    const xv = view(x), o = view(out);
    need(xv, length, 'x');
    need(o, 1, 'out');
    if (xv.tensor === o.tensor) throw new Error('webgpu kernels: maxAbs into the tensor it reads');
    this.rt.dispatch(k.maxAbsDef, { X: xv.tensor, Out: o.tensor }, { len: length, off: xv.offset, outOff: o.offset }, [1]);
  }

  /** col[cIn·kh·kw, oh·ow] (from 0) of the image x[xOffset ..] of shape [cIn, h, w]. */
  im2col(x: Arg, g: Conv2dGeometry, col: GpuTensor): void {
    const xv = view(x);
    const { oh, ow } = outputSize(g);
    const len = g.cIn * g.kh * g.kw * oh * ow;
    need(xv, g.cIn * g.h * g.w, 'x');
    need(view(col), len, 'col');
    this.rt.dispatch(k.im2colDef, { X: xv.tensor, Col: col }, { ...convParams(g), xOff: xv.offset, len }, groups1d(len));
  }

  /** dx[dxOffset ..] of shape [cIn, h, w] = col2im(col[cIn·kh·kw, oh·ow]) (overwritten). */
  col2im(col: GpuTensor, g: Conv2dGeometry, dx: Arg): void {
    const dxv = view(dx);
    const { oh, ow } = outputSize(g);
    const len = g.cIn * g.h * g.w;
    need(view(col), g.cIn * g.kh * g.kw * oh * ow, 'col');
    need(dxv, len, 'dx');
    this.rt.dispatch(k.col2imDef, { Col: col, DX: dxv.tensor }, { ...convParams(g), dxOff: dxv.offset, len }, groups1d(len));
  }

  // ---- loss ------------------------------------------------------------------------------------

  /**
   * dLogits[N, C] = (softmax - onehot)/N; with stats, stats[0] += Σ loss_n and stats[1] += the
   * number of correct rows (read back every few steps).
   */
  softmaxCrossEntropy(logits: Arg, labels: Arg, N: number, C: number, dLogits: Arg, stats: Arg | null): void {
    const z = view(logits), l = view(labels), dz = view(dLogits);
    need(z, N * C, 'logits');
    need(l, N, 'labels');
    need(dz, N * C, 'dLogits');
    if (l.tensor.dtype !== 'i32') throw new Error('webgpu kernels: labels must be an i32 tensor');
    if (N === 0) return;
    const tensors: Record<string, GpuTensor> = { Z: z.tensor, Labels: l.tensor, DZ: dz.tensor };
    let accOff = 0;
    if (stats !== null) {
      const a = view(stats);
      need(a, 2, 'stats');
      tensors.Acc = a.tensor;
      accOff = a.offset;
    }
    this.rt.dispatch(k.softmaxCrossEntropyDef(stats !== null), tensors, { N, C, zOff: z.offset, lOff: l.offset, dzOff: dz.offset, accOff }, [1]);
  }

  // ---- batch norm over [N, C, S] (per-channel tensors start at offset 0) ------------------------

  batchNormForwardTrain(
    x: Arg, N: number, C: number, S: number, gamma: Arg, beta: Arg, eps: number, momentum: number,
    runningMean: Arg, runningVar: Arg, y: Arg, saveMean: Arg, saveInvStd: Arg,
  ): void {
    const xv = view(x), yv = view(y);
    need(xv, N * C * S, 'x');
    need(yv, N * C * S, 'y');
    if (N * S < 2) throw new Error('webgpu kernels: batch norm in training mode needs more than 1 value per channel');
    const perChannel = { Gamma: gamma, Beta: beta, RunMean: runningMean, RunVar: runningVar, SaveMean: saveMean, SaveInvStd: saveInvStd };
    const tensors: Record<string, GpuTensor> = { X: xv.tensor, Y: yv.tensor };
    bindPerChannel(tensors, C, perChannel);
    this.rt.dispatch(k.batchNormTrainDef, tensors, { N, C, S, eps, momentum, xOff: xv.offset, yOff: yv.offset }, [C]);
  }

  batchNormForwardEval(x: Arg, N: number, C: number, S: number, gamma: Arg, beta: Arg, eps: number, runningMean: Arg, runningVar: Arg, y: Arg): void {
    const xv = view(x), yv = view(y);
    need(xv, N * C * S, 'x');
    need(yv, N * C * S, 'y');
    const tensors: Record<string, GpuTensor> = { X: xv.tensor, Y: yv.tensor };
    bindPerChannel(tensors, C, { Gamma: gamma, Beta: beta, RunMean: runningMean, RunVar: runningVar });
    this.rt.dispatch(k.batchNormEvalDef, tensors, { len: N * C * S, C, S, eps, xOff: xv.offset, yOff: yv.offset }, groups1d(N * C * S));
  }

  batchNormBackward(
    x: Arg, dy: Arg, N: number, C: number, S: number, gamma: Arg,
    saveMean: Arg, saveInvStd: Arg, dx: Arg, dGamma: Arg, dBeta: Arg,
  ): void {
    const xv = view(x), dyv = view(dy), dxv = view(dx);
    for (const [v, name] of [[xv, 'x'], [dyv, 'dy'], [dxv, 'dx']] as const) need(v, N * C * S, name);
    const tensors: Record<string, GpuTensor> = { X: xv.tensor, DY: dyv.tensor, DX: dxv.tensor };
    bindPerChannel(tensors, C, { Gamma: gamma, SaveMean: saveMean, SaveInvStd: saveInvStd, DGamma: dGamma, DBeta: dBeta });
    this.rt.dispatch(k.batchNormBackwardDef, tensors, { N, C, S, xOff: xv.offset, dyOff: dyv.offset, dxOff: dxv.offset }, [C]);
  }

  /** Backward of evaluation mode (running statistics are constants). */
  batchNormBackwardEval(
    x: Arg, dy: Arg, N: number, C: number, S: number, gamma: Arg, eps: number,
    runningMean: Arg, runningVar: Arg, dx: Arg, dGamma: Arg, dBeta: Arg,
  ): void {
    const xv = view(x), dyv = view(dy), dxv = view(dx);
    for (const [v, name] of [[xv, 'x'], [dyv, 'dy'], [dxv, 'dx']] as const) need(v, N * C * S, name);
    const tensors: Record<string, GpuTensor> = { X: xv.tensor, DY: dyv.tensor, DX: dxv.tensor };
    bindPerChannel(tensors, C, { Gamma: gamma, RunMean: runningMean, RunVar: runningVar, DGamma: dGamma, DBeta: dBeta });
    this.rt.dispatch(k.batchNormEvalBackwardDef, tensors, { N, C, S, eps, xOff: xv.offset, dyOff: dyv.offset, dxOff: dxv.offset }, [C]);
  }

  // ---- optimisers ------------------------------------------------------------------------------

  /** torch.optim.Adam over `length` elements; `step` counts from 1. */
  adamStep(
    param: Arg, grad: Arg, m: Arg, v: Arg, mask: Arg | null, length: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void {
    if (!(step >= 1)) throw new Error(`webgpu kernels: Adam step must count from 1, got ${step}`);
    const pv = view(param), gv = view(grad), mv = view(m), vv = view(v);
    for (const [a, name] of [[pv, 'param'], [gv, 'grad'], [mv, 'm'], [vv, 'v']] as const) need(a, length, name);
    const tensors: Record<string, GpuTensor> = { P: pv.tensor, G: gv.tensor, M: mv.tensor, V: vv.tensor };
    let maskOff = 0;
    if (mask !== null) {
      const mk = view(mask);
      need(mk, length, 'mask');
      tensors.Mask = mk.tensor;
      maskOff = mk.offset;
    }
    this.rt.dispatch(k.adamDef(mask !== null), tensors, {
      len: length, pOff: pv.offset, gOff: gv.offset, mOff: mv.offset, vOff: vv.offset, maskOff,
      stepSize: lr / (1 - Math.pow(beta1, step)), beta1, beta2, eps, weightDecay, sqrtBc2: Math.sqrt(1 - Math.pow(beta2, step)),
    }, groups1d(length));
  }

  /** torch.optim.SGD over `length` elements; `step` counts from 1 (default: a later step). */
  sgdStep(
    param: Arg, grad: Arg, velocity: Arg, mask: Arg | null, length: number,
    lr: number, momentum: number, nesterov: boolean, weightDecay: number, dampening: number, step = 2,
  ): void {
    const pv = view(param), gv = view(grad), bv = view(velocity);
    for (const [a, name] of [[pv, 'param'], [gv, 'grad'], [bv, 'velocity']] as const) need(a, length, name);
    const tensors: Record<string, GpuTensor> = { P: pv.tensor, G: gv.tensor, Buf: bv.tensor };
    let maskOff = 0;
    if (mask !== null) {
      const mk = view(mask);
      need(mk, length, 'mask');
      tensors.Mask = mk.tensor;
      maskOff = mk.offset;
    }
    this.rt.dispatch(k.sgdDef(mask !== null), tensors, {
      len: length, pOff: pv.offset, gOff: gv.offset, bufOff: bv.offset, maskOff,
      lr, momentum, weightDecay, dampening, nesterov: nesterov ? 1 : 0, first: step <= 1 ? 1 : 0,
    }, groups1d(length));
  }
}
