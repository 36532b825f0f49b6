/**
 * The reference backend: every kernel of the contract (src/engine/kernels.ts) as plain TypeScript
 * loops. It is the specification of the engine, so it is written for clarity, not speed:
 * - the wasm kernels are tested against it on random inputs;
 * - its tensors wrap plain typed arrays: Float32Array, or Float64Array in float64 mode
 *   (`referenceKernels({ float64: true })`), so finite-difference gradient checks of the layers
 *   run in float64; the kernels below are written over arrays and the backend object at the end
 *   unwraps the tensors;
 * - sums are accumulated in JavaScript numbers (float64) whatever the array type.
 *
 * Semantics follow PyTorch where the contract says so: Adam with L2 weight decay added to the
 * gradient and bias correction; SGD as torch.optim.SGD (the first step's momentum buffer is the
 * gradient itself); batch norm normalises with the biased variance and tracks the unbiased one;
 * average pooling counts padding (count_include_pad=True); max pooling ignores padding and keeps
 * the first maximum of a window (or the first NaN).
 */
import {
  convOutputSize,
  type Conv2dGeometry,
  type DType,
  type FloatArray,
  type HostAccess,
  type Kernels,
  type MaskedWeight,
  type Tensor,
} from './kernels.js';

/** The reference MaskedWeight: W and mask are read live, so refreshValues has nothing to do. */
class ReferenceMaskedWeight implements MaskedWeight {
  readonly density: number;
  readonly sparse = false;

  constructor(
    /** W[rows, cols], already 0 where mask is 0 */
    readonly W: FloatArray,
    /** mask[rows, cols] of 0/1 */
    readonly mask: FloatArray,
    readonly rows: number,
    readonly cols: number,
  ) {
    let kept = 0;
    for (let i = 0; i < rows * cols; i++) if (mask[i] !== 0) kept++;
    this.density = rows * cols === 0 ? 0 : kept / (rows * cols);
  }

  refreshValues(): void {}

  dispose(): void {}
}

function asReference(mw: MaskedWeight): ReferenceMaskedWeight {
  if (!(mw instanceof ReferenceMaskedWeight)) {
    throw new Error('reference kernels: the MaskedWeight was made by another backend');
  }
  return mw;
}

/** Throws when an array is shorter than the kernel needs (a programming error, not a user one). */
function need(array: { readonly length: number }, length: number, what: string): void {
  if (array.length < length) {
    throw new Error(`reference kernels: ${what} has ${array.length} elements, needs ${length}`);
  }
}

function outputSize(g: Conv2dGeometry): { oh: number; ow: number } {
  return {
    oh: convOutputSize(g.h, g.kh, g.strideH, g.padH),
    ow: convOutputSize(g.w, g.kw, g.strideW, g.padW),
  };
}

// ---- dense linear algebra --------------------------------------------------------------------

/** C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C. */
function sgemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  alpha: number, A: FloatArray, B: FloatArray, beta: number, C: FloatArray,
): void {
  need(A, M * K, 'A');
  need(B, K * N, 'B');
  need(C, M * N, 'C');
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[k * M + i] : A[i * K + k];
        const b = transB ? B[j * K + k] : B[k * N + j];
        sum += a * b;
      }
      // beta = 0 must ignore C entirely (it may hold NaN from an earlier use of the buffer)
      C[i * N + j] = beta === 0 ? alpha * sum : alpha * sum + beta * C[i * N + j];
    }
  }
}

// ---- masked weights ----------------------------------------------------------------------------

/** Y[N, rows] = X[N, cols] · Wᵀ (+ bias[rows]). */
function maskedForward(mw: MaskedWeight, X: FloatArray, N: number, bias: FloatArray | null, Y: FloatArray): void {
  const { W, rows, cols } = asReference(mw);
  need(X, N * cols, 'X');
  need(Y, N * rows, 'Y');
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < rows; r++) {
      let sum = bias === null ? 0 : bias[r];
      for (let c = 0; c < cols; c++) sum += X[n * cols + c] * W[r * cols + c];
      Y[n * rows + r] = sum;
    }
  }
}

/** dX[N, cols] = dY[N, rows] · W. */
function maskedBackwardInput(mw: MaskedWeight, dY: FloatArray, N: number, dX: FloatArray): void {
  const { W, rows, cols } = asReference(mw);
  need(dY, N * rows, 'dY');
  need(dX, N * cols, 'dX');
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += dY[n * rows + r] * W[r * cols + c];
      dX[n * cols + c] = sum;
    }
  }
}

