/**
 * The contract between the network layers (`src/nn/`) and the compute engine: `Kernels`.
 *
 * Backends:
 * - `reference` (src/engine/reference.ts): plain TypeScript loops, written for clarity. It is the
 *   specification: tests compare the other backends to it, and finite-difference gradient checks
 *   run it in float64 (`referenceKernels({ float64: true })`).
 * - `wasm` (src/engine/wasm.ts): AssemblyScript kernels compiled to WebAssembly SIMD, split across
 *   worker threads over one shared memory.
 * - `webgpu` (planned, issue 12): WGSL kernels on a GPU.
 *
 * Tensors are device-resident handles
 * - A `Tensor` is an opaque handle to `length` elements of `dtype` that the backend owns (wasm:
 *   a block of its memory; reference: a typed array; webgpu: a storage buffer). Host code never
 *   indexes it: data goes in with `upload` (synchronous, like a queued write) and comes out with
 *   `download`, which returns a Promise, because on a GPU it waits for the queue. Kernels are
 *   enqueued in call order and see every earlier upload and kernel; `download` sees them all too.
 * - A kernel call returns nothing the host must wait for: nothing in a training step reads back.
 *   Loss and correct counts are added into a small `stats` tensor on the device
 *   (`softmaxCrossEntropy`) and downloaded every K steps. Host code that needs values (graph
 *   analysis, mask selection, checkpoints) downloads them once per pruning level.
 * - Subranges are element offsets passed to the kernel (`offset`, `xOffset`, ...), never views:
 *   a WebGPU storage binding's offset must be 256-byte aligned, so a GPU backend passes element
 *   offsets as uniforms. Where a kernel takes a count (N, n, length) it touches only that many
 *   elements: a tensor may be longer than a kernel needs (batch buffers are sized for the largest
 *   batch seen).
 * - dtype 'f32' is a float tensor, float32 on the device; the reference backend's float64 mode
 *   keeps 'f32' tensors in float64 (gradient checks). 'i32' tensors hold labels and argmax indices.
 * - The CPU backends also implement `HostAccess` (sync views of their storage) for tests and
 *   benchmarks; library code must not rely on it (src/engine/index.ts: `hostView`).
 *
 * Conventions
 * - Every tensor is a flat array in row-major (C) order; shapes are given in the comments.
 * - Outputs are overwritten unless the parameter says "accumulate" / "+=".
 * - Batch first: activations are [N, features] for Linear and [N, C, H, W] for convolutions.
 * - Layouts follow PyTorch: Linear weight [out, in]; Conv weight [c_out, c_in, kh, kw].
 * - Errors a kernel can detect only by reading data (a label outside [0, C)) are the caller's to
 *   prevent (src/nn checks labels on the host before uploading them); the CPU backends throw,
 *   a GPU backend gives unspecified results.
 */

export type FloatArray = Float32Array | Float64Array;

export type DType = 'f32' | 'i32';

/** An opaque handle to backend-owned storage of `length` elements of `dtype` (see the module comment). */
export interface Tensor {
  readonly length: number;
  readonly dtype: DType;
}

/** Geometry of a 2-D convolution or pooling window over [N, C, H, W] input. */
export interface Conv2dGeometry {
  /** batch size */
  n: number;
  /** input channels */
  cIn: number;
  /** input height and width */
  h: number;
  w: number;
  /** output channels (convolution only; equal to cIn for pooling) */
  cOut: number;
  /** kernel height and width */
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
}

/** Output height of a window op: floor((h + 2*pad - k) / stride) + 1. */
export function convOutputSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/**
 * A weight matrix under a 0/1 mask, prepared for repeated products.
 * Rows x cols: Linear [out, in]; Conv [c_out, c_in*kh*kw].
 * The backend decides whether products with it run dense or sparse (wasm: by the measured density
 * crossover); results agree with the dense path within float tolerance.
 */
export interface MaskedWeight {
  readonly rows: number;
  readonly cols: number;
  /**
   * Fraction of mask entries equal to 1, where the backend looked at the mask when preparing it
   * (reference, wasm); NaN for a backend that always runs dense and never reads the mask back.
   */
  readonly density: number;
  /** true when products run on a compressed (sparse) copy */
  readonly sparse: boolean;
  /** Re-reads the weight values (call after every optimiser step); the mask is fixed. */
  refreshValues(): void;
  /** Frees engine memory held by the compressed copy. */
  dispose(): void;
}

