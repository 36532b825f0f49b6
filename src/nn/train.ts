/**
 * The training and evaluation loops' building blocks: one step (forward, softmax cross-entropy,
 * backward, optimiser update) and an evaluation pass over a test set.
 *
 * Nothing here reads the device back inside a step: the loss and the correct count of a step are
 * added into a `stats` tensor on the device (Kernels.softmaxCrossEntropy), and the caller downloads
 * it when it wants the figures (src/prune/lottery.ts: every PROGRESS_EVERY steps). `evaluate`
 * downloads once per test set. The `...AndRead` helpers download after every step: for tests and
 * tools, not for training loops.
 */
import type { FloatArray, Tensor } from '../engine/kernels.js';
import type { Mode } from './layers.js';
import type { Optimizer } from './optim.js';
import type { Sequential } from './sequential.js';

/**
 * What `evaluate` reads: the shape of src/data's EvalBatchSource (declared here structurally so that
 * nn does not depend on the data loaders).
 */
export interface EvalBatches {
  batches(): Iterable<{ x: Float32Array; labels: Int32Array; n: number }>;
}

export interface StepResult {
  /** mean cross-entropy over the batch */
  loss: number;
  /** examples whose argmax logit equals the label */
  correct: number;
}

/** Where a step adds its loss sum and correct count: stats[offset] += Σ loss, stats[offset + 1] += correct. */
export interface StatsSlot {
  stats: Tensor;
  offset: number;
}

/**
 * Forward + loss + backward on x[N, C, H, W] (host) with labels[N]: fills every param.grad (the
 * gradient of the mean cross-entropy) without updating anything, and adds the batch's loss sum
 * and correct count into `slot` when given. `mode` 'train' (default) uses BatchNorm batch
 * statistics; SNIP-style scores use it as is.
 */
export function computeGradients(
  model: Sequential, x: FloatArray, labels: Int32Array, N: number, mode: Mode = 'train', slot: StatsSlot | null = null,
): void {
  const logits = model.forward(x, N, mode);
  const dLogits = model.dLogitsBuffer(N);
  const labelTensor = model.setLabels(labels, N);
  model.kernels.softmaxCrossEntropy(logits, labelTensor, N, model.classes, dLogits, slot?.stats ?? null, slot?.offset ?? 0);
  model.backward(dLogits, N);
}

/** One training step: gradients on the batch, then one optimiser update. Reads nothing back. */
export function trainStep(
  model: Sequential, optimizer: Optimizer, x: FloatArray, labels: Int32Array, N: number, slot: StatsSlot | null = null,
): void {
  computeGradients(model, x, labels, N, 'train', slot);
  optimizer.step();
}

/** Downloads and zeroes the model's stats tensor: the step's mean loss and correct count. */
async function readStats(model: Sequential, N: number): Promise<StepResult> {
  const stats = model.stats();
  const [lossSum, correct] = await model.kernels.download(stats, 0, 2);
  model.kernels.fill(stats, 0);
  return { loss: lossSum / N, correct };
}

/** computeGradients, then a download of the batch's loss and correct count (tests, tools). */
export async function computeGradientsAndRead(
  model: Sequential, x: FloatArray, labels: Int32Array, N: number, mode: Mode = 'train',
): Promise<StepResult> {
  model.kernels.fill(model.stats(), 0);
  computeGradients(model, x, labels, N, mode, { stats: model.stats(), offset: 0 });
  return readStats(model, N);
}

/** trainStep, then a download of the batch's loss and correct count (tests, tools). */
export async function trainStepAndRead(
  model: Sequential, optimizer: Optimizer, x: FloatArray, labels: Int32Array, N: number,
): Promise<StepResult> {
  model.kernels.fill(model.stats(), 0);
  trainStep(model, optimizer, x, labels, N, { stats: model.stats(), offset: 0 });
  return readStats(model, N);
}

/**
 * Accuracy (fraction correct) and mean cross-entropy over every example of `batches`, eval mode.
 * Loss and correct counts accumulate on the device and are downloaded once at the end.
 * Batches larger than `maxChunk` (default 200) are run in chunks of at most that many examples:
 * results are the same (eval mode treats examples independently), and the model's buffers, which
 * are sized by the largest batch they have seen, stay small even when the test set is read in
 * batches of thousands.
 */
export async function evaluate(model: Sequential, batches: EvalBatches, opts: { maxChunk?: number } = {}): Promise<{ accuracy: number; loss: number }> {
  const maxChunk = opts.maxChunk ?? 200;
  const size = model.inputShape[0] * model.inputShape[1] * model.inputShape[2];
  const k = model.kernels;
  const stats = model.stats();
  k.fill(stats, 0);
  let seen = 0;
  for (const { x, labels, n } of batches.batches()) {
    for (let at = 0; at < n; at += maxChunk) {
      const m = Math.min(maxChunk, n - at);
      const xs = at === 0 && m === n ? x : x.subarray(at * size, (at + m) * size);
      const ls = at === 0 && m === n ? labels : labels.subarray(at, at + m);
      const logits = model.forward(xs, m, 'eval');
      k.softmaxCrossEntropy(logits, model.setLabels(ls, m), m, model.classes, model.dLogitsBuffer(m), stats, 0);
      seen += m;
    }
  }
  if (seen === 0) return { accuracy: NaN, loss: NaN };
  const [lossSum, correct] = await k.download(stats, 0, 2);
  k.fill(stats, 0);
  return { accuracy: correct / seen, loss: lossSum / seen };
}
