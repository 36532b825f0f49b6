/**
 * Layers as explicit forward/backward pairs (no autograd), in the style of llm.c: each layer keeps
 * what its backward pass needs from the forward pass, and all heavy work goes through `HostKernels`.
 *
 * Conventions
 * - Activations are batch-first: [N, features] after Flatten/Linear, [N, C, H, W] for images.
 *   `inShape`/`outShape` are per example (without N).
 * - Output and input-gradient buffers are `BatchBuffer`s: allocated once per batch size.
 * - ReLU works in place (its output overwrites its input, its dx overwrites dy). This is safe
 *   because no layer here needs its own output in the backward pass (Linear, Conv2d and BatchNorm2d
 *   need their input, MaxPool2d its argmax).
 * - Linear and Conv2d weights go through a `HostMaskedWeight`: the engine picks the dense or the sparse
 *   path from the mask's density. The owning model refreshes its values before each forward.
 */
import type { Conv2dGeometry, FloatArray, HostMaskedWeight } from '../engine/kernels.js';
import { convOutputSize } from '../engine/kernels.js';
import { BatchBuffer, BatchBufferInt32, type Device } from './device.js';
import type { Param } from './param.js';
import { createParam } from './param.js';

export type Mode = 'train' | 'eval';

/** A non-trainable tensor saved in the state dict (BatchNorm running statistics). */
export interface StateBuffer<A extends FloatArray = Float32Array> {
  /** PyTorch name, e.g. `features.1.running_mean` */
  name: string;
  shape: number[];
  data: A;
  /** false for tensors PyTorch may leave out of a state dict (num_batches_tracked) */
  required: boolean;
}

export interface Layer<A extends FloatArray = Float32Array> {
  /** PyTorch module name (`fc1`, `features.0`); empty for layers without state */
  readonly name: string;
  /** short description for summaries, e.g. `Conv2d(3, 64, 3, pad 1)` */
  readonly description: string;
  readonly params: Param<A>[];
  readonly buffers: StateBuffer<A>[];
  /** per-example input and output shapes */
  readonly inShape: number[];
  readonly outShape: number[];
  /** y = layer(x); x: [N, ...inShape] -> returns [N, ...outShape] (a buffer owned by the layer) */
  forward(x: A, N: number, mode: Mode): A;
  /**
   * Given dy [N, ...outShape] for the last forward's output: fills every param.grad (overwritten)
   * and returns dx [N, ...inShape], or null when `needInputGrad` is false and the layer could skip it.
   */
  backward(dy: A, N: number, needInputGrad: boolean): A | null;
  /** elements of shared workspace needed for batch N (convolutions; 0 otherwise) */
  workspaceSize(N: number): number;
  /** the shared workspace the model allocated (at least workspaceSize(N) for the current N) */
  setWorkspace(workspace: A): void;
  /** re-reads weight values into engine structures (after optimiser steps or loads) */
  refreshWeights(): void;
  /** rebuilds engine structures after a mask change */
  maskChanged(): void;
  /** frees engine memory */
  dispose(): void;
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function shapeError(layer: string, what: string, got: number, want: number): Error {
  return new Error(`${layer}: ${what} has ${got} elements, expected ${want}`);
}

/** Base for the two weight layers: a prunable weight under a mask, plus an optional bias. */
abstract class WeightLayer<A extends FloatArray> {
  readonly params: Param<A>[];
  readonly buffers: StateBuffer<A>[] = [];
  protected masked: HostMaskedWeight;

  constructor(
    protected readonly device: Device<A>,
    readonly weight: Param<A>,
    readonly bias: Param<A> | null,
    /** the weight as a matrix: Linear [out, in], Conv [c_out, c_in*kh*kw] */
    protected readonly rows: number,
    protected readonly cols: number,
  ) {
    this.params = bias === null ? [weight] : [weight, bias];
    this.masked = device.kernels.createMaskedWeight(weight.data, weight.mask!, rows, cols);
  }

  refreshWeights(): void {
    this.masked.refreshValues();
  }

  maskChanged(): void {
    this.masked.dispose();
    this.masked = this.device.kernels.createMaskedWeight(this.weight.data, this.weight.mask!, this.rows, this.cols);
  }