/** dW[rows, cols] = (dY[N, rows]ᵀ · X[N, cols]) ⊙ mask; exactly 0 where the mask is 0. */
function maskedBackwardWeight(mw: MaskedWeight, dY: FloatArray, X: FloatArray, N: number, dW: FloatArray): void {
  const { mask, rows, cols } = asReference(mw);
  need(dY, N * rows, 'dY');
  need(X, N * cols, 'X');
  need(dW, rows * cols, 'dW');
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (mask[r * cols + c] === 0) {
        dW[r * cols + c] = 0;
        continue;
      }
      let sum = 0;
      for (let n = 0; n < N; n++) sum += dY[n * rows + r] * X[n * cols + c];
      dW[r * cols + c] = sum;
    }
  }
}

// ---- convolution -------------------------------------------------------------------------------

/** col[cIn*kh*kw, oh*ow] from one image x[cIn, h, w]; positions in the padding read 0. */
function im2col(x: FloatArray, g: Conv2dGeometry, col: FloatArray): void {
  const { oh, ow } = outputSize(g);
  need(x, g.cIn * g.h * g.w, 'x');
  need(col, g.cIn * g.kh * g.kw * oh * ow, 'col');
  for (let c = 0; c < g.cIn; c++) {
    for (let ki = 0; ki < g.kh; ki++) {
      for (let kj = 0; kj < g.kw; kj++) {
        const row = (c * g.kh + ki) * g.kw + kj;
        for (let oy = 0; oy < oh; oy++) {
          for (let ox = 0; ox < ow; ox++) {
            const iy = oy * g.strideH - g.padH + ki;
            const ix = ox * g.strideW - g.padW + kj;
            const inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            col[row * oh * ow + oy * ow + ox] = inside ? x[(c * g.h + iy) * g.w + ix] : 0;
          }
        }
      }
    }
  }
}

/** dx[cIn, h, w] = sum of col[cIn*kh*kw, oh*ow] over every window position that reads the pixel. */
function col2im(col: FloatArray, g: Conv2dGeometry, dx: FloatArray): void {
  const { oh, ow } = outputSize(g);
  need(col, g.cIn * g.kh * g.kw * oh * ow, 'col');
  need(dx, g.cIn * g.h * g.w, 'dx');
  dx.fill(0, 0, g.cIn * g.h * g.w);
  for (let c = 0; c < g.cIn; c++) {
    for (let ki = 0; ki < g.kh; ki++) {
      for (let kj = 0; kj < g.kw; kj++) {
        const row = (c * g.kh + ki) * g.kw + kj;
        for (let oy = 0; oy < oh; oy++) {
          for (let ox = 0; ox < ow; ox++) {
            const iy = oy * g.strideH - g.padH + ki;
            const ix = ox * g.strideW - g.padW + kj;
            if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
              dx[(c * g.h + iy) * g.w + ix] += col[row * oh * ow + oy * ow + ox];
            }
          }
        }
      }
    }
  }
}

function conv2dWorkspaceSize(g: Conv2dGeometry): number {
  const { oh, ow } = outputSize(g);
  return g.cIn * g.kh * g.kw * oh * ow; // one image's col matrix
}

/** y[N, cOut, oh, ow] = W[cOut, K] · col_n[K, P] + bias, image by image (K = cIn*kh*kw, P = oh*ow). */
function conv2dForward(
  mw: MaskedWeight, x: FloatArray, bias: FloatArray | null, g: Conv2dGeometry, y: FloatArray, workspace: FloatArray,
): void {
  const { W, rows, cols } = asReference(mw);
  const { oh, ow } = outputSize(g);
  const K = g.cIn * g.kh * g.kw;
  const P = oh * ow;
  if (rows !== g.cOut || cols !== K) throw new Error('reference kernels: conv weight shape does not match the geometry');
  need(x, g.n * g.cIn * g.h * g.w, 'x');
  need(y, g.n * g.cOut * P, 'y');
  need(workspace, conv2dWorkspaceSize(g), 'workspace');
  const col = workspace;
  for (let n = 0; n < g.n; n++) {
    im2col(x.subarray(n * g.cIn * g.h * g.w), g, col);
    for (let o = 0; o < g.cOut; o++) {
      for (let p = 0; p < P; p++) {
        let sum = bias === null ? 0 : bias[o];
        for (let k = 0; k < K; k++) sum += W[o * K + k] * col[k * P + p];
        y[(n * g.cOut + o) * P + p] = sum;
      }
    }
  }
}

