/**
 * Layers as explicit forward/backward pairs (no autograd), in the style of llm.c: each layer keeps
 * what its backward pass needs from the forward pass, and all work goes through `Kernels`.
 * Activations, parameters and gradients are engine tensors (device-resident handles,
 * src/engine/kernels.ts): a layer never reads values on the host, so the same code runs on every
 * backend (and in float64 on the reference kernels for the gradient checks).
 *
 * Conventions
 * - Activations are batch-first: [N, features] after Flatten/Linear, [N, C, H, W] for images.
 *   `inShape`/`outShape` are per example (without N).
 * - Output and input-gradient buffers are `BatchBuffer`s: allocated once per batch size.
 * - ReLU works in place (its output overwrites its input, its dx overwrites dy). This is safe
 *   because no layer here needs its own output in the backward pass (Linear, Conv2d and BatchNorm2d
 *   need their input, MaxPool2d its argmax).
 * - Linear and Conv2d weights go through a `MaskedWeight`: the engine picks the dense or the sparse
 *   path from the mask's density. The owning model refreshes its values before each forward.
 */
import type { Conv2dGeometry, MaskedWeight, Tensor } from '../engine/kernels.js';
import { convOutputSize } from '../engine/kernels.js';
import { BatchBuffer, BatchBufferInt32, type Device } from './device.js';
import type { Param } from './param.js';
import { createParam } from './param.js';

export type Mode = 'train' | 'eval';

/** Tensor non-trainable tensor saved in the state dict (BatchNorm running statistics). */
export interface StateBuffer {
  /** PyTorch name, e.g. `features.1.running_mean` */
  name: string;
  shape: number[];
  data: Tensor;
  /** false for tensors PyTorch may leave out of a state dict (num_batches_tracked) */
  required: boolean;
}

export interface Layer {
  /** PyTorch module name (`fc1`, `features.0`); empty for layers without state */
  readonly name: string;
  /** short description for summaries, e.g. `Conv2d(3, 64, 3, pad 1)` */
  readonly description: string;
  readonly params: Param[];
  readonly buffers: StateBuffer[];
  /** per-example input and output shapes */
  readonly inShape: number[];
  readonly outShape: number[];
  /** y = layer(x); x: [N, ...inShape] -> returns [N, ...outShape] (a buffer owned by the layer) */
  forward(x: Tensor, N: number, mode: Mode): Tensor;
  /**
   * Given dy [N, ...outShape] for the last forward's output: fills every param.grad (overwritten)
   * and returns dx [N, ...inShape], or null when `needInputGrad` is false and the layer could skip it.
   */
  backward(dy: Tensor, N: number, needInputGrad: boolean): Tensor | null;
  /** elements of shared workspace needed for batch N (convolutions; 0 otherwise) */
  workspaceSize(N: number): number;
  /** the shared workspace the model allocated (at least workspaceSize(N) for the current N) */
  setWorkspace(workspace: Tensor): void;
  /** re-reads weight values into engine structures (after optimiser steps or loads) */
  refreshWeights(): void;
  /** rebuilds engine structures after a mask change */
  maskChanged(): void;
  /** frees engine memory */
  dispose(): void;
  /**
   * How the layer behaves under SynFlow's rescaling (src/prune/scores.ts, Sequential.synflowPass):
   * - 'homogeneous': f(s·x) = s·f(x) for s > 0 (ReLU, pooling, flatten): nothing to do;
   * - 'affine': an affine map whose additive terms scaleShift(s) multiplies by s, so that
   *   f'(s·x) = s·f(x) (BatchNorm2d in eval mode);
   * - 'rescale': as 'affine', and a rescaling point: after its forward the model multiplies its
   *   output by a power of two c and calls scaleWeights(c) (Linear, Conv2d);
   * - 'unknown': SynFlow refuses the model.
   */
  readonly synflow: 'homogeneous' | 'affine' | 'rescale' | 'unknown';
  /** multiplies the additive terms (bias; BN beta and running mean) by s ('affine', 'rescale') */
  scaleShift?(s: number): void;
  /** multiplies the weight and the bias by c and refreshes the engine copies ('rescale') */
  scaleWeights?(c: number): void;
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function shapeError(layer: string, what: string, got: number, want: number): Error {
  return new Error(`${layer}: ${what} has ${got} elements, expected ${want}`);
}

/** Base for the two weight layers: a prunable weight under a mask, plus an optional bias. */
abstract class WeightLayer {
  readonly params: Param[];
  readonly buffers: StateBuffer[] = [];
  protected masked: MaskedWeight;

