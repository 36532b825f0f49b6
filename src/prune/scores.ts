/**
 * Pruning scores over a model's prunable weights (Linear and Conv weights; never biases or batch
 * norm), NOTES section 7. Every score function returns one Float64Array per prunable weight, in the
 * weight's flat layout, by parameter name, with 0 under pruned connections (only surviving
 * connections are candidates for pruning; see select.ts).
 *
 * - magnitude (IMP): |w|.
 * - random: uniform [0, 1) from a seeded stream, one draw per entry in flat order.
 * - SNIP: |g * w|, g = the loss gradient averaged over `batches` minibatches at the current weights
 *   (BatchNorm in training mode, as a training step sees it; its running statistics are restored
 *   afterwards so scoring leaves the model exactly as it was).
 * - SynFlow: |w * dR/dw| with every parameter replaced by its absolute value (withAbsoluteParams:
 *   BatchNorm in eval mode, running statistics as they are), an all-ones input of one example,
 *   and R = the sum of the logits.
 *
 * SynFlow numerics. The products of absolute weights grow with depth (vgg19 at initialisation
 * already gives R ~ 3e27 on an all-ones input; trained or pruned networks can leave float32's range
 * either way), and global pruning ranks the scores of all layers together, so their true relative
 * sizes must survive. We run the network layer by layer in float32 on the engine and, after each
 * Linear/Conv layer, rescale its output by a power of two c_l = 2^-round(log2 max|y_l|), carrying
 * the scale S_l = c_1 ... c_l as a float64 number. Rescaling is folded into the parameters so the
 * network stays one well-defined function: the layer's weight is multiplied by c_l and its bias by
 * S_l; a BatchNorm after it gets its shift (beta) and running mean multiplied by S_l. ReLU, max/avg
 * pooling and flatten are positively homogeneous, so every activation of the rescaled network is
 * exactly S_l times the true one (powers of two multiply exactly in floating point) and
 * R' = S_L R. For a weight w of layer l, w' dR'/dw' = S_L w dR/dw, so the true score is
 * (w' g') / S_L, computed in float64. The backward pass is rescaled the same way (it is linear in
 * the incoming gradient): after each Linear/Conv layer the gradient passed down is multiplied by a
 * power of two d, the factor T carried along, and a weight's gradient, computed at its layer's T,
 * is divided by it. So the true score is |w' g'| / (S_L T_l). Activations and gradients stay near 1
 * and the scores keep their relative sizes across layers whatever the depth, even where biases make
 * the early layers' true scores smaller than float32 can hold (a float64 reference agrees: see the
 * tests).
 * The alternative, a float64 copy of the network on the reference kernels, is exact too but takes
 * seconds for vgg19 instead of a fraction of one.
 */
import type { FloatArray } from '../engine/kernels.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, type Layer } from '../nn/layers.js';
import type { Param } from '../nn/param.js';
import type { Rng } from '../nn/rng.js';
import { withAbsoluteParams, type Sequential } from '../nn/sequential.js';
import { computeGradients } from '../nn/train.js';

/** Score per prunable weight, by parameter name, in model order. */
export type LayerScores = Map<string, Float64Array>;

function prunable<A extends FloatArray>(model: Sequential<A>): Param<A>[] {
  return model.prunableParams();
}

/** |w| under the mask (0 elsewhere). */
export function magnitudeScores<A extends FloatArray>(model: Sequential<A>): LayerScores {
  const out: LayerScores = new Map();
  for (const p of prunable(model)) {
    const s = new Float64Array(p.data.length);
    const m = p.mask!;
    for (let i = 0; i < s.length; i++) s[i] = m[i] !== 0 ? Math.abs(p.data[i]) : 0;
    out.set(p.name, s);
  }
  return out;
}

/** Uniform [0, 1) scores from `rng` (one draw per entry, drawn for pruned entries too so the stream does not depend on the mask). */
export function randomScores<A extends FloatArray>(model: Sequential<A>, rng: Rng): LayerScores {
  const out: LayerScores = new Map();
  for (const p of prunable(model)) {
    const s = new Float64Array(p.data.length);
    const m = p.mask!;
    for (let i = 0; i < s.length; i++) {
      const u = rng.next();
      s[i] = m[i] !== 0 ? u : 0;
    }
    out.set(p.name, s);
  }
  return out;
}

/** A source of training minibatches (src/data's TrainBatches has this shape). */
export interface MinibatchSource {
  readonly batchSize: number;
  next(x: Float32Array, labels: Int32Array): void;
}

/**
 * SNIP: |mean_b g_b * w| over `count` minibatches from `batches`. Gradients are taken at the
 * current weights; nothing is updated. BatchNorm running statistics are restored afterwards.
 */