  /** true when products with the weight run on the sparse path */
  get sparse(): boolean {
    return this.masked.sparse;
  }

  protected disposeWeights(): void {
    this.masked.dispose();
    for (const p of this.params) {
      this.device.free(p.data);
      this.device.free(p.grad);
      if (p.mask !== null) this.device.free(p.mask);
    }
  }
}

/**
 * Linear: y[N, out] = x[N, in] · Wᵀ + b; W [out, in] (`<name>.weight`), b [out] (`<name>.bias`).
 * backward: dW[out, in] = dyᵀ · x (masked), db[out] = Σ_n dy, dx[N, in] = dy · W.
 */
export class Linear<A extends FloatArray = Float32Array> extends WeightLayer<A> implements Layer<A> {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  private readonly y: BatchBuffer<A>;
  private readonly dx: BatchBuffer<A>;
  private x: A | null = null;

  constructor(device: Device<A>, readonly name: string, readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super(
      device,
      createParam(device, `${name}.weight`, [outFeatures, inFeatures], 'linear', true),
      bias ? createParam(device, `${name}.bias`, [outFeatures], 'bias', false) : null,
      outFeatures,
      inFeatures,
    );
    this.inShape = [inFeatures];
    this.outShape = [outFeatures];
    this.description = `Linear(${inFeatures}, ${outFeatures})`;
    this.y = new BatchBuffer(device, outFeatures);
    this.dx = new BatchBuffer(device, inFeatures);
  }

  forward(x: A, N: number): A {
    if (x.length < N * this.inFeatures) throw shapeError(this.name, 'input', x.length, N * this.inFeatures);
    const y = this.y.view(N);
    this.x = x;
    this.device.kernels.maskedForward(this.masked, x, N, this.bias?.data ?? null, y);
    return y;
  }

  backward(dy: A, N: number, needInputGrad: boolean): A | null {
    const k = this.device.kernels;
    k.maskedBackwardWeight(this.masked, dy, this.x!, N, this.weight.grad);
    if (this.bias !== null) k.biasBackward(dy, N, this.outFeatures, 1, this.bias.grad);
    if (!needInputGrad) return null;
    const dx = this.dx.view(N);
    k.maskedBackwardInput(this.masked, dy, N, dx);
    return dx;
  }

  workspaceSize(): number {
    return 0;
  }

  setWorkspace(): void {}

  dispose(): void {
    this.disposeWeights();
    this.y.dispose();
    this.dx.dispose();
  }
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
}

/**
 * Conv2d: y[N, cOut, oh, ow] = conv(x[N, cIn, h, w], W[cOut, cIn, kh, kw]) + b[cOut]
 * (cross-correlation, zero padding, as PyTorch). Names `<name>.weight`, `<name>.bias`.
 * backward: dW (masked), db, dx through the engine's im2col/col2im.
 */
export class Conv2d<A extends FloatArray = Float32Array> extends WeightLayer<A> implements Layer<A> {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  private readonly y: BatchBuffer<A>;
  private readonly dx: BatchBuffer<A>;
  private readonly stride: number;
  private readonly padding: number;
  private x: A | null = null;
  private workspace: A | null = null;

  constructor(
    device: Device<A>, readonly name: string, inShape: [number, number, number], readonly outChannels: number,
    readonly kernelSize: number, opts: Conv2dOptions = {},
  ) {
    const [cIn] = inShape;
    super(
      device,
      createParam(device, `${name}.weight`, [outChannels, cIn, kernelSize, kernelSize], 'conv', true),
      (opts.bias ?? true) ? createParam(device, `${name}.bias`, [outChannels], 'bias', false) : null,
      outChannels,
      cIn * kernelSize * kernelSize,
    );
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const oh = convOutputSize(inShape[1], kernelSize, this.stride, this.padding);
    const ow = convOutputSize(inShape[2], kernelSize, this.stride, this.padding);
    if (oh < 1 || ow < 1) throw new Error(`${name}: input ${inShape.join('x')} is too small for a ${kernelSize}x${kernelSize} kernel`);
    this.inShape = [...inShape];
    this.outShape = [outChannels, oh, ow];
    this.description = `Conv2d(${cIn}, ${outChannels}, ${kernelSize}, stride ${this.stride}, pad ${this.padding})`;
    this.y = new BatchBuffer(device, product(this.outShape));
    this.dx = new BatchBuffer(device, product(this.inShape));
  }

