/**
 * The engine's previous contract, kernels over host arrays, as a test adapter over the current one
 * (src/engine/kernels.ts): every array argument becomes a tensor that shares its memory
 * (HostAccess.wrap), so the kernel tests keep filling and reading plain arrays while the calls go
 * through the tensor contract. wasm arrays must still be engine memory (alloc here, or
 * subarrays of it); the reference backend takes any array. `softmaxCrossEntropy` reads its stats
 * back synchronously through the view.
 */
import type { Conv2dGeometry, FloatArray, HostAccess, Kernels, MaskedWeight, Tensor } from '../../src/engine/kernels.js';

export interface HostKernels {
  readonly name: 'reference' | 'wasm' | 'webgpu';
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
  /** the backend underneath */
  readonly device: Kernels & HostAccess;
}

/** The old host-array API over `k` (reference or wasm). */
export function hostKernels(k: Kernels & HostAccess): HostKernels {
  const owned = new WeakMap<object, Tensor>();
  const t = (a: FloatArray | Int32Array): Tensor => owned.get(a) ?? k.wrap(a);
  const tn = (a: FloatArray | null): Tensor | null => (a === null ? null : t(a));
  let stats: Tensor | null = null;
  return {
    name: k.name,
    threads: k.threads,
    device: k,
    close: () => k.close(),
    alloc: (length) => {
      const tensor = k.tensor(length, 'f32');
      const v = k.view(tensor) as Float32Array;
      owned.set(v, tensor);
      return v;
    },
    allocInt32: (length) => {
      const tensor = k.tensor(length, 'i32');
      const v = k.viewInt32(tensor);
      owned.set(v, tensor);
      return v;
    },
    free: (a) => {
      const tensor = owned.get(a);
      if (tensor === undefined) throw new Error(`${k.name} kernels: free() of an array that is not engine memory`);
      owned.delete(a);
      k.free(tensor);
    },
    sgemm: (tA, tB, M, N, K, alpha, A, B, beta, C) => k.sgemm(tA, tB, M, N, K, alpha, t(A), t(B), beta, t(C)),
    createMaskedWeight: (W, mask, rows, cols) => k.createMaskedWeight(t(W), t(mask), rows, cols),
    maskedForward: (mw, X, N, bias, Y) => k.maskedForward(mw, t(X), N, tn(bias), t(Y)),
    maskedBackwardInput: (mw, dY, N, dX) => k.maskedBackwardInput(mw, t(dY), N, t(dX)),
    maskedBackwardWeight: (mw, dY, X, N, dW) => k.maskedBackwardWeight(mw, t(dY), t(X), N, t(dW)),
    im2col: (x, g, col) => k.im2col(t(x), 0, g, t(col)),
    col2im: (col, g, dx) => k.col2im(t(col), g, t(dx), 0),
    conv2dForward: (mw, x, bias, g, y, ws) => k.conv2dForward(mw, t(x), tn(bias), g, t(y), t(ws)),
    conv2dBackward: (mw, x, dy, g, dW, dBias, dx, ws) => k.conv2dBackward(mw, t(x), t(dy), g, t(dW), tn(dBias), tn(dx), t(ws)),
    conv2dWorkspaceSize: (g) => k.conv2dWorkspaceSize(g),
    maxPool2dForward: (x, g, y, argmax) => k.maxPool2dForward(t(x), g, t(y), t(argmax)),
    maxPool2dBackward: (dy, argmax, g, dx) => k.maxPool2dBackward(t(dy), t(argmax), g, t(dx)),
    avgPool2dForward: (x, g, y) => k.avgPool2dForward(t(x), g, t(y)),
    avgPool2dBackward: (dy, g, dx) => k.avgPool2dBackward(t(dy), g, t(dx)),
    reluForward: (x, y) => k.reluForward(t(x), t(y), x.length),
    reluBackward: (y, dy, dx) => k.reluBackward(t(y), t(dy), t(dx), y.length),
    addBias: (y, bias, N, C, S) => k.addBias(t(y), t(bias), N, C, S),
    biasBackward: (dy, N, C, S, dBias) => k.biasBackward(t(dy), N, C, S, t(dBias)),
    softmaxCrossEntropy: (logits, labels, N, C, dLogits) => {
      // float64 on the reference backend, so that finite differences of the loss stay exact
      if (stats === null) stats = k.name === 'reference' ? k.wrap(new Float64Array(2)) : k.tensor(2);
      k.fill(stats, 0);
      k.softmaxCrossEntropy(t(logits), t(labels), N, C, t(dLogits), stats, 0);
      const s = k.view(stats);
      return { loss: s[0] / N, correct: s[1] };
    },
    batchNormForwardTrain: (x, N, C, S, gamma, beta, eps, momentum, rm, rv, y, sm, si) =>
      k.batchNormForwardTrain(t(x), N, C, S, t(gamma), t(beta), eps, momentum, t(rm), t(rv), t(y), t(sm), t(si)),
    batchNormForwardEval: (x, N, C, S, gamma, beta, eps, rm, rv, y) =>
      k.batchNormForwardEval(t(x), N, C, S, t(gamma), t(beta), eps, t(rm), t(rv), t(y)),
    batchNormBackward: (x, dy, N, C, S, gamma, sm, si, dx, dGamma, dBeta) =>
      k.batchNormBackward(t(x), t(dy), N, C, S, t(gamma), t(sm), t(si), t(dx), t(dGamma), t(dBeta)),
    adamStep: (p, g, m, v, mask, lr, b1, b2, eps, wd, step) => k.adamStep(t(p), t(g), t(m), t(v), tn(mask), lr, b1, b2, eps, wd, step),
    sgdStep: (p, g, vel, mask, lr, mom, nest, wd, damp, step) => k.sgdStep(t(p), t(g), t(vel), tn(mask), lr, mom, nest, wd, damp, step),
  };
}