export interface Kernels {
  readonly name: 'reference' | 'wasm' | 'webgpu';
  /** number of threads the large kernels are split across (1 for reference and webgpu) */
  readonly threads: number;
  /** Stops worker threads / releases the device; the kernels must not be used afterwards. Idempotent. */
  close(): Promise<void>;

  // ---- tensors and transfers --------------------------------------------------------------
  /** A zero-filled tensor of `length` elements (dtype 'f32' unless given). */
  tensor(length: number, dtype?: DType): Tensor;
  /** Returns a tensor's storage to the backend. The handle must not be used afterwards. */
  free(t: Tensor): void;
  /**
   * t[offset .. offset + data.length) = data. The data is copied before upload returns (the caller
   * may reuse its array). i32 tensors take integers.
   */
  upload(t: Tensor, data: ArrayLike<number>, offset?: number): void;
  /**
   * A host copy of t[offset .. offset + length) (default: from offset to the end) of an 'f32'
   * tensor, after every kernel enqueued before the call. The reference backend's float64 mode
   * rounds to float32 here; gradient checks read its float64 values through HostAccess.
   */
  download(t: Tensor, offset?: number, length?: number): Promise<Float32Array>;
  /** As download, for 'i32' tensors. */
  downloadInt32(t: Tensor, offset?: number, length?: number): Promise<Int32Array>;

  // ---- small elementwise kernels on f32 tensors (n elements from the offsets given) ----------
  /** t[offset .. offset + length) = value (default: the whole tensor). Also for i32 tensors. */
  fill(t: Tensor, value: number, offset?: number, length?: number): void;
  /** dst[dstOffset + i] = src[srcOffset + i] for i < n; src and dst must not overlap. Same dtype. */
  copy(src: Tensor, dst: Tensor, n: number, srcOffset?: number, dstOffset?: number): void;
  /** x[offset + i] *= alpha for i < n. */
  scale(x: Tensor, alpha: number, n: number, offset?: number): void;
  /** x[offset + i] += value for i < n (BatchNorm's num_batches_tracked counter). */
  addScalar(x: Tensor, value: number, n: number, offset?: number): void;
  /** y[i] += alpha * x[i] for i < n (SNIP's gradient sums). */
  axpy(alpha: number, x: Tensor, y: Tensor, n: number): void;
  /** y[i] = |x[i]| for i < n; y may be x (SynFlow's absolute parameters). */
  abs(x: Tensor, y: Tensor, n: number): void;
  /** x[i] = 0 where mask[i] == 0, unchanged elsewhere, for i < n (exactly 0, even where x was NaN). */
  applyMask(x: Tensor, mask: Tensor, n: number): void;
  /** out[outOffset] = max |x[offset + i]| over i < n (0 when n = 0; NaN when any is NaN). */
  maxAbs(x: Tensor, n: number, out: Tensor, outOffset?: number, offset?: number): void;