  geometry(N: number): Conv2dGeometry {
    const [cIn, h, w] = this.inShape;
    return {
      n: N, cIn, h, w, cOut: this.outChannels, kh: this.kernelSize, kw: this.kernelSize,
      strideH: this.stride, strideW: this.stride, padH: this.padding, padW: this.padding,
    };
  }

  forward(x: A, N: number): A {
    const want = N * product(this.inShape);
    if (x.length < want) throw shapeError(this.name, 'input', x.length, want);
    const y = this.y.view(N);
    this.x = x;
    this.device.kernels.conv2dForward(this.masked, x, this.bias?.data ?? null, this.geometry(N), y, this.workspace!);
    return y;
  }

  backward(dy: A, N: number, needInputGrad: boolean): A | null {
    const dx = needInputGrad ? this.dx.view(N) : null;
    this.device.kernels.conv2dBackward(
      this.masked, this.x!, dy, this.geometry(N), this.weight.grad, this.bias?.grad ?? null, dx, this.workspace!,
    );
    return dx;
  }

  workspaceSize(N: number): number {
    return this.device.kernels.conv2dWorkspaceSize(this.geometry(N));
  }

  setWorkspace(workspace: A): void {
    this.workspace = workspace;
  }

  dispose(): void {
    this.disposeWeights();
    this.y.dispose();
    this.dx.dispose();
  }
}

/** Base for layers without parameters. */
abstract class StatelessLayer<A extends FloatArray> {
  readonly name: string = '';
  readonly params: Param<A>[] = [];
  readonly buffers: StateBuffer<A>[] = [];
  workspaceSize(): number {
    return 0;
  }
  setWorkspace(): void {}
  refreshWeights(): void {}
  maskChanged(): void {}
}

/**
 * What max and average pooling share: the window geometry over [N, C, h, w] input, the output
 * shape [C, oh, ow] and the output / input-gradient buffers.
 */
abstract class Pool2d<A extends FloatArray> extends StatelessLayer<A> {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  protected readonly y: BatchBuffer<A>;
  protected readonly dx: BatchBuffer<A>;
  protected readonly stride: number;

  constructor(protected readonly device: Device<A>, kind: string, inShape: [number, number, number], readonly kernelSize: number, stride: number | undefined, readonly padding: number) {
    super();
    this.stride = stride ?? kernelSize;
    const [c, h, w] = inShape;
    const oh = convOutputSize(h, kernelSize, this.stride, padding);
    const ow = convOutputSize(w, kernelSize, this.stride, padding);
    if (oh < 1 || ow < 1) throw new Error(`${kind}(${kernelSize}): input ${inShape.join('x')} is too small`);
    this.inShape = [...inShape];
    this.outShape = [c, oh, ow];
    this.description = `${kind}(${kernelSize}, stride ${this.stride}, pad ${padding})`;
    this.y = new BatchBuffer(device, product(this.outShape));
    this.dx = new BatchBuffer(device, product(this.inShape));
  }

  protected geometry(N: number): Conv2dGeometry {
    const [c, h, w] = this.inShape;
    return { n: N, cIn: c, h, w, cOut: c, kh: this.kernelSize, kw: this.kernelSize, strideH: this.stride, strideW: this.stride, padH: this.padding, padW: this.padding };
  }

  dispose(): void {
    this.y.dispose();
    this.dx.dispose();
  }
}

/**
 * MaxPool2d(kernel, stride = kernel, padding = 0): y[N, C, oh, ow] = max over each window.
 * backward: dy routed to the argmax of each window (ties: the first maximum, as the kernel chooses).
 */
export class MaxPool2d<A extends FloatArray = Float32Array> extends Pool2d<A> implements Layer<A> {
  private readonly argmax: BatchBufferInt32;

