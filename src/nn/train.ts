/**
 * The training and evaluation loops' building blocks: one step (forward, softmax cross-entropy,
 * backward, optimiser update) and an evaluation pass over a test set.
 */
import type { FloatArray } from '../engine/kernels.js';
import type { Mode } from './layers.js';
import type { Optimizer } from './optim.js';
import type { Sequential } from './sequential.js';

/**
 * What `evaluate` reads: the shape of src/data's EvalBatchSource (declared here structurally so that
 * nn does not depend on the data loaders).
 */
export interface EvalBatches {
  batches(): Iterable<{ x: FloatArray; labels: Int32Array; n: number }>;
}

export interface StepResult {
  /** mean cross-entropy over the batch */
  loss: number;
  /** examples whose argmax logit equals the label */
  correct: number;
}

function copyLabels<A extends FloatArray>(model: Sequential<A>, labels: Int32Array, N: number): Int32Array {
  if (labels.length < N) throw new Error(`${model.name}: labels has ${labels.length} entries, expected ${N}`);
  const buf = model.labelsBuffer(N);
  buf.set(labels.length === N ? labels : labels.subarray(0, N));
  return buf;
}

/**
 * Forward + loss + backward on x[N, C, H, W] with labels[N]: fills every param.grad (the gradient
 * of the mean cross-entropy) without updating anything. `mode` 'train' (default) uses BatchNorm
 * batch statistics; SNIP-style scores use it as is.
 */
export function computeGradients<A extends FloatArray>(
  model: Sequential<A>, x: FloatArray, labels: Int32Array, N: number, mode: Mode = 'train',
): StepResult {
  const logits = model.forward(x, N, mode);
  const dLogits = model.dLogitsBuffer(N);
  const result = model.kernels.softmaxCrossEntropy(logits, copyLabels(model, labels, N), N, model.classes, dLogits);
  model.backward(dLogits, N);
  return result;
}

/** One training step: gradients on the batch, then one optimiser update. */
export function trainStep<A extends FloatArray>(
  model: Sequential<A>, optimizer: Optimizer, x: FloatArray, labels: Int32Array, N: number,
): StepResult {
  const result = computeGradients(model, x, labels, N, 'train');
  optimizer.step();
  return result;
}

/**
 * Accuracy (fraction correct) and mean cross-entropy over every example of `batches`, eval mode.
 * Batches larger than `maxChunk` (default 200) are run in chunks of at most that many examples:
 * results are the same (eval mode treats examples independently), and the model's buffers, which
 * are sized by the largest batch they have seen, stay small even when the test set is read in
 * batches of thousands.
 */
export function evaluate<A extends FloatArray>(model: Sequential<A>, batches: EvalBatches, opts: { maxChunk?: number } = {}): { accuracy: number; loss: number } {
  const maxChunk = opts.maxChunk ?? 200;
  const size = model.inputShape[0] * model.inputShape[1] * model.inputShape[2];
  let seen = 0;
  let correct = 0;
  let lossSum = 0;
  for (const { x, labels, n } of batches.batches()) {
    for (let at = 0; at < n; at += maxChunk) {
      const m = Math.min(maxChunk, n - at);
      const xs = at === 0 && m === n ? x : x.subarray(at * size, (at + m) * size);
      const ls = at === 0 && m === n ? labels : labels.subarray(at, at + m);
      const logits = model.forward(xs, m, 'eval');
      const r = model.kernels.softmaxCrossEntropy(logits, copyLabels(model, ls, m), m, model.classes, model.dLogitsBuffer(m));
      seen += m;
      correct += r.correct;
      lossSum += r.loss * m;
    }
  }
  if (seen === 0) return { accuracy: NaN, loss: NaN };
  return { accuracy: correct / seen, loss: lossSum / seen };
}