/**
 * From dy[N, cOut, P]: dW[cOut, K] = Σ_n dy_n · col_nᵀ (masked), dBias[cOut] = Σ_n Σ_p dy,
 * dx_n = col2im(Wᵀ · dy_n).
 */
function conv2dBackward(
  mw: MaskedWeight, x: FloatArray, dy: FloatArray, g: Conv2dGeometry,
  dW: FloatArray, dBias: FloatArray | null, dx: FloatArray | null, workspace: FloatArray,
): void {
  const { W, mask, rows, cols } = asReference(mw);
  const { oh, ow } = outputSize(g);
  const K = g.cIn * g.kh * g.kw;
  const P = oh * ow;
  if (rows !== g.cOut || cols !== K) throw new Error('reference kernels: conv weight shape does not match the geometry');
  need(x, g.n * g.cIn * g.h * g.w, 'x');
  need(dy, g.n * g.cOut * P, 'dy');
  need(dW, g.cOut * K, 'dW');
  need(workspace, conv2dWorkspaceSize(g), 'workspace');
  const col = workspace;
  dW.fill(0, 0, g.cOut * K);
  if (dBias !== null) dBias.fill(0, 0, g.cOut);
  for (let n = 0; n < g.n; n++) {
    const dyN = dy.subarray(n * g.cOut * P);
    im2col(x.subarray(n * g.cIn * g.h * g.w), g, col);
    for (let o = 0; o < g.cOut; o++) {
      for (let k = 0; k < K; k++) {
        if (mask[o * K + k] === 0) continue;
        let sum = 0;
        for (let p = 0; p < P; p++) sum += dyN[o * P + p] * col[k * P + p];
        dW[o * K + k] += sum;
      }
      if (dBias !== null) {
        let sum = 0;
        for (let p = 0; p < P; p++) sum += dyN[o * P + p];
        dBias[o] += sum;
      }
    }
    if (dx !== null) {
      // col now receives dcol[K, P] = Wᵀ · dy_n, then folds back into the image
      for (let k = 0; k < K; k++) {
        for (let p = 0; p < P; p++) {
          let sum = 0;
          for (let o = 0; o < g.cOut; o++) sum += W[o * K + k] * dyN[o * P + p];
          col[k * P + p] = sum;
        }
      }
      col2im(col, g, dx.subarray(n * g.cIn * g.h * g.w));
    }
  }
}

// ---- pooling -----------------------------------------------------------------------------------

function maxPool2dForward(x: FloatArray, g: Conv2dGeometry, y: FloatArray, argmax: Int32Array): void {
  const { oh, ow } = outputSize(g);
  need(x, g.n * g.cIn * g.h * g.w, 'x');
  need(y, g.n * g.cIn * oh * ow, 'y');
  need(argmax, g.n * g.cIn * oh * ow, 'argmax');
  for (let plane = 0; plane < g.n * g.cIn; plane++) {
    const base = plane * g.h * g.w;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let best = -Infinity;
        let bestIndex = -1;
        for (let ki = 0; ki < g.kh; ki++) {
          const iy = oy * g.strideH - g.padH + ki;
          if (iy < 0 || iy >= g.h) continue;
          for (let kj = 0; kj < g.kw; kj++) {
            const ix = ox * g.strideW - g.padW + kj;
            if (ix < 0 || ix >= g.w) continue;
            const index = base + iy * g.w + ix;
            const v = x[index];
            // as PyTorch: strictly greater keeps the first maximum; a NaN wins and propagates
            if (bestIndex === -1 || v > best || Number.isNaN(v)) {
              best = v;
              bestIndex = index;
              if (Number.isNaN(v)) break;
            }
          }
          if (Number.isNaN(best)) break;
        }
        const out = (plane * oh + oy) * ow + ox;
        y[out] = best;
        argmax[out] = bestIndex;
      }
    }
  }
}

