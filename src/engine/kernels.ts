/**
 * The contract between the network layers (`src/nn/`) and the compute engine.
 *
 * Two implementations exist:
 * - `reference` (src/engine/reference.ts): plain TypeScript loops, generic over Float32Array and
 *   Float64Array, written for clarity. It is the specification: tests compare the wasm kernels to
 *   it, and finite-difference gradient checks run it in Float64.
 * - `wasm` (src/engine/wasm.ts): AssemblyScript kernels compiled to WebAssembly SIMD, split across
 *   worker threads over one shared memory.
 *
 * Conventions
 * - Every tensor is a flat typed array in row-major (C) order; shapes are given in the comments.
 * - In the wasm backend every array passed in must come from `alloc`/`allocInt32` of that backend
 *   (a view into its memory); the reference backend accepts any array.
 * - Outputs are overwritten unless the parameter says "accumulate".
 * - Batch first: activations are [N, features] for Linear and [N, C, H, W] for convolutions.
 * - Layouts follow PyTorch: Linear weight [out, in]; Conv weight [c_out, c_in, kh, kw].
 */

export type FloatArray = Float32Array | Float64Array;

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
 * The backend decides whether products with it run dense or sparse (by measured density
 * crossover); results agree with the dense path within float tolerance.
 */
export interface MaskedWeight {
  readonly rows: number;
  readonly cols: number;
  /** fraction of mask entries equal to 1 */
  readonly density: number;
  /** true when products run on a compressed (sparse) copy */
  readonly sparse: boolean;
  /** Re-reads the weight values (call after every optimiser step); the mask is fixed. */
  refreshValues(): void;
  /** Frees engine memory held by the compressed copy. */
  dispose(): void;
}

export interface Kernels {
  readonly name: 'reference' | 'wasm';
  /** number of threads the large kernels are split across (1 for reference) */
  readonly threads: number;
  /** Stops the worker threads (wasm); the kernels must not be used afterwards. Idempotent. */
  close(): Promise<void>;

  // ---- memory -----------------------------------------------------------------------------
  /** A zero-filled Float32 array of `length` elements living in engine memory. */
  alloc(length: number): Float32Array;
  /** A zero-filled Int32 array of `length` elements living in engine memory. */
  allocInt32(length: number): Int32Array;
  /** Returns memory from alloc/allocInt32 to the engine. The array must not be used afterwards. */
  free(array: Float32Array | Int32Array): void;

