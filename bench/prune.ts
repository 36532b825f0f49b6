/**
 * `npm run bench -- prune`: what pruning costs next to training.
 *
 * - lenet-300-100 on MNIST at the paper's protocol (20,000 Adam iterations of batch 60 per level):
 *   training speed is measured over a few hundred iterations and extrapolated to one level; then,
 *   at densities 100%, 20% and 5%, the time of scoring (magnitude), layer-wise selection and the
 *   graph analysis of all three layers (unweighted, weighted, score-weighted) is taken as a
 *   percentage of that level time (target: under 5%). Algorithm 1 (K = 3) and the other scores
 *   are reported beside it.
 * - vgg19 (CIFAR shape): SynFlow scoring time (target: under 5 s), and global selection over its
 *   20M weights.
 */
import { TrainBatches, loadDataset } from '../src/data/index.js';
import { createKernels } from '../src/engine/index.js';
import { analyzeLayer, graphMetrics } from '../src/graph/index.js';
import { createModel } from '../src/models/zoo.js';
import { createOptimizer } from '../src/nn/optim.js';
import type { Sequential } from '../src/nn/sequential.js';
import { trainStep } from '../src/nn/train.js';
import { ramanujanPreservingPrune } from '../src/prune/algorithm1.js';
import type { TrainingConfig } from '../src/prune/config.js';
import { magnitudeScores, snipScores, synflowScores, type LayerScores } from '../src/prune/scores.js';
import { selectGlobal, selectLayerwise, type SelectionLayer } from '../src/prune/select.js';
import { timeMedianMs, timeMedianMsAsync, type BenchContext } from './harness.js';

const PAPER_ITERATIONS = 20_000;
const FRACTIONS = { pConv: 0.1, pFc: 0.2, pOut: 0.1 };

function selectionLayers(model: Sequential, masks: Map<string, Float32Array>, scores: LayerScores): SelectionLayer[] {
  return model.prunableParams().map((p) => ({
    name: p.name,
    kind: p.kind as 'linear' | 'conv',
    isOutput: p.name === model.outputWeightName,
    mask: masks.get(p.name)!,
    score: scores.get(p.name)!,
  }));
}

/** The graph analysis of every layer, with the once-per-level download of weights and masks (as the lottery loop does). */
async function analyzeAll(model: Sequential, scores: LayerScores): Promise<void> {
  for (const p of model.prunableParams()) {
    const [weight, mask] = [await model.kernels.download(p.data), await model.kernels.download(p.mask!)];
    analyzeLayer({ name: p.name, kind: p.kind as 'linear' | 'conv', shape: p.shape, weight, mask, score: scores.get(p.name)! });
  }
}

function timeMs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