function maxPool2dBackward(dy: FloatArray, argmax: Int32Array, g: Conv2dGeometry, dx: FloatArray): void {
  const { oh, ow } = outputSize(g);
  const outputs = g.n * g.cIn * oh * ow;
  need(dy, outputs, 'dy');
  need(argmax, outputs, 'argmax');
  need(dx, g.n * g.cIn * g.h * g.w, 'dx');
  dx.fill(0, 0, g.n * g.cIn * g.h * g.w);
  for (let i = 0; i < outputs; i++) dx[argmax[i]] += dy[i];
}

function avgPool2dForward(x: FloatArray, g: Conv2dGeometry, y: FloatArray): void {
  const { oh, ow } = outputSize(g);
  need(x, g.n * g.cIn * g.h * g.w, 'x');
  need(y, g.n * g.cIn * oh * ow, 'y');
  const divisor = g.kh * g.kw; // count_include_pad: padding counts as zeros
  for (let plane = 0; plane < g.n * g.cIn; plane++) {
    const base = plane * g.h * g.w;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let sum = 0;
        for (let ki = 0; ki < g.kh; ki++) {
          const iy = oy * g.strideH - g.padH + ki;
          if (iy < 0 || iy >= g.h) continue;
          for (let kj = 0; kj < g.kw; kj++) {
            const ix = ox * g.strideW - g.padW + kj;
            if (ix < 0 || ix >= g.w) continue;
            sum += x[base + iy * g.w + ix];
          }
        }
        y[(plane * oh + oy) * ow + ox] = sum / divisor;
      }
    }
  }
}

function avgPool2dBackward(dy: FloatArray, g: Conv2dGeometry, dx: FloatArray): void {
  const { oh, ow } = outputSize(g);
  need(dy, g.n * g.cIn * oh * ow, 'dy');
  need(dx, g.n * g.cIn * g.h * g.w, 'dx');
  dx.fill(0, 0, g.n * g.cIn * g.h * g.w);
  const divisor = g.kh * g.kw;
  for (let plane = 0; plane < g.n * g.cIn; plane++) {
    const base = plane * g.h * g.w;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const share = dy[(plane * oh + oy) * ow + ox] / divisor;
        for (let ki = 0; ki < g.kh; ki++) {
          const iy = oy * g.strideH - g.padH + ki;
          if (iy < 0 || iy >= g.h) continue;
          for (let kj = 0; kj < g.kw; kj++) {
            const ix = ox * g.strideW - g.padW + kj;
            if (ix < 0 || ix >= g.w) continue;
            dx[base + iy * g.w + ix] += share;
          }
        }
      }
    }
  }
}

// ---- elementwise -------------------------------------------------------------------------------

function reluForward(x: FloatArray, y: FloatArray): void {
  need(y, x.length, 'y');
  for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

function reluBackward(y: FloatArray, dy: FloatArray, dx: FloatArray): void {
  need(dy, y.length, 'dy');
  need(dx, y.length, 'dx');
  for (let i = 0; i < y.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
}

function addBias(y: FloatArray, bias: FloatArray, N: number, C: number, S: number): void {
  need(y, N * C * S, 'y');
  need(bias, C, 'bias');
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let s = 0; s < S; s++) y[(n * C + c) * S + s] += bias[c];
    }
  }
}

function biasBackward(dy: FloatArray, N: number, C: number, S: number, dBias: FloatArray): void {
  need(dy, N * C * S, 'dy');
  need(dBias, C, 'dBias');
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) sum += dy[(n * C + c) * S + s];
    }
    dBias[c] = sum;
  }
}

// ---- loss --------------------------------------------------------------------------------------

/** Mean softmax cross-entropy; dLogits = (softmax - onehot) / N. */
function softmaxCrossEntropy(
  logits: FloatArray, labels: Int32Array, N: number, C: number, dLogits: FloatArray,
): { loss: number; correct: number } {
  need(logits, N * C, 'logits');
  need(labels, N, 'labels');
  need(dLogits, N * C, 'dLogits');
  let loss = 0;
  let correct = 0;
  for (let n = 0; n < N; n++) {
    const label = labels[n];
    if (!(label >= 0 && label < C)) throw new Error(`reference kernels: label ${label} is outside [0, ${C})`);
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < C; c++) {
      const v = logits[n * C + c];
      if (v > max) {
        max = v;
        argmax = c;
      }
    }
    if (argmax === label) correct++;
    let sumExp = 0;
    for (let c = 0; c < C; c++) sumExp += Math.exp(logits[n * C + c] - max);
    // -log softmax[label] = log Σ exp(z - max) - (z_label - max)
    loss += Math.log(sumExp) - (logits[n * C + label] - max);
    for (let c = 0; c < C; c++) {
      const p = Math.exp(logits[n * C + c] - max) / sumExp;
      dLogits[n * C + c] = (p - (c === label ? 1 : 0)) / N;
    }
  }
  return { loss: loss / N, correct };
}