export function snipScores<A extends FloatArray>(model: Sequential<A>, batches: MinibatchSource, count: number): LayerScores {
  if (!Number.isInteger(count) || count < 1) throw new Error(`snipScores: count must be a positive integer, got ${count}`);
  const params = prunable(model);
  const sums = params.map((p) => new Float64Array(p.data.length));
  const savedBuffers = model.buffers.map((b) => b.data.slice());
  const [C, H, W] = model.inputShape;
  const N = batches.batchSize;
  const x = new Float32Array(N * C * H * W);
  const labels = new Int32Array(N);
  try {
    for (let b = 0; b < count; b++) {
      batches.next(x, labels);
      computeGradients(model, x, labels, N, 'train');
      params.forEach((p, j) => {
        const sum = sums[j];
        for (let i = 0; i < sum.length; i++) sum[i] += p.grad[i];
      });
    }
  } finally {
    model.buffers.forEach((b, i) => b.data.set(savedBuffers[i]));
  }
  const out: LayerScores = new Map();
  params.forEach((p, j) => {
    const s = sums[j];
    const m = p.mask!;
    for (let i = 0; i < s.length; i++) s[i] = m[i] !== 0 ? Math.abs((s[i] / count) * p.data[i]) : 0;
    out.set(p.name, s);
  });
  return out;
}

/** The largest |value| of the first n entries of y. */
function maxAbs(y: FloatArray, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = Math.abs(y[i]);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

function scaleInPlace(a: FloatArray, s: number, n = a.length): void {
  if (s === 1) return;
  for (let i = 0; i < n; i++) a[i] *= s;
}

/**
 * SynFlow scores (see the module comment for the rescaling). Leaves the model's parameters,
 * buffers and masks exactly as they were; param.grad holds the rescaled SynFlow gradients afterwards.
 */
export function synflowScores<A extends FloatArray>(model: Sequential<A>): LayerScores {
  const layers = model.layers;
  // The rescaling is exact only for these layers (weight layers, BN, and positively homogeneous maps).
  for (const l of layers) {
    const known = l instanceof Linear || l instanceof Conv2d || l instanceof BatchNorm2d || l instanceof ReLU
      || l instanceof MaxPool2d || l instanceof AvgPool2d || l instanceof Flatten;
    if (!known) throw new Error(`synflowScores: layer ${l.name || l.description} is not one SynFlow's rescaling knows (Linear, Conv2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, Flatten)`);
  }
  const [C, H, W] = model.inputShape;
  const input = model.device.alloc(C * H * W);
  input.fill(1);
  const runningMeans = layers.filter((l): l is BatchNorm2d<A> => l instanceof BatchNorm2d).map((l) => [l.runningMean, l.runningMean.slice()] as const);
  try {
    return withAbsoluteParams(model, () => {
      // One ordinary forward pass prepares the model's buffers for N = 1 (its values are not used).
      model.forward(input, 1, 'eval');
      let scale = 1; // S_l: product of the c's so far
      let h: A = input;
      for (const layer of layers as Layer<A>[]) {
        if (layer instanceof BatchNorm2d) {
          // y = gamma (x - mean) invStd + beta: with x scaled by S, scale mean and beta by S too
          scaleInPlace(layer.runningMean, scale);
          scaleInPlace(layer.bias.data, scale);
        }
        if (layer instanceof Linear || layer instanceof Conv2d) {
          if (layer.bias !== null) scaleInPlace(layer.bias.data, scale);
          layer.refreshWeights();
          h = layer.forward(h, 1);
          const n = layer.outShape.reduce((a, b) => a * b, 1);
          const m = maxAbs(h, n);
          if (!Number.isFinite(m)) throw new Error(`synflowScores: non-finite activation after ${layer.name}`);
          const c = m > 0 ? 2 ** -Math.round(Math.log2(m)) : 1;
          // fold c into the layer: output, weight, bias; the model is now c-scaled from here on
          scaleInPlace(h, c, n);
          scaleInPlace(layer.weight.data, c);
          if (layer.bias !== null) scaleInPlace(layer.bias.data, c);
          layer.refreshWeights();
          scale *= c;
        } else {
          h = layer.forward(h, 1, 'eval');
        }
      }
      // Backward, layer by layer, rescaling the gradient signal the same way: T is the factor the
      // signal arriving at a layer carries; a weight's gradient is computed at its layer's T.
      const dLogits = model.dLogitsBuffer(1);
      dLogits.fill(1); // R' = sum of the (rescaled) logits
      const first = Math.max(0, layers.findIndex((l) => l.params.length > 0));
      const gradScale = new Map<string, number>();
      let back = 1;
      let g: A | null = dLogits;
      for (let i = layers.length - 1; i >= first; i--) {
        const layer = layers[i];
        if (layer instanceof Linear || layer instanceof Conv2d) gradScale.set(layer.weight.name, back);
        g = layer.backward(g!, 1, i > first);
        if (g !== null && (layer instanceof Linear || layer instanceof Conv2d)) {
          const n = layer.inShape.reduce((a, b) => a * b, 1);
          const m = maxAbs(g, n);
          if (!Number.isFinite(m)) throw new Error(`synflowScores: non-finite gradient below ${layer.name}`);
          const d = m > 0 ? 2 ** -Math.round(Math.log2(m)) : 1;
          scaleInPlace(g, d, n);
          back *= d;
        }
      }
      const out: LayerScores = new Map();
      for (const p of prunable(model)) {
        const s = new Float64Array(p.data.length);
        const mask = p.mask!;
        const divide = scale * gradScale.get(p.name)!;
        for (let i = 0; i < s.length; i++) s[i] = mask[i] !== 0 ? Math.abs(p.data[i] * p.grad[i]) / divide : 0;
        out.set(p.name, s);
      }
      return out;
    });
  } finally {
    for (const [array, saved] of runningMeans) array.set(saved);
    model.device.free(input);
    for (const l of layers) l.refreshWeights();
  }
}