  constructor(device: Device<A>, inShape: [number, number, number], kernelSize: number, stride?: number, padding = 0) {
    super(device, 'MaxPool2d', inShape, kernelSize, stride, padding);
    this.argmax = new BatchBufferInt32(device, product(this.outShape));
  }

  forward(x: A, N: number): A {
    const y = this.y.view(N);
    this.device.kernels.maxPool2dForward(x, this.geometry(N), y, this.argmax.view(N));
    return y;
  }

  backward(dy: A, N: number): A {
    const dx = this.dx.view(N);
    this.device.kernels.maxPool2dBackward(dy, this.argmax.view(N), this.geometry(N), dx);
    return dx;
  }

  override dispose(): void {
    super.dispose();
    this.argmax.dispose();
  }
}

/**
 * AvgPool2d(kernel, stride = kernel, padding = 0): y = mean over each window, padding counted as
 * zeros (PyTorch count_include_pad=True). backward spreads dy / (kernel²) over each window.
 */
export class AvgPool2d<A extends FloatArray = Float32Array> extends Pool2d<A> implements Layer<A> {
  constructor(device: Device<A>, inShape: [number, number, number], kernelSize: number, stride?: number, padding = 0) {
    super(device, 'AvgPool2d', inShape, kernelSize, stride, padding);
  }

  forward(x: A, N: number): A {
    const y = this.y.view(N);
    this.device.kernels.avgPool2dForward(x, this.geometry(N), y);
    return y;
  }

  backward(dy: A, N: number): A {
    const dx = this.dx.view(N);
    this.device.kernels.avgPool2dBackward(dy, this.geometry(N), dx);
    return dx;
  }
}

/** ReLU, in place: y = max(x, 0) overwrites x; dx = dy·[y > 0] overwrites dy. */
export class ReLU<A extends FloatArray = Float32Array> extends StatelessLayer<A> implements Layer<A> {
  readonly description = 'ReLU';
  readonly inShape: number[];
  readonly outShape: number[];
  private y: A | null = null;

  constructor(private readonly device: Device<A>, shape: number[]) {
    super();
    this.inShape = [...shape];
    this.outShape = [...shape];
  }

  forward(x: A, N: number): A {
    const y = (x.length === N * product(this.inShape) ? x : x.subarray(0, N * product(this.inShape))) as A;
    this.device.kernels.reluForward(y, y);
    this.y = y;
    return y;
  }

  backward(dy: A): A {
    this.device.kernels.reluBackward(this.y!, dy, dy);
    return dy;
  }

  dispose(): void {}
}

/** Flatten [N, C, H, W] -> [N, C*H*W]: the same memory, row-major, as torch.flatten(x, 1). */
export class Flatten<A extends FloatArray = Float32Array> extends StatelessLayer<A> implements Layer<A> {
  readonly description = 'Flatten';
  readonly inShape: number[];
  readonly outShape: number[];

  constructor(shape: number[]) {
    super();
    this.inShape = [...shape];
    this.outShape = [product(shape)];
  }

  forward(x: A): A {
    return x;
  }

  backward(dy: A): A {
    return dy;
  }

  dispose(): void {}
}

/**
 * BatchNorm2d(C) over x[N, C, H, W] (S = H*W), PyTorch defaults eps 1e-5, momentum 0.1.
 * Parameters `<name>.weight` (gamma, 1) and `<name>.bias` (beta, 0); buffers `<name>.running_mean`
 * (0), `<name>.running_var` (1), `<name>.num_batches_tracked` (0, counted in train mode).
 * train: batch statistics, running stats updated; eval: running statistics (an affine map per
 * channel). Backward follows whichever mode the last forward ran in.
 */
export class BatchNorm2d<A extends FloatArray = Float32Array> implements Layer<A> {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  readonly params: Param<A>[];
  readonly buffers: StateBuffer<A>[];
  readonly weight: Param<A>;
  readonly bias: Param<A>;
  readonly runningMean: A;
  readonly runningVar: A;
  readonly numBatchesTracked: A;
  private readonly y: BatchBuffer<A>;
  private readonly dx: BatchBuffer<A>;
  private readonly saveMean: A;
  private readonly saveInvStd: A;
  private x: A | null = null;
  private lastMode: Mode = 'train';

