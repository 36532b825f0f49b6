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
 * - SynFlow: |w * dR/dw| with every parameter replaced by its absolute value (BatchNorm in eval
 *   mode, running statistics as they are), an all-ones input of one example, and R = the sum of
 *   the logits. The pass is a model method, Sequential.synflowPass, that runs through the kernels.
 *
 * Where the work runs: the gradients (SNIP's sums over batches, SynFlow's pass) are computed on the
 * device; weights, masks and gradients are downloaded once per level and the scores formed on the
 * host in float64, where the mask selection and the graph analysis need them anyway.
 *
 * SynFlow numerics. The products of absolute weights grow with depth (vgg19 at initialisation
 * already gives R ~ 3e27 on an all-ones input; trained or pruned networks can leave float32's range
 * either way), and global pruning ranks the scores of all layers together, so their true relative
 * sizes must survive. We run the network layer by layer in float32 on the engine and, after each
 * Linear/Conv layer (a layer whose `synflow` is 'rescale'), rescale its output by a power of two c_l = 2^-round(log2 max|y_l|), carrying
 * the scale S_l = c_1 ... c_l as a float64 number. Rescaling is folded into the parameters so the
 * network stays one well-defined function: the layer's weight is multiplied by c_l and its bias by
 * S_l; a BatchNorm after it gets its shift (beta) and running mean multiplied by S_l (layers say
 * which of these they are through `Layer.synflow`; no instanceof). ReLU, max/avg pooling and
 * flatten are positively homogeneous, so every activation of the rescaled network is
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
import type { Param } from '../nn/param.js';
import type { Rng } from '../nn/rng.js';
import type { Sequential } from '../nn/sequential.js';
import { computeGradients } from '../nn/train.js';

/** Score per prunable weight, by parameter name, in model order. */
export type LayerScores = Map<string, Float64Array>;

function prunable(model: Sequential): Param[] {
  return model.prunableParams();
}

/** |w| under the mask (0 elsewhere); weights and masks downloaded once. */
export async function magnitudeScores(model: Sequential): Promise<LayerScores> {
  const k = model.kernels;
  const out: LayerScores = new Map();
  for (const p of prunable(model)) {
    const [w, m] = [await k.download(p.data), await k.download(p.mask!)];
    const s = new Float64Array(w.length);
    for (let i = 0; i < s.length; i++) s[i] = m[i] !== 0 ? Math.abs(w[i]) : 0;
    out.set(p.name, s);
  }
  return out;
}

/** Uniform [0, 1) scores from `rng` (one draw per entry, drawn for pruned entries too so the stream does not depend on the mask). */
export async function randomScores(model: Sequential, rng: Rng): Promise<LayerScores> {
  const out: LayerScores = new Map();
  for (const p of prunable(model)) {
    const m = await model.kernels.download(p.mask!);
    const s = new Float64Array(m.length);
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
 * current weights and summed on the device; nothing is updated. BatchNorm running statistics are
 * restored afterwards (device copies).
 */
export async function snipScores(model: Sequential, batches: MinibatchSource, count: number): Promise<LayerScores> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`snipScores: count must be a positive integer, got ${count}`);
  const k = model.kernels;
  const device = model.device;
  const params = prunable(model);
  const sums = params.map((p) => device.alloc(p.data.length));
  const savedBuffers = model.buffers.map((b) => {
    const copy = device.alloc(b.data.length);
    k.copy(b.data, copy, b.data.length);
    return copy;
  });
  const [C, H, W] = model.inputShape;
  const N = batches.batchSize;
  const x = new Float32Array(N * C * H * W);
  const labels = new Int32Array(N);
  const out: LayerScores = new Map();
  try {
    for (let b = 0; b < count; b++) {
      batches.next(x, labels);
      computeGradients(model, x, labels, N, 'train');
      params.forEach((p, j) => k.axpy(1, p.grad, sums[j], p.grad.length));
    }
    for (const [j, p] of params.entries()) {
      const [sum, w, m] = [await k.download(sums[j]), await k.download(p.data), await k.download(p.mask!)];
      const s = new Float64Array(sum.length);
      for (let i = 0; i < s.length; i++) s[i] = m[i] !== 0 ? Math.abs((sum[i] / count) * w[i]) : 0;
      out.set(p.name, s);
    }
  } finally {
    model.buffers.forEach((b, i) => k.copy(savedBuffers[i], b.data, b.data.length));
    for (const t of [...sums, ...savedBuffers]) device.free(t);
  }
  return out;
}

/**
 * SynFlow scores (see the module comment for the rescaling). Leaves the model's parameters,
 * buffers and masks exactly as they were; param.grad holds the rescaled SynFlow gradients afterwards.
 */
export async function synflowScores(model: Sequential): Promise<LayerScores> {
  const k = model.kernels;
  return model.synflowPass(async ({ outputScale, gradScale }) => {
    const out: LayerScores = new Map();
    for (const p of prunable(model)) {
      const [w, g, mask] = [await k.download(p.data), await k.download(p.grad), await k.download(p.mask!)];
      const s = new Float64Array(w.length);
      const divide = outputScale * gradScale.get(p.name)!;
      for (let i = 0; i < s.length; i++) s[i] = mask[i] !== 0 ? Math.abs(w[i] * g[i]) / divide : 0;
      out.set(p.name, s);
    }
    return out;
  });
}
