/**
 * The `webgpu` backend: the engine contract (`Kernels`, src/engine/kernels.ts) on the WGSL
 * kernels of src/engine/webgpu/. Tensors are storage buffers; every kernel call is recorded into
 * the runtime's current command batch and nothing is sent until a transfer (`upload`, `download`)
 * needs it, so a training step (upload the batch, forward, backward, optimiser) is two submits.
 *
 * Differences from the CPU backends that the contract allows: masked weights always run dense
 * (`density` is NaN: the mask is never read back); the convolutions need no workspace
 * (`conv2dWorkspaceSize` is 0: they are implicit GEMMs); a label outside [0, C) gives a NaN loss
 * instead of an error.
 */
import type { Conv2dGeometry, DType, Kernels, MaskedWeight, Tensor } from '../kernels.js';
import { acquireWebGpu, type AcquireOptions, type AdapterDescription, type WebGpuContext } from './adapter.js';
import { WebGpuOps } from './ops.js';
import { GpuRuntime, GpuTensor } from './runtime.js';
import type { GemmTilePolicy } from './wgsl.js';

class GpuMaskedWeight implements MaskedWeight {
  readonly density = NaN;
  readonly sparse = false;
  constructor(
    /** W[rows, cols], 0 under the mask, read live by every product */
    readonly W: GpuTensor,
    readonly mask: GpuTensor,
    readonly rows: number,
    readonly cols: number,
  ) {}
  refreshValues(): void {}
  dispose(): void {}
}

function gpu(t: Tensor): GpuTensor {
  if (!(t instanceof GpuTensor)) throw new Error('webgpu kernels: the tensor was made by another backend');
  return t;
}

function masked(mw: MaskedWeight): GpuMaskedWeight {
  if (!(mw instanceof GpuMaskedWeight)) throw new Error('webgpu kernels: the MaskedWeight was made by another backend');
  return mw;
}

function at(t: Tensor, offset = 0): { tensor: GpuTensor; offset: number } {
  return { tensor: gpu(t), offset };
}

export interface WebGpuKernels extends Kernels {
  readonly name: 'webgpu';
  /** the adapter the device was opened on */
  readonly adapter: AdapterDescription;
  /** the runtime (for benchmarks: submit and dispatch counts) */
  readonly runtime: GpuRuntime;
  /** Sends recorded work and waits for the GPU (benchmarks time with it). */
  sync(): Promise<void>;
}

class WebGpuBackend implements WebGpuKernels {
  readonly name = 'webgpu' as const;
  readonly threads = 1;
  readonly runtime: GpuRuntime;
  private readonly ops: WebGpuOps;
  private closed = false;

  constructor(private readonly ctx: WebGpuContext, gemmTile: GemmTilePolicy = 'auto') {
    this.runtime = new GpuRuntime(ctx.device);
    this.ops = new WebGpuOps(this.runtime, gemmTile);
  }

  get adapter(): AdapterDescription {
    return this.ctx.adapter;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.runtime.sync().catch(() => undefined);
    this.ctx.destroy();
  }

  sync(): Promise<void> {
    return this.runtime.sync();
  }

  // ---- tensors and transfers --------------------------------------------------------------

  tensor(length: number, dtype: DType = 'f32'): Tensor {
    return this.runtime.tensor(length, dtype);
  }

  free(t: Tensor): void {
    this.runtime.free(gpu(t));
  }

  upload(t: Tensor, data: ArrayLike<number>, offset = 0): void {
    const g = gpu(t);
    let typed: Float32Array | Int32Array;
    if (g.dtype === 'f32') typed = data instanceof Float32Array ? data : Float32Array.from(data);
    else typed = data instanceof Int32Array ? data : Int32Array.from(data);
    this.runtime.upload(g, typed, offset);
  }

  download(t: Tensor, offset = 0, length?: number): Promise<Float32Array> {
    const g = gpu(t);
    if (g.dtype !== 'f32') throw new Error('webgpu kernels: download of an i32 tensor (use downloadInt32)');
    return this.runtime.download(g, offset, length ?? g.length - offset);
  }

  downloadInt32(t: Tensor, offset = 0, length?: number): Promise<Int32Array> {
    const g = gpu(t);
    if (g.dtype !== 'i32') throw new Error('webgpu kernels: downloadInt32 of an f32 tensor');
    return this.runtime.downloadInt32(g, offset, length ?? g.length - offset);
  }

  // ---- small elementwise kernels ----------------------------------------------------------

  fill(t: Tensor, value: number, offset = 0, length?: number): void {
    this.ops.fill(at(t, offset), value, length ?? t.length - offset);
  }

  copy(src: Tensor, dst: Tensor, n: number, srcOffset = 0, dstOffset = 0): void {
    this.ops.copy(at(src, srcOffset), at(dst, dstOffset), n);
  }