export async function run(ctx: BenchContext): Promise<void> {
  const kernels = await createKernels();
  try {
    // ---- lenet-300-100: one level's training time --------------------------------------------
    const dataset = await loadDataset('mnist');
    const training: TrainingConfig = {
      optimizer: 'adam', lr: 0.0012, momentum: 0, nesterov: false, weightDecay: 0, batchSize: 60,
      iterations: PAPER_ITERATIONS, schedule: 'constant', milestones: [], gamma: 0.1,
    };
    const model = createModel('lenet-300-100', kernels, { seed: 1, inputShape: dataset.shape, classes: 10 });
    const optimizer = createOptimizer(model, training);
    const batches = new TrainBatches(dataset, { batchSize: 60, seed: 1 });
    const x = new Float32Array(60 * 784);
    const labels = new Int32Array(60);
    const steps = ctx.quick ? 200 : 1000;
    for (let i = 0; i < 50; i++) { batches.next(x, labels); trainStep(model, optimizer, x, labels, 60); }
    const trainMs = timeMs(() => { for (let i = 0; i < steps; i++) { batches.next(x, labels); trainStep(model, optimizer, x, labels, 60); } });
    const levelMs = (trainMs / steps) * PAPER_ITERATIONS;
    ctx.report('lenet_train_iterations_per_s', (steps * 1000) / trainMs, 'it/s', `batch 60, dense, ${kernels.name} ${kernels.threads} threads`);
    ctx.report('lenet_level_train_s', levelMs / 1000, 's', `${PAPER_ITERATIONS} iterations, extrapolated`);

    // ---- lenet: scoring + selection + analysis per level, at three densities -----------------
    const reps = ctx.quick ? 1 : 3;
    for (const density of [1, 0.2, 0.05]) {
      if (density < 1) {
        // magnitude-prune every layer to the density (from the dense trained weights' order)
        const scores = await magnitudeScores(model);
        const masks = await model.masks();
        const first = masks.get(model.prunableParams()[0].name)!;
        const current = first.reduce((a, b) => a + b, 0) / first.length;
        const sel = selectLayerwise(selectionLayers(model, masks, scores), { pConv: 0, pFc: 1 - density / current, pOut: 1 - density / current });
        for (const [name, m] of sel.masks) model.setMask(name, m);
      }
      const tag = `d${Math.round(density * 100)}`;
      const scoreMs = await timeMedianMsAsync(() => magnitudeScores(model), reps);
      const scores = await magnitudeScores(model);
      const masks = await model.masks();
      const selectMs = timeMedianMs(() => { selectLayerwise(selectionLayers(model, masks, scores), FRACTIONS); }, reps);
      const analyzeMs = await timeMedianMsAsync(() => analyzeAll(model, scores), reps);
      const total = scoreMs + selectMs + analyzeMs;
      ctx.report(`lenet_imp_overhead_pct_${tag}`, (100 * total) / levelMs, '%', `score ${scoreMs.toFixed(1)} + select ${selectMs.toFixed(1)} + analyse ${analyzeMs.toFixed(1)} ms per level; target < 5`);
      const bound = { criterion: 'combined' as const, maxTries: 3, schedule: 'text' as const };
      const alg1Ms = timeMedianMs(() => {
        for (const p of model.prunableParams()) {
          const rows = p.shape[0];
          ramanujanPreservingPrune({ name: p.name, rows, cols: p.data.length / rows, mask: masks.get(p.name)!, score: scores.get(p.name)! }, p.name === model.outputWeightName ? 0.1 : 0.2, bound, graphMetrics);
        }
      }, reps);
      ctx.report(`lenet_alg1_pct_${tag}`, (100 * alg1Ms) / levelMs, '%', `${alg1Ms.toFixed(1)} ms: Algorithm 1 over the three layers, K = 3`);
    }
    const snipMs = await timeMedianMsAsync(() => snipScores(model, batches, 1), reps);
    ctx.report('lenet_snip_ms', snipMs, 'ms', 'one minibatch of 60');
    const synflowLenetMs = await timeMedianMsAsync(() => synflowScores(model), reps);
    ctx.report('lenet_synflow_ms', synflowLenetMs, 'ms');
    optimizer.dispose();
    model.dispose();

    // ---- vgg19: SynFlow and global selection --------------------------------------------------
    const vgg = createModel('vgg19', kernels, { seed: 1, inputShape: [3, 32, 32], classes: 10 });
    const synflowMs = await timeMedianMsAsync(() => synflowScores(vgg), ctx.quick ? 1 : 3);
    ctx.report('vgg19_synflow_s', synflowMs / 1000, 's', 'target < 5');
    const vggScores = await synflowScores(vgg);
    const vggMasks = await vgg.masks();
    const globalMs = timeMedianMs(() => { selectGlobal(selectionLayers(vgg, vggMasks, vggScores), 0.2); }, 1, 0);
    ctx.report('vgg19_global_select_s', globalMs / 1000, 's', `${vgg.prunableParams().reduce((s, p) => s + p.data.length, 0)} weights, p = 0.2`);
    vgg.dispose();
  } finally {
    await kernels.close();
  }
}