  constructor(private readonly device: Device<A>, readonly name: string, shape: [number, number, number], readonly eps = 1e-5, readonly momentum = 0.1) {
    const [c] = shape;
    this.inShape = [...shape];
    this.outShape = [...shape];
    this.description = `BatchNorm2d(${c})`;
    this.weight = createParam(device, `${name}.weight`, [c], 'batchnorm', false);
    this.bias = createParam(device, `${name}.bias`, [c], 'batchnorm', false);
    this.weight.data.fill(1);
    this.params = [this.weight, this.bias];
    this.runningMean = device.alloc(c);
    this.runningVar = device.alloc(c);
    this.runningVar.fill(1);
    this.numBatchesTracked = device.alloc(1);
    this.buffers = [
      { name: `${name}.running_mean`, shape: [c], data: this.runningMean, required: true },
      { name: `${name}.running_var`, shape: [c], data: this.runningVar, required: true },
      { name: `${name}.num_batches_tracked`, shape: [], data: this.numBatchesTracked, required: false },
    ];
    this.saveMean = device.alloc(c);
    this.saveInvStd = device.alloc(c);
    this.y = new BatchBuffer(device, product(shape));
    this.dx = new BatchBuffer(device, product(shape));
  }

  forward(x: A, N: number, mode: Mode): A {
    const [C, H, W] = this.inShape;
    const y = this.y.view(N);
    const k = this.device.kernels;
    this.x = x;
    this.lastMode = mode;
    if (mode === 'train') {
      k.batchNormForwardTrain(
        x, N, C, H * W, this.weight.data, this.bias.data, this.eps, this.momentum,
        this.runningMean, this.runningVar, y, this.saveMean, this.saveInvStd,
      );
      this.numBatchesTracked[0] += 1;
    } else {
      k.batchNormForwardEval(x, N, C, H * W, this.weight.data, this.bias.data, this.eps, this.runningMean, this.runningVar, y);
    }
    return y;
  }

  backward(dy: A, N: number): A {
    const [C, H, W] = this.inShape;
    const dx = this.dx.view(N);
    if (this.lastMode === 'train') {
      this.device.kernels.batchNormBackward(
        this.x!, dy, N, C, H * W, this.weight.data, this.saveMean, this.saveInvStd, dx, this.weight.grad, this.bias.grad,
      );
    } else {
      this.backwardEval(dy, N, dx);
    }
    return dx;
  }

  /**
   * Backward of the eval-mode map y = gamma·(x - mean)·invStd + beta with fixed running stats:
   * dx = dy·gamma·invStd, dGamma = Σ dy·(x - mean)·invStd, dBeta = Σ dy. Needed only for
   * SynFlow scores (BN in eval mode); a single elementwise pass, so written here rather than as a
   * kernel.
   */
  private backwardEval(dy: A, N: number, dx: A): void {
    const [C, H, W] = this.inShape;
    const S = H * W;
    const x = this.x!;
    const gamma = this.weight.data;
    const dGamma = this.weight.grad;
    const dBeta = this.bias.grad;
    for (let c = 0; c < C; c++) {
      const mean = this.runningMean[c];
      const invStd = 1 / Math.sqrt(this.runningVar[c] + this.eps);
      const scale = gamma[c] * invStd;
      let sumDy = 0;
      let sumDyXhat = 0;
      for (let n = 0; n < N; n++) {
        const base = (n * C + c) * S;
        for (let s = 0; s < S; s++) {
          const g = dy[base + s];
          sumDy += g;
          sumDyXhat += g * (x[base + s] - mean) * invStd;
          dx[base + s] = g * scale;
        }
      }
      dGamma[c] = sumDyXhat;
      dBeta[c] = sumDy;
    }
  }

  workspaceSize(): number {
    return 0;
  }
  setWorkspace(): void {}
  refreshWeights(): void {}
  maskChanged(): void {}

  dispose(): void {
    for (const a of [this.weight.data, this.weight.grad, this.bias.data, this.bias.grad, this.runningMean, this.runningVar, this.numBatchesTracked, this.saveMean, this.saveInvStd]) {
      this.device.free(a);
    }
    this.y.dispose();
    this.dx.dispose();
  }
}