// ---- batch norm over [N, C, S] -----------------------------------------------------------------

function batchNormForwardTrain(
  x: FloatArray, N: number, C: number, S: number, gamma: FloatArray, beta: FloatArray, eps: number, momentum: number,
  runningMean: FloatArray, runningVar: FloatArray, y: FloatArray, saveMean: FloatArray, saveInvStd: FloatArray,
): void {
  need(x, N * C * S, 'x');
  need(y, N * C * S, 'y');
  const count = N * S;
  if (count < 2) throw new Error('reference kernels: batch norm in training mode needs more than 1 value per channel');
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sum += x[(n * C + c) * S + s];
    const mean = sum / count;
    let squares = 0;
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        const d = x[(n * C + c) * S + s] - mean;
        squares += d * d;
      }
    }
    const biasedVar = squares / count;
    const invStd = 1 / Math.sqrt(biasedVar + eps);
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        y[i] = gamma[c] * (x[i] - mean) * invStd + beta[c];
      }
    }
    saveMean[c] = mean;
    saveInvStd[c] = invStd;
    runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean;
    runningVar[c] = (1 - momentum) * runningVar[c] + momentum * (squares / (count - 1));
  }
}

function batchNormForwardEval(
  x: FloatArray, N: number, C: number, S: number, gamma: FloatArray, beta: FloatArray, eps: number,
  runningMean: FloatArray, runningVar: FloatArray, y: FloatArray,
): void {
  need(x, N * C * S, 'x');
  need(y, N * C * S, 'y');
  for (let c = 0; c < C; c++) {
    const invStd = 1 / Math.sqrt(runningVar[c] + eps);
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        y[i] = gamma[c] * (x[i] - runningMean[c]) * invStd + beta[c];
      }
    }
  }
}

/**
 * With x̂ = (x - mean) * invStd and M = N*S values per channel:
 * dBeta = Σ dy, dGamma = Σ dy·x̂, dx = gamma·invStd/M · (M·dy - dBeta - x̂·dGamma).
 */
function batchNormBackward(
  x: FloatArray, dy: FloatArray, N: number, C: number, S: number, gamma: FloatArray,
  saveMean: FloatArray, saveInvStd: FloatArray, dx: FloatArray, dGamma: FloatArray, dBeta: FloatArray,
): void {
  need(x, N * C * S, 'x');
  need(dy, N * C * S, 'dy');
  need(dx, N * C * S, 'dx');
  const count = N * S;
  for (let c = 0; c < C; c++) {
    const mean = saveMean[c];
    const invStd = saveInvStd[c];
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        sumDy += dy[i];
        sumDyXhat += dy[i] * (x[i] - mean) * invStd;
      }
    }
    dBeta[c] = sumDy;
    dGamma[c] = sumDyXhat;
    const scale = (gamma[c] * invStd) / count;
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        const xhat = (x[i] - mean) * invStd;
        dx[i] = scale * (count * dy[i] - sumDy - xhat * sumDyXhat);
      }
    }
  }
}

/**
 * Batch norm's eval-mode backward over [N, C, S] (see Kernels.batchNormBackwardEval), sums in
 * float64. The wasm backend runs it too, on its views.
 */