  // ---- dense linear algebra -----------------------------------------------------------------
  /**
   * C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C[M,N].
   * A is stored [M,K] (transA=false) or [K,M] (transA=true); B is [K,N] or [N,K].
   * beta = 0 ignores the previous content of C (even NaN).
   */
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: FloatArray, B: FloatArray, beta: number, C: FloatArray,
  ): void;

  // ---- masked weights (pruned layers) --------------------------------------------------------
  /** Prepares W [rows, cols] under mask [rows, cols] (entries 0 or 1). W itself is not copied for
   *  the dense path; it must already be 0 where the mask is 0. */
  createMaskedWeight(W: FloatArray, mask: FloatArray, rows: number, cols: number): MaskedWeight;
  /** Y[N, rows] = X[N, cols] · Wᵀ (+ bias[rows] when given). Linear forward. */
  maskedForward(mw: MaskedWeight, X: FloatArray, N: number, bias: FloatArray | null, Y: FloatArray): void;
  /** dX[N, cols] = dY[N, rows] · W. Linear backward to the input. */
  maskedBackwardInput(mw: MaskedWeight, dY: FloatArray, N: number, dX: FloatArray): void;
  /** dW[rows, cols] = (dY[N, rows]ᵀ · X[N, cols]) ⊙ mask, exactly 0 where the mask is 0. */
  maskedBackwardWeight(mw: MaskedWeight, dY: FloatArray, X: FloatArray, N: number, dW: FloatArray): void;

  // ---- convolution -------------------------------------------------------------------------
  /** col[cIn*kh*kw, oh*ow] from one image x[cIn, h, w]; zero padding. */
  im2col(x: FloatArray, g: Conv2dGeometry, col: FloatArray): void;
  /** Accumulates col[cIn*kh*kw, oh*ow] back into one image dx[cIn, h, w] (dx is overwritten). */
  col2im(col: FloatArray, g: Conv2dGeometry, dx: FloatArray): void;
  /**
   * y[N, cOut, oh, ow] = conv(x[N, cIn, h, w], W[cOut, cIn, kh, kw]) + bias[cOut].
   * `mw` is W as a MaskedWeight [cOut, cIn*kh*kw]; `workspace` has at least
   * `conv2dWorkspaceSize(g)` elements.
   */
  conv2dForward(mw: MaskedWeight, x: FloatArray, bias: FloatArray | null, g: Conv2dGeometry, y: FloatArray, workspace: FloatArray): void;
  /**
   * Given dy[N, cOut, oh, ow]: dW[cOut, cIn, kh, kw] (masked, overwritten), dBias[cOut]
   * (overwritten, when given) and dx[N, cIn, h, w] (overwritten, when given).
   */
  conv2dBackward(
    mw: MaskedWeight, x: FloatArray, dy: FloatArray, g: Conv2dGeometry,
    dW: FloatArray, dBias: FloatArray | null, dx: FloatArray | null, workspace: FloatArray,
  ): void;
  /** Elements of workspace conv2dForward/Backward need for geometry g. */
  conv2dWorkspaceSize(g: Conv2dGeometry): number;

  // ---- pooling (g.cOut = g.cIn; no padding contributes to a max) ---------------------------
  /** y[N, C, oh, ow] = max over each window; argmax[N*C*oh*ow] = flat index into x of the max. */
  maxPool2dForward(x: FloatArray, g: Conv2dGeometry, y: FloatArray, argmax: Int32Array): void;
  /** dx[N, C, h, w] = scatter of dy through argmax (dx overwritten). */
  maxPool2dBackward(dy: FloatArray, argmax: Int32Array, g: Conv2dGeometry, dx: FloatArray): void;
  /** y = mean over each window (padding counted as zeros, count_include_pad=true as PyTorch). */
  avgPool2dForward(x: FloatArray, g: Conv2dGeometry, y: FloatArray): void;
  avgPool2dBackward(dy: FloatArray, g: Conv2dGeometry, dx: FloatArray): void;

  // ---- elementwise -------------------------------------------------------------------------
  /** y = max(x, 0); y may be x. */
  reluForward(x: FloatArray, y: FloatArray): void;
  /** dx = dy where y > 0 else 0 (y is the ReLU output); dx may be dy. */
  reluBackward(y: FloatArray, dy: FloatArray, dx: FloatArray): void;
  /** y[N, C, S] += bias[C] for each n and spatial position (S = 1 for Linear). */
  addBias(y: FloatArray, bias: FloatArray, N: number, C: number, S: number): void;
  /** dBias[C] = sum over n and s of dy[N, C, S] (overwritten). */
  biasBackward(dy: FloatArray, N: number, C: number, S: number, dBias: FloatArray): void;

  // ---- loss --------------------------------------------------------------------------------
  /**
   * Mean softmax cross-entropy over the batch of logits[N, C] with integer labels[N].
   * Writes dLogits[N, C] = (softmax - onehot) / N and returns the mean loss.
   * `correct` (when given) receives the number of rows whose argmax equals the label.
   */
  softmaxCrossEntropy(logits: FloatArray, labels: Int32Array, N: number, C: number, dLogits: FloatArray): { loss: number; correct: number };

  // ---- batch norm over [N, C, S] (S = h*w) -------------------------------------------------
  /**
   * Training mode: batch statistics (biased variance for normalising, unbiased for the running
   * variance, as PyTorch); updates running stats with `momentum` (PyTorch convention:
   * running = (1-m)*running + m*batch). Saves mean[C] and invStd[C] for the backward pass.
   */
  batchNormForwardTrain(
    x: FloatArray, N: number, C: number, S: number, gamma: FloatArray, beta: FloatArray, eps: number, momentum: number,
    runningMean: FloatArray, runningVar: FloatArray, y: FloatArray, saveMean: FloatArray, saveInvStd: FloatArray,
  ): void;
  /** Evaluation mode: normalise with the running statistics. */
  batchNormForwardEval(
    x: FloatArray, N: number, C: number, S: number, gamma: FloatArray, beta: FloatArray, eps: number,
    runningMean: FloatArray, runningVar: FloatArray, y: FloatArray,
  ): void;
  /** Backward of training mode: dx (overwritten), dGamma and dBeta (overwritten). */
  batchNormBackward(
    x: FloatArray, dy: FloatArray, N: number, C: number, S: number, gamma: FloatArray,
    saveMean: FloatArray, saveInvStd: FloatArray, dx: FloatArray, dGamma: FloatArray, dBeta: FloatArray,
  ): void;

  // ---- optimisers (mask: 0/1 per element or null; masked elements stay exactly 0 with 0 state) --
  /**
   * Adam (PyTorch semantics, L2 weight decay added to the gradient, bias correction with `step`
   * counted from 1).
   */
  adamStep(
    param: FloatArray, grad: FloatArray, m: FloatArray, v: FloatArray, mask: FloatArray | null,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void;
  /**
   * SGD with momentum, optional Nesterov, L2 weight decay (PyTorch semantics). `step` counts from
   * 1: on step 1 the momentum buffer becomes the gradient itself, as torch.optim.SGD does (this only
   * differs from the general rule when dampening ≠ 0). Omitted, it is taken as a later step.
   */
  sgdStep(
    param: FloatArray, grad: FloatArray, velocity: FloatArray, mask: FloatArray | null,
    lr: number, momentum: number, nesterov: boolean, weightDecay: number, dampening: number,
    step?: number,
  ): void;
}