  // ---- dense linear algebra -----------------------------------------------------------------
  /**
   * C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C[M,N], on A, B, C starting at the given
   * element offsets (default 0), each matrix contiguous (leading dimension = its column count).
   * A is stored [M,K] (transA=false) or [K,M] (transA=true); B is [K,N] or [N,K].
   * beta = 0 ignores the previous content of C (even NaN).
   */
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor,
    aOffset?: number, bOffset?: number, cOffset?: number,
  ): void;

  // ---- masked weights (pruned layers) --------------------------------------------------------
  /** Prepares W [rows, cols] under mask [rows, cols] (entries 0 or 1). W itself is not copied for
   *  the dense path; it must already be 0 where the mask is 0. The mask must not change while the
   *  MaskedWeight lives (a new mask means a new MaskedWeight). */
  createMaskedWeight(W: Tensor, mask: Tensor, rows: number, cols: number): MaskedWeight;
  /** Y[N, rows] = X[N, cols] · Wᵀ (+ bias[rows] when given). Linear forward. */
  maskedForward(mw: MaskedWeight, X: Tensor, N: number, bias: Tensor | null, Y: Tensor): void;
  /** dX[N, cols] = dY[N, rows] · W. Linear backward to the input. */
  maskedBackwardInput(mw: MaskedWeight, dY: Tensor, N: number, dX: Tensor): void;
  /** dW[rows, cols] = (dY[N, rows]ᵀ · X[N, cols]) ⊙ mask, exactly 0 where the mask is 0. */
  maskedBackwardWeight(mw: MaskedWeight, dY: Tensor, X: Tensor, N: number, dW: Tensor): void;

  // ---- convolution -------------------------------------------------------------------------
  /** col[cIn*kh*kw, oh*ow] from one image x[xOffset ..] of shape [cIn, h, w]; zero padding. */
  im2col(x: Tensor, xOffset: number, g: Conv2dGeometry, col: Tensor): void;
  /** Accumulates col[cIn*kh*kw, oh*ow] back into one image dx[dxOffset ..] of shape [cIn, h, w]
   *  (that image is overwritten). */
  col2im(col: Tensor, g: Conv2dGeometry, dx: Tensor, dxOffset: number): void;
  /**
   * y[N, cOut, oh, ow] = conv(x[N, cIn, h, w], W[cOut, cIn, kh, kw]) + bias[cOut].
   * `mw` is W as a MaskedWeight [cOut, cIn*kh*kw]; `workspace` has at least
   * `conv2dWorkspaceSize(g)` elements (0 allowed: then it may be a 1-element tensor).
   */
  conv2dForward(mw: MaskedWeight, x: Tensor, bias: Tensor | null, g: Conv2dGeometry, y: Tensor, workspace: Tensor): void;
  /**
   * Given dy[N, cOut, oh, ow]: dW[cOut, cIn, kh, kw] (masked, overwritten), dBias[cOut]
   * (overwritten, when given) and dx[N, cIn, h, w] (overwritten, when given).
   */
  conv2dBackward(
    mw: MaskedWeight, x: Tensor, dy: Tensor, g: Conv2dGeometry,
    dW: Tensor, dBias: Tensor | null, dx: Tensor | null, workspace: Tensor,
  ): void;
  /** Elements of workspace conv2dForward/Backward need for geometry g. */
  conv2dWorkspaceSize(g: Conv2dGeometry): number;

  // ---- pooling (g.cOut = g.cIn; no padding contributes to a max) ---------------------------
  /** y[N, C, oh, ow] = max over each window; argmax (i32) [N*C*oh*ow] = flat index into x of the max. */
  maxPool2dForward(x: Tensor, g: Conv2dGeometry, y: Tensor, argmax: Tensor): void;
  /** dx[N, C, h, w] = scatter of dy through argmax (dx overwritten). */
  maxPool2dBackward(dy: Tensor, argmax: Tensor, g: Conv2dGeometry, dx: Tensor): void;
  /** y = mean over each window (padding counted as zeros, count_include_pad=true as PyTorch). */
  avgPool2dForward(x: Tensor, g: Conv2dGeometry, y: Tensor): void;
  avgPool2dBackward(dy: Tensor, g: Conv2dGeometry, dx: Tensor): void;

  // ---- activations and bias ----------------------------------------------------------------
  /** y[i] = max(x[i], 0) for i < n; y may be x. */
  reluForward(x: Tensor, y: Tensor, n: number): void;
  /** dx[i] = dy[i] where y[i] > 0 else 0, for i < n (y is the ReLU output); dx may be dy. */
  reluBackward(y: Tensor, dy: Tensor, dx: Tensor, n: number): void;
  /** y[N, C, S] += bias[C] for each n and spatial position (S = 1 for Linear). */
  addBias(y: Tensor, bias: Tensor, N: number, C: number, S: number): void;
  /** dBias[C] = sum over n and s of dy[N, C, S] (overwritten). */
  biasBackward(dy: Tensor, N: number, C: number, S: number, dBias: Tensor): void;

  // ---- loss --------------------------------------------------------------------------------
  /**
   * Softmax cross-entropy of logits[N, C] against labels (i32) [N]:
   * dLogits[N, C] = (softmax - onehot) / N (the gradient of the mean loss; always written), and,
   * when `stats` is given, stats[statsOffset] += Σ_n loss_n (the summed, not the mean, loss) and
   * stats[statsOffset + 1] += number of rows whose argmax (first maximum) equals the label.
   * Nothing is returned: the host downloads `stats` when it needs the figures (every K steps).
   */
  softmaxCrossEntropy(
    logits: Tensor, labels: Tensor, N: number, C: number, dLogits: Tensor, stats: Tensor | null, statsOffset?: number,
  ): void;

  // ---- batch norm over [N, C, S] (S = h*w) -------------------------------------------------
  /**
   * Training mode: batch statistics (biased variance for normalising, unbiased for the running
   * variance, as PyTorch); updates running stats with `momentum` (PyTorch convention:
   * running = (1-m)*running + m*batch). Saves mean[C] and invStd[C] for the backward pass.
   */
  batchNormForwardTrain(
    x: Tensor, N: number, C: number, S: number, gamma: Tensor, beta: Tensor, eps: number, momentum: number,
    runningMean: Tensor, runningVar: Tensor, y: Tensor, saveMean: Tensor, saveInvStd: Tensor,
  ): void;
  /** Evaluation mode: normalise with the running statistics. */
  batchNormForwardEval(
    x: Tensor, N: number, C: number, S: number, gamma: Tensor, beta: Tensor, eps: number,
    runningMean: Tensor, runningVar: Tensor, y: Tensor,
  ): void;
  /** Backward of training mode: dx (overwritten), dGamma and dBeta (overwritten). */
  batchNormBackward(
    x: Tensor, dy: Tensor, N: number, C: number, S: number, gamma: Tensor,
    saveMean: Tensor, saveInvStd: Tensor, dx: Tensor, dGamma: Tensor, dBeta: Tensor,
  ): void;
  /**
   * Backward of evaluation mode (the running statistics are constants), invStd = 1/sqrt(var + eps):
   * dx = dy·gamma·invStd, dGamma[c] = Σ dy·(x - mean)·invStd, dBeta[c] = Σ dy (all overwritten).
   * SynFlow scores run BatchNorm in eval mode.
   */
  batchNormBackwardEval(
    x: Tensor, dy: Tensor, N: number, C: number, S: number, gamma: Tensor, eps: number,
    runningMean: Tensor, runningVar: Tensor, dx: Tensor, dGamma: Tensor, dBeta: Tensor,
  ): void;

  // ---- optimisers over whole tensors (mask: 0/1 per element or null; masked elements stay
  //      exactly 0 with 0 state) --------------------------------------------------------------
  /**
   * Adam (PyTorch semantics, L2 weight decay added to the gradient, bias correction with `step`
   * counted from 1).
   */
  adamStep(
    param: Tensor, grad: Tensor, m: Tensor, v: Tensor, mask: Tensor | null,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void;
  /**
   * SGD with momentum, optional Nesterov, L2 weight decay (PyTorch semantics). `step` counts from
   * 1: on step 1 the momentum buffer becomes the gradient itself, as torch.optim.SGD does (this only
   * differs from the general rule when dampening ≠ 0). Omitted, it is taken as a later step.
   */
  sgdStep(
    param: Tensor, grad: Tensor, velocity: Tensor, mask: Tensor | null,
    lr: number, momentum: number, nesterov: boolean, weightDecay: number, dampening: number,
    step?: number,
  ): void;
}

/**
 * Synchronous views of a CPU backend's storage (reference and wasm implement it). For tests,
 * benchmarks and CPU-only tools; library code goes through upload/download so that it runs on
 * every backend. A view is valid until the tensor is freed.
 */
export interface HostAccess {
  /** the elements of an 'f32' tensor (Float64Array in the reference backend's float64 mode) */
  view(t: Tensor): FloatArray;
  /** the elements of an 'i32' tensor */
  viewInt32(t: Tensor): Int32Array;
  /**
   * A tensor over existing host memory, sharing it (wasm: a view into its memory, subarrays
   * included; reference: any typed array). The tensor borrows the memory: free() refuses it.
   * Tests use it to call kernels on arrays they fill and read directly.
   */
  wrap(array: FloatArray | Int32Array): Tensor;
}

export function hasHostAccess(k: Kernels): k is Kernels & HostAccess {
  return typeof (k as Partial<HostAccess>).view === 'function' && typeof (k as Partial<HostAccess>).viewInt32 === 'function';
}