  constructor(
    protected readonly device: Device,
    readonly weight: Param,
    readonly bias: Param | null,
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

  readonly synflow = 'rescale' as const;

  scaleShift(s: number): void {
    if (this.bias !== null && s !== 1) this.device.kernels.scale(this.bias.data, s, this.rows);
  }

  scaleWeights(c: number): void {
    if (c === 1) return;
    this.device.kernels.scale(this.weight.data, c, this.rows * this.cols);
    if (this.bias !== null) this.device.kernels.scale(this.bias.data, c, this.rows);
    this.masked.refreshValues();
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
export class Linear extends WeightLayer implements Layer {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  private readonly y: BatchBuffer;
  private readonly dx: BatchBuffer;
  private x: Tensor | null = null;

  constructor(device: Device, readonly name: string, readonly inFeatures: number, readonly outFeatures: number, bias = true) {
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

  forward(x: Tensor, N: number): Tensor {
    if (x.length < N * this.inFeatures) throw shapeError(this.name, 'input', x.length, N * this.inFeatures);
    const y = this.y.view(N);
    this.x = x;
    this.device.kernels.maskedForward(this.masked, x, N, this.bias?.data ?? null, y);
    return y;
  }

  backward(dy: Tensor, N: number, needInputGrad: boolean): Tensor | null {
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
export class Conv2d extends WeightLayer implements Layer {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  private readonly y: BatchBuffer;
  private readonly dx: BatchBuffer;
  private readonly stride: number;
  private readonly padding: number;
  private x: Tensor | null = null;
  private workspace: Tensor | null = null;

  constructor(
    device: Device, readonly name: string, inShape: [number, number, number], readonly outChannels: number,
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

  forward(x: Tensor, N: number): Tensor {
    const want = N * product(this.inShape);
    if (x.length < want) throw shapeError(this.name, 'input', x.length, want);
    const y = this.y.view(N);
    this.x = x;
    this.device.kernels.conv2dForward(this.masked, x, this.bias?.data ?? null, this.geometry(N), y, this.workspace!);
    return y;
  }

  backward(dy: Tensor, N: number, needInputGrad: boolean): Tensor | null {
    const dx = needInputGrad ? this.dx.view(N) : null;
    this.device.kernels.conv2dBackward(
      this.masked, this.x!, dy, this.geometry(N), this.weight.grad, this.bias?.grad ?? null, dx, this.workspace!,
    );
    return dx;
  }

  workspaceSize(N: number): number {
    return this.device.kernels.conv2dWorkspaceSize(this.geometry(N));
  }

  setWorkspace(workspace: Tensor): void {
    this.workspace = workspace;
  }

  dispose(): void {
    this.disposeWeights();
    this.y.dispose();
    this.dx.dispose();
  }
}

/** Base for layers without parameters. */
abstract class StatelessLayer {
  readonly name: string = '';
  /** pooling, ReLU and flatten are positively homogeneous */
  readonly synflow: 'homogeneous' | 'affine' | 'rescale' | 'unknown' = 'homogeneous';
  readonly params: Param[] = [];
  readonly buffers: StateBuffer[] = [];
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
abstract class Pool2d extends StatelessLayer {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  protected readonly y: BatchBuffer;
  protected readonly dx: BatchBuffer;
  protected readonly stride: number;

  constructor(protected readonly device: Device, kind: string, inShape: [number, number, number], readonly kernelSize: number, stride: number | undefined, readonly padding: number) {
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
export class MaxPool2d extends Pool2d implements Layer {
  private readonly argmax: BatchBufferInt32;

  constructor(device: Device, inShape: [number, number, number], kernelSize: number, stride?: number, padding = 0) {
    super(device, 'MaxPool2d', inShape, kernelSize, stride, padding);
    this.argmax = new BatchBufferInt32(device, product(this.outShape));
  }

  forward(x: Tensor, N: number): Tensor {
    const y = this.y.view(N);
    this.device.kernels.maxPool2dForward(x, this.geometry(N), y, this.argmax.view(N));
    return y;
  }

  backward(dy: Tensor, N: number): Tensor {
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
export class AvgPool2d extends Pool2d implements Layer {
  constructor(device: Device, inShape: [number, number, number], kernelSize: number, stride?: number, padding = 0) {
    super(device, 'AvgPool2d', inShape, kernelSize, stride, padding);
  }

  forward(x: Tensor, N: number): Tensor {
    const y = this.y.view(N);
    this.device.kernels.avgPool2dForward(x, this.geometry(N), y);
    return y;
  }

  backward(dy: Tensor, N: number): Tensor {
    const dx = this.dx.view(N);
    this.device.kernels.avgPool2dBackward(dy, this.geometry(N), dx);
    return dx;
  }
}

/** ReLU, in place: y = max(x, 0) overwrites x; dx = dy·[y > 0] overwrites dy. */
export class ReLU extends StatelessLayer implements Layer {
  readonly description = 'ReLU';
  readonly inShape: number[];
  readonly outShape: number[];
  private y: Tensor | null = null;
  private n = 0;

  constructor(private readonly device: Device, shape: number[]) {
    super();
    this.inShape = [...shape];
    this.outShape = [...shape];
  }

  forward(x: Tensor, N: number): Tensor {
    const n = N * product(this.inShape);
    this.device.kernels.reluForward(x, x, n);
    this.y = x;
    this.n = n;
    return x;
  }

  backward(dy: Tensor): Tensor {
    this.device.kernels.reluBackward(this.y!, dy, dy, this.n);
    return dy;
  }

  dispose(): void {}
}

/** Flatten [N, C, H, W] -> [N, C*H*W]: the same memory, row-major, as torch.flatten(x, 1). */
export class Flatten extends StatelessLayer implements Layer {
  readonly description = 'Flatten';
  readonly inShape: number[];
  readonly outShape: number[];

  constructor(shape: number[]) {
    super();
    this.inShape = [...shape];
    this.outShape = [product(shape)];
  }

  forward(x: Tensor): Tensor {
    return x;
  }

  backward(dy: Tensor): Tensor {
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
export class BatchNorm2d implements Layer {
  readonly inShape: number[];
  readonly outShape: number[];
  readonly description: string;
  readonly params: Param[];
  readonly buffers: StateBuffer[];
  readonly weight: Param;
  readonly bias: Param;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  private readonly y: BatchBuffer;
  private readonly dx: BatchBuffer;
  private readonly saveMean: Tensor;
  private readonly saveInvStd: Tensor;
  private x: Tensor | null = null;
  private lastMode: Mode = 'train';

  constructor(private readonly device: Device, readonly name: string, shape: [number, number, number], readonly eps = 1e-5, readonly momentum = 0.1) {
    const [c] = shape;
    this.inShape = [...shape];
    this.outShape = [...shape];
    this.description = `BatchNorm2d(${c})`;
    this.weight = createParam(device, `${name}.weight`, [c], 'batchnorm', false);
    this.bias = createParam(device, `${name}.bias`, [c], 'batchnorm', false);
    device.kernels.fill(this.weight.data, 1);
    this.params = [this.weight, this.bias];
    this.runningMean = device.alloc(c);
    this.runningVar = device.alloc(c);
    device.kernels.fill(this.runningVar, 1);
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

  forward(x: Tensor, N: number, mode: Mode): Tensor {
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
      k.addScalar(this.numBatchesTracked, 1, 1);
    } else {
      k.batchNormForwardEval(x, N, C, H * W, this.weight.data, this.bias.data, this.eps, this.runningMean, this.runningVar, y);
    }
    return y;
  }

  backward(dy: Tensor, N: number): Tensor {
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

  /** Backward of the eval-mode map with fixed running stats (kernel batchNormBackwardEval); SynFlow uses it. */
  private backwardEval(dy: Tensor, N: number, dx: Tensor): void {
    const [C, H, W] = this.inShape;
    this.device.kernels.batchNormBackwardEval(
      this.x!, dy, N, C, H * W, this.weight.data, this.eps, this.runningMean, this.runningVar, dx, this.weight.grad, this.bias.grad,
    );
  }

  /** SynFlow: with the input scaled by s, beta and the running mean scaled by s give y·s (eval mode). */
  readonly synflow = 'affine' as const;
  scaleShift(s: number): void {
    const [C] = this.inShape;
    if (s === 1) return;
    this.device.kernels.scale(this.bias.data, s, C);
    this.device.kernels.scale(this.runningMean, s, C);
  }
  scaleWeights(): void {
    throw new Error(`${this.name}: BatchNorm2d is not a SynFlow rescaling point`);
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