  scale(x: Tensor, alpha: number, n: number, offset = 0): void {
    this.ops.affine(at(x, offset), alpha, 0, n);
  }

  addScalar(x: Tensor, value: number, n: number, offset = 0): void {
    this.ops.affine(at(x, offset), 1, value, n);
  }

  axpy(alpha: number, x: Tensor, y: Tensor, n: number): void {
    this.ops.axpy(alpha, gpu(x), gpu(y), n);
  }

  abs(x: Tensor, y: Tensor, n: number): void {
    this.ops.abs(gpu(x), gpu(y), n);
  }

  applyMask(x: Tensor, mask: Tensor, n: number): void {
    this.ops.applyMask(gpu(x), gpu(mask), n);
  }

  maxAbs(x: Tensor, n: number, out: Tensor, outOffset = 0, offset = 0): void {
    this.ops.maxAbs(at(x, offset), n, at(out, outOffset));
  }

  // ---- dense linear algebra -----------------------------------------------------------------

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor,
    aOffset = 0, bOffset = 0, cOffset = 0,
  ): void {
    this.ops.sgemm(transA, transB, M, N, K, alpha, at(A, aOffset), at(B, bOffset), beta, at(C, cOffset));
  }

  // ---- masked weights -----------------------------------------------------------------------

  createMaskedWeight(W: Tensor, mask: Tensor, rows: number, cols: number): MaskedWeight {
    const w = gpu(W), m = gpu(mask);
    if (w.length < rows * cols || m.length < rows * cols) throw new Error(`webgpu kernels: W or mask is shorter than ${rows}x${cols}`);
    return new GpuMaskedWeight(w, m, rows, cols);
  }

  maskedForward(mw: MaskedWeight, X: Tensor, N: number, bias: Tensor | null, Y: Tensor): void {
    const w = masked(mw);
    this.ops.linearForward(w.W, gpu(X), bias === null ? null : gpu(bias), N, w.rows, w.cols, gpu(Y));
  }

  maskedBackwardInput(mw: MaskedWeight, dY: Tensor, N: number, dX: Tensor): void {
    const w = masked(mw);
    this.ops.linearBackwardInput(w.W, gpu(dY), N, w.rows, w.cols, gpu(dX));
  }

  maskedBackwardWeight(mw: MaskedWeight, dY: Tensor, X: Tensor, N: number, dW: Tensor): void {
    const w = masked(mw);
    this.ops.linearBackwardWeight(w.mask, gpu(dY), gpu(X), N, w.rows, w.cols, gpu(dW));
  }

  // ---- convolution ---------------------------------------------------------------------------

  im2col(x: Tensor, xOffset: number, g: Conv2dGeometry, col: Tensor): void {
    this.ops.im2col(at(x, xOffset), g, gpu(col));
  }

  col2im(col: Tensor, g: Conv2dGeometry, dx: Tensor, dxOffset: number): void {
    this.ops.col2im(gpu(col), g, at(dx, dxOffset));
  }

  conv2dForward(mw: MaskedWeight, x: Tensor, bias: Tensor | null, g: Conv2dGeometry, y: Tensor): void {
    const w = masked(mw);
    this.checkConvWeight(w, g);
    this.ops.conv2dForward(w.W, gpu(x), bias === null ? null : gpu(bias), g, gpu(y));
  }

  conv2dBackward(
    mw: MaskedWeight, x: Tensor, dy: Tensor, g: Conv2dGeometry,
    dW: Tensor, dBias: Tensor | null, dx: Tensor | null,
  ): void {
    const w = masked(mw);
    this.checkConvWeight(w, g);
    this.ops.conv2dBackward(w.W, w.mask, gpu(x), gpu(dy), g, gpu(dW), dBias === null ? null : gpu(dBias), dx === null ? null : gpu(dx));
  }

  private checkConvWeight(w: GpuMaskedWeight, g: Conv2dGeometry): void {
    if (w.rows !== g.cOut || w.cols !== g.cIn * g.kh * g.kw) throw new Error('webgpu kernels: conv weight shape does not match the geometry');
  }

  /** Implicit GEMM: no im2col buffer is needed. */
  conv2dWorkspaceSize(): number {
    return 0;
  }

  // ---- pooling -------------------------------------------------------------------------------

  maxPool2dForward(x: Tensor, g: Conv2dGeometry, y: Tensor, argmax: Tensor): void {
    this.ops.maxPool2dForward(gpu(x), g, gpu(y), gpu(argmax));
  }

  maxPool2dBackward(dy: Tensor, argmax: Tensor, g: Conv2dGeometry, dx: Tensor): void {
    this.ops.maxPool2dBackward(gpu(dy), gpu(argmax), g, gpu(dx));
  }

  avgPool2dForward(x: Tensor, g: Conv2dGeometry, y: Tensor): void {
    this.ops.avgPool2dForward(gpu(x), g, gpu(y));
  }

  avgPool2dBackward(dy: Tensor, g: Conv2dGeometry, dx: Tensor): void {
    this.ops.avgPool2dBackward(gpu(dy), g, gpu(dx));
  }

  // ---- activations and bias --------------------------------------------------------------------

  reluForward(x: Tensor, y: Tensor, n: number): void {
    this.ops.reluForward(gpu(x), gpu(y), n);
  }

  reluBackward(y: Tensor, dy: Tensor, dx: Tensor, n: number): void {
    this.ops.reluBackward(gpu(y), gpu(dy), gpu(dx), n);
  }

  addBias(y: Tensor, bias: Tensor, N: number, C: number, S: number): void {
    this.ops.addBias(gpu(y), gpu(bias), N, C, S);
  }

  biasBackward(dy: Tensor, N: number, C: number, S: number, dBias: Tensor): void {
    this.ops.biasBackward(gpu(dy), N, C, S, gpu(dBias));
  }

  // ---- loss ------------------------------------------------------------------------------------

  softmaxCrossEntropy(logits: Tensor, labels: Tensor, N: number, C: number, dLogits: Tensor, stats: Tensor | null, statsOffset = 0): void {
    this.ops.softmaxCrossEntropy(gpu(logits), gpu(labels), N, C, gpu(dLogits), stats === null ? null : at(stats, statsOffset));
  }

  // ---- batch norm ------------------------------------------------------------------------------

  batchNormForwardTrain(
    x: Tensor, N: number, C: number, S: number, gamma: Tensor, beta: Tensor, eps: number, momentum: number,
    runningMean: Tensor, runningVar: Tensor, y: Tensor, saveMean: Tensor, saveInvStd: Tensor,
  ): void {
    this.ops.batchNormForwardTrain(gpu(x), N, C, S, gpu(gamma), gpu(beta), eps, momentum, gpu(runningMean), gpu(runningVar), gpu(y), gpu(saveMean), gpu(saveInvStd));
  }

  batchNormForwardEval(
    x: Tensor, N: number, C: number, S: number, gamma: Tensor, beta: Tensor, eps: number,
    runningMean: Tensor, runningVar: Tensor, y: Tensor,
  ): void {
    this.ops.batchNormForwardEval(gpu(x), N, C, S, gpu(gamma), gpu(beta), eps, gpu(runningMean), gpu(runningVar), gpu(y));
  }

  batchNormBackward(
    x: Tensor, dy: Tensor, N: number, C: number, S: number, gamma: Tensor,
    saveMean: Tensor, saveInvStd: Tensor, dx: Tensor, dGamma: Tensor, dBeta: Tensor,
  ): void {
    this.ops.batchNormBackward(gpu(x), gpu(dy), N, C, S, gpu(gamma), gpu(saveMean), gpu(saveInvStd), gpu(dx), gpu(dGamma), gpu(dBeta));
  }

  batchNormBackwardEval(
    x: Tensor, dy: Tensor, N: number, C: number, S: number, gamma: Tensor, eps: number,
    runningMean: Tensor, runningVar: Tensor, dx: Tensor, dGamma: Tensor, dBeta: Tensor,
  ): void {
    this.ops.batchNormBackwardEval(gpu(x), gpu(dy), N, C, S, gpu(gamma), eps, gpu(runningMean), gpu(runningVar), gpu(dx), gpu(dGamma), gpu(dBeta));
  }

  // ---- optimisers ------------------------------------------------------------------------------

  adamStep(
    param: Tensor, grad: Tensor, m: Tensor, v: Tensor, mask: Tensor | null,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void {
    this.ops.adamStep(gpu(param), gpu(grad), gpu(m), gpu(v), mask === null ? null : gpu(mask), param.length, lr, beta1, beta2, eps, weightDecay, step);
  }

  sgdStep(
    param: Tensor, grad: Tensor, velocity: Tensor, mask: Tensor | null,
    lr: number, momentum: number, nesterov: boolean, weightDecay: number, dampening: number, step?: number,
  ): void {
    this.ops.sgdStep(gpu(param), gpu(grad), gpu(velocity), mask === null ? null : gpu(mask), param.length, lr, momentum, nesterov, weightDecay, dampening, step);
  }
}

/**
 * The webgpu backend on the best adapter allowed (see adapter.ts), or null when there is none.
 * Loads Dawn on first use. `gemmTile` fixes the GEMM tile of every product (tests and benchmarks
 * compare the two); the default 'auto' picks it per product (wgsl.ts, gemmTileFor).
 */
export async function createWebGpuKernels(opts: AcquireOptions & { gemmTile?: GemmTilePolicy } = {}): Promise<WebGpuKernels | null> {
  const ctx = await acquireWebGpu(opts);
  return ctx === null ? null : new WebGpuBackend(ctx, opts.gemmTile);
}