export function batchNormBackwardEvalLoop(
  x: ArrayLike<number>, dy: ArrayLike<number>, N: number, C: number, S: number, gamma: ArrayLike<number>, eps: number,
  runningMean: ArrayLike<number>, runningVar: ArrayLike<number>,
  dx: { [i: number]: number }, dGamma: { [i: number]: number }, dBeta: { [i: number]: number },
): void {
  for (let c = 0; c < C; c++) {
    const mean = runningMean[c];
    const invStd = 1 / Math.sqrt(runningVar[c] + eps);
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

// ---- optimisers --------------------------------------------------------------------------------

/** torch.optim.Adam (not AdamW): g = grad + wd·p; p -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps). */
function adamStep(
  param: FloatArray, grad: FloatArray, m: FloatArray, v: FloatArray, mask: FloatArray | null,
  lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
): void {
  need(grad, param.length, 'grad');
  need(m, param.length, 'm');
  need(v, param.length, 'v');
  if (mask !== null) need(mask, param.length, 'mask');
  if (!(step >= 1)) throw new Error(`reference kernels: Adam step must count from 1, got ${step}`);
  const biasCorrection1 = 1 - Math.pow(beta1, step);
  const biasCorrection2 = 1 - Math.pow(beta2, step);
  const stepSize = lr / biasCorrection1;
  const sqrtBiasCorrection2 = Math.sqrt(biasCorrection2);
  for (let i = 0; i < param.length; i++) {
    if (mask !== null && mask[i] === 0) {
      param[i] = 0;
      m[i] = 0;
      v[i] = 0;
      continue;
    }
    const g = grad[i] + weightDecay * param[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    const denom = Math.sqrt(v[i]) / sqrtBiasCorrection2 + eps;
    param[i] -= (stepSize * m[i]) / denom;
  }
}

/**
 * torch.optim.SGD: d = grad + wd·p; with momentum, buf = d on the first step, else
 * buf = momentum·buf + (1 - dampening)·d; d = nesterov ? d + momentum·buf : buf; p -= lr·d.
 * `step` (counted from 1) tells the first step apart; it only matters when dampening ≠ 0.
 */
function sgdStep(
  param: FloatArray, grad: FloatArray, velocity: FloatArray, mask: FloatArray | null,
  lr: number, momentum: number, nesterov: boolean, weightDecay: number, dampening: number, step = 2,
): void {
  need(grad, param.length, 'grad');
  need(velocity, param.length, 'velocity');
  if (mask !== null) need(mask, param.length, 'mask');
  const first = step <= 1;
  for (let i = 0; i < param.length; i++) {
    if (mask !== null && mask[i] === 0) {
      param[i] = 0;
      velocity[i] = 0;
      continue;
    }
    let d = grad[i] + weightDecay * param[i];
    if (momentum !== 0) {
      velocity[i] = first ? d : momentum * velocity[i] + (1 - dampening) * d;
      d = nesterov ? d + momentum * velocity[i] : velocity[i];
    }
    param[i] -= lr * d;
  }
}

// ---- the backend -------------------------------------------------------------------------------

/** The reference backend's Tensor: a plain typed array. */
class ReferenceTensor implements Tensor {
  readonly length: number;
  freed = false;
  constructor(readonly owner: object, readonly dtype: DType, readonly data: FloatArray | Int32Array, readonly borrowed = false) {
    this.length = data.length;
  }
}

export interface ReferenceKernelOptions {
  /** keep 'f32' tensors in float64 (gradient checks); default false */
  float64?: boolean;
}

/**
 * The plain-TypeScript backend. With `float64` its float tensors are Float64Array (download still
 * returns float32; read the float64 values through `view`).
 */
export function referenceKernels(opts: ReferenceKernelOptions = {}): Kernels & HostAccess {
  const owner = {};
  const float64 = opts.float64 ?? false;
  const own = (t: Tensor): ReferenceTensor => {
    if (!(t instanceof ReferenceTensor) || t.owner !== owner) throw new Error('reference kernels: the tensor was made by another backend');
    if (t.freed) throw new Error('reference kernels: the tensor was freed');
    return t;
  };
  const f = (t: Tensor): FloatArray => {
    const r = own(t);
    if (r.dtype !== 'f32') throw new Error('reference kernels: an i32 tensor where a float tensor is expected');
    return r.data as FloatArray;
  };
  const fo = (t: Tensor | null): FloatArray | null => (t === null ? null : f(t));
  const i32 = (t: Tensor): Int32Array => {
    const r = own(t);
    if (r.dtype !== 'i32') throw new Error('reference kernels: a float tensor where an i32 tensor is expected');
    return r.data as Int32Array;
  };
  /** [start, end) of a range of t, checked */
  const range = (t: Tensor, offset: number, length: number | undefined): [number, number] => {
    const end = length === undefined ? t.length : offset + length;
    if (!(offset >= 0 && end >= offset && end <= t.length)) throw new RangeError(`reference kernels: range [${offset}, ${end}) outside a tensor of ${t.length}`);
    return [offset, end];
  };
  const tensor = (length: number, dtype: DType = 'f32'): Tensor => {
    if (!(Number.isInteger(length) && length >= 0)) throw new RangeError(`reference kernels: tensor length must be a whole number, got ${length}`);
    if (dtype !== 'f32' && dtype !== 'i32') throw new RangeError(`reference kernels: unknown dtype ${String(dtype)}`);
    const data = dtype === 'i32' ? new Int32Array(length) : float64 ? new Float64Array(length) : new Float32Array(length);
    return new ReferenceTensor(owner, dtype, data);
  };
  return {
    name: 'reference',
    threads: 1,
    close: async () => {},
    tensor,
    free: (t) => {
      const r = own(t);
      if (r.borrowed) throw new Error('reference kernels: free() of a tensor made by wrap()');
      r.freed = true;
    },
    view: f,
    viewInt32: i32,
    wrap: (array) => new ReferenceTensor(owner, array instanceof Int32Array ? 'i32' : 'f32', array, true),
    upload: (t, data, offset = 0) => {
      const d = own(t).data;
      range(t, offset, data.length);
      d.set(data, offset);
    },
    download: (t, offset = 0, length) => {
      const [s, e] = range(t, offset, length);
      return Promise.resolve(Float32Array.from(f(t).subarray(s, e)));
    },
    downloadInt32: (t, offset = 0, length) => {
      const [s, e] = range(t, offset, length);
      return Promise.resolve(i32(t).slice(s, e));
    },
    fill: (t, value, offset = 0, length) => {
      const [s, e] = range(t, offset, length);
      own(t).data.fill(value, s, e);
    },
    copy: (src, dst, n, srcOffset = 0, dstOffset = 0) => {
      const a = own(src);
      const b = own(dst);
      if (a.dtype !== b.dtype) throw new Error('reference kernels: copy between tensors of different dtypes');
      range(src, srcOffset, n);
      range(dst, dstOffset, n);
      b.data.set(a.data.subarray(srcOffset, srcOffset + n), dstOffset);
    },
    scale: (x, alpha, n, offset = 0) => {
      range(x, offset, n);
      const v = f(x);
      for (let i = offset; i < offset + n; i++) v[i] *= alpha;
    },
    addScalar: (x, value, n, offset = 0) => {
      range(x, offset, n);
      const v = f(x);
      for (let i = offset; i < offset + n; i++) v[i] += value;
    },
    axpy: (alpha, x, y, n) => {
      const [a, b] = [f(x), f(y)];
      need(a, n, 'x');
      need(b, n, 'y');
      for (let i = 0; i < n; i++) b[i] += alpha * a[i];
    },
    abs: (x, y, n) => {
      const [a, b] = [f(x), f(y)];
      need(a, n, 'x');
      need(b, n, 'y');
      for (let i = 0; i < n; i++) b[i] = Math.abs(a[i]);
    },
    applyMask: (x, mask, n) => {
      const [a, m] = [f(x), f(mask)];
      need(a, n, 'x');
      need(m, n, 'mask');
      for (let i = 0; i < n; i++) if (m[i] === 0) a[i] = 0;
    },
    maxAbs: (x, n, out, outOffset = 0, offset = 0) => {
      range(x, offset, n);
      range(out, outOffset, 1);
      const v = f(x);
      let m = 0;
      for (let i = offset; i < offset + n; i++) {
        const a = Math.abs(v[i]);
        if (a > m || Number.isNaN(a)) m = a;
        if (Number.isNaN(m)) break;
      }
      f(out)[outOffset] = m;
    },
    sgemm: (transA, transB, M, N, K, alpha, A, B, beta, C, aOffset = 0, bOffset = 0, cOffset = 0) =>
      sgemm(transA, transB, M, N, K, alpha, f(A).subarray(aOffset), f(B).subarray(bOffset), beta, f(C).subarray(cOffset)),
    createMaskedWeight: (W, mask, rows, cols) => {
      need(W, rows * cols, 'W');
      need(mask, rows * cols, 'mask');
      return new ReferenceMaskedWeight(f(W), f(mask), rows, cols);
    },
    maskedForward: (mw, X, N, bias, Y) => maskedForward(mw, f(X), N, fo(bias), f(Y)),
    maskedBackwardInput: (mw, dY, N, dX) => maskedBackwardInput(mw, f(dY), N, f(dX)),
    maskedBackwardWeight: (mw, dY, X, N, dW) => maskedBackwardWeight(mw, f(dY), f(X), N, f(dW)),
    im2col: (x, xOffset, g, col) => im2col(f(x).subarray(xOffset), g, f(col)),
    col2im: (col, g, dx, dxOffset) => col2im(f(col), g, f(dx).subarray(dxOffset)),
    conv2dForward: (mw, x, bias, g, y, workspace) => conv2dForward(mw, f(x), fo(bias), g, f(y), f(workspace)),
    conv2dBackward: (mw, x, dy, g, dW, dBias, dx, workspace) =>
      conv2dBackward(mw, f(x), f(dy), g, f(dW), fo(dBias), fo(dx), f(workspace)),
    conv2dWorkspaceSize,
    maxPool2dForward: (x, g, y, argmax) => maxPool2dForward(f(x), g, f(y), i32(argmax)),
    maxPool2dBackward: (dy, argmax, g, dx) => maxPool2dBackward(f(dy), i32(argmax), g, f(dx)),
    avgPool2dForward: (x, g, y) => avgPool2dForward(f(x), g, f(y)),
    avgPool2dBackward: (dy, g, dx) => avgPool2dBackward(f(dy), g, f(dx)),
    reluForward: (x, y, n) => {
      need(x, n, 'x');
      reluForward(f(x).subarray(0, n), f(y));
    },
    reluBackward: (y, dy, dx, n) => {
      need(y, n, 'y');
      reluBackward(f(y).subarray(0, n), f(dy), f(dx));
    },
    addBias: (y, bias, N, C, S) => addBias(f(y), f(bias), N, C, S),
    biasBackward: (dy, N, C, S, dBias) => biasBackward(f(dy), N, C, S, f(dBias)),
    softmaxCrossEntropy: (logits, labels, N, C, dLogits, stats, statsOffset = 0) => {
      const r = softmaxCrossEntropy(f(logits), i32(labels), N, C, f(dLogits));
      if (stats !== null) {
        need(stats, statsOffset + 2, 'stats');
        const s = f(stats);
        s[statsOffset] += r.loss * N;
        s[statsOffset + 1] += r.correct;
      }
    },
    batchNormForwardTrain: (x, N, C, S, gamma, beta, eps, momentum, runningMean, runningVar, y, saveMean, saveInvStd) =>
      batchNormForwardTrain(f(x), N, C, S, f(gamma), f(beta), eps, momentum, f(runningMean), f(runningVar), f(y), f(saveMean), f(saveInvStd)),
    batchNormForwardEval: (x, N, C, S, gamma, beta, eps, runningMean, runningVar, y) =>
      batchNormForwardEval(f(x), N, C, S, f(gamma), f(beta), eps, f(runningMean), f(runningVar), f(y)),
    batchNormBackward: (x, dy, N, C, S, gamma, saveMean, saveInvStd, dx, dGamma, dBeta) =>
      batchNormBackward(f(x), f(dy), N, C, S, f(gamma), f(saveMean), f(saveInvStd), f(dx), f(dGamma), f(dBeta)),
    batchNormBackwardEval: (x, dy, N, C, S, gamma, eps, runningMean, runningVar, dx, dGamma, dBeta) => {
      need(x, N * C * S, 'x');
      need(dy, N * C * S, 'dy');
      need(dx, N * C * S, 'dx');
      batchNormBackwardEvalLoop(f(x), f(dy), N, C, S, f(gamma), eps, f(runningMean), f(runningVar), f(dx), f(dGamma), f(dBeta));
    },
    adamStep: (param, grad, m, v, mask, lr, beta1, beta2, eps, weightDecay, step) =>
      adamStep(f(param), f(grad), f(m), f(v), fo(mask), lr, beta1, beta2, eps, weightDecay, step),
    sgdStep: (param, grad, velocity, mask, lr, momentum, nesterov, weightDecay, dampening, step) =>
      sgdStep(f(param), f(grad), f(velocity), fo(mask), lr, momentum, nesterov, weightDecay, dampening, step),
  };
}
