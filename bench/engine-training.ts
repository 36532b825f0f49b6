/**
 * Suite `engine`, training figures: lenet-300-100 training throughput (batch 60, Adam, all cores)
 * at densities 100%, 20%, 5% and 1%; conv4 on 32x32x3; peak resident memory of a lenet run.
 *
 * Names (fixed; other tools read them): lenet_train_d100, lenet_train_d20, lenet_train_d5,
 * lenet_train_d1, conv4_train (images/s), lenet_peak_rss (MB).
 *
 * Throughput is the median over repetitions of a block of full training steps (forward, loss,
 * backward, Adam update) on a fixed synthetic batch, so data loading is not counted. Masks are
 * random, layer-wise at the given density, like a pruned ticket.
 * The memory figure comes from a child process (this file run directly with --lenet-rss-child)
 * that loads real MNIST, trains lenet for 1,000 steps and evaluates on the 10,000 test images; it
 * reports its own peak RSS, so the other suites of this process do not inflate it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createKernels } from '../src/engine/index.js';
import type { Kernels } from '../src/engine/kernels.js';
import { createModel } from '../src/models/zoo.js';
import { createOptimizer } from '../src/nn/optim.js';
import { Rng } from '../src/nn/rng.js';
import type { Sequential } from '../src/nn/sequential.js';
import { trainStep } from '../src/nn/train.js';
import type { ModelName, TrainingConfig } from '../src/prune/config.js';
import { timeMedianMs, type BenchContext } from './harness.js';

const BATCH = 60;

function adam(lr: number): TrainingConfig {
  return {
    optimizer: 'adam', lr, momentum: 0, nesterov: false, weightDecay: 0, batchSize: BATCH,
    iterations: 1_000_000, schedule: 'constant', milestones: [], gamma: 1,
  };
}

/** Random layer-wise masks: each prunable weight keeps a `density` fraction (Bernoulli). */
function applyRandomMasks(model: Sequential, density: number, rng: Rng): void {
  if (density >= 1) return;
  for (const p of model.prunableParams()) {
    const mask = new Float32Array(p.data.length);
    for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < density ? 1 : 0;
    model.setMask(p.name, mask);
  }
}

/** images/s of `steps` training steps per repetition, median over `reps`. */
function trainingThroughput(
  kernels: Kernels, name: ModelName, inputShape: [number, number, number], density: number, steps: number, reps: number,
): { imagesPerSecond: number; sparseLayers: number; layers: number } {
  const model = createModel(name, kernels, { seed: 0, inputShape, classes: 10 });
  const rng = new Rng(1);
  applyRandomMasks(model, density, rng.fork('mask'));
  const optimizer = createOptimizer(model, adam(name === 'lenet-300-100' ? 0.0012 : 0.0003));
  const size = inputShape[0] * inputShape[1] * inputShape[2];
  const x = new Float32Array(BATCH * size);
  const labels = new Int32Array(BATCH);
  const data = rng.fork('data');
  for (let i = 0; i < x.length; i++) x[i] = data.normal();
  for (let i = 0; i < BATCH; i++) labels[i] = data.int(10);
  // as the lottery loop does: each step adds its loss into its own slot on the device (no read back)
  const stats = kernels.tensor(2 * steps);
  const ms = timeMedianMs(() => {
    for (let s = 0; s < steps; s++) trainStep(model, optimizer, x, labels, BATCH, { stats, offset: 2 * s });
  }, reps, 1);
  const weightLayers = model.layers.filter((l) => 'sparse' in l) as unknown as Array<{ sparse: boolean }>;
  const result = {
    imagesPerSecond: (BATCH * steps) / (ms / 1000),
    sparseLayers: weightLayers.filter((l) => l.sparse).length,
    layers: weightLayers.length,
  };
  optimizer.dispose();
  model.dispose();
  kernels.free(stats);
  return result;
}

/** The child process of the memory figure: a realistic lenet run on real MNIST. */
async function lenetRssChild(steps: number): Promise<void> {
  const { loadDataset, TrainBatches, testBatches } = await import('../src/data/index.js');
  const { evaluate } = await import('../src/nn/train.js');
  const kernels = await createKernels();
  const dataset = await loadDataset('mnist');
  const model = createModel('lenet-300-100', kernels, { seed: 0, inputShape: dataset.shape, classes: 10 });
  const optimizer = createOptimizer(model, adam(0.0012));
  const batches = new TrainBatches(dataset, { batchSize: BATCH, seed: 0 });
  const x = new Float32Array(BATCH * 784);
  const labels = new Int32Array(BATCH);
  for (let s = 0; s < steps; s++) {
    batches.next(x, labels);
    trainStep(model, optimizer, x, labels, BATCH);
  }
  const { accuracy } = await evaluate(model, testBatches(dataset, { batchSize: 1000 }));
  await kernels.close();
  // resourceUsage().maxRSS is in kilobytes
  process.stdout.write(JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024, accuracy, backend: kernels.name }) + '\n');
}

export async function run(ctx: BenchContext): Promise<void> {
  const kernels = await createKernels();
  try {
    ctx.log(`training on the ${kernels.name} kernels, ${kernels.threads} thread(s)`);
    if (kernels.name !== 'wasm') ctx.log('note: the wasm backend is not available; these are reference-kernel figures');
    const slow = kernels.name !== 'wasm';
    const lenetSteps = slow ? 5 : ctx.quick ? 50 : 200;
    const reps = ctx.quick || slow ? 1 : 5;
    for (const [density, name] of [[1, 'lenet_train_d100'], [0.2, 'lenet_train_d20'], [0.05, 'lenet_train_d5'], [0.01, 'lenet_train_d1']] as const) {
      const r = trainingThroughput(kernels, 'lenet-300-100', [1, 28, 28], density, lenetSteps, reps);
      ctx.report(name, Math.round(r.imagesPerSecond), 'images/s', `batch 60, Adam, ${kernels.threads} threads, ${r.sparseLayers}/${r.layers} layers sparse`);
    }
    const conv = trainingThroughput(kernels, 'conv4', [3, 32, 32], 1, slow ? 1 : ctx.quick ? 2 : 5, ctx.quick || slow ? 1 : 3);
    ctx.report('conv4_train', Math.round(conv.imagesPerSecond * 10) / 10, 'images/s', `32x32x3, batch 60, Adam, ${kernels.threads} threads`);
  } finally {
    await kernels.close();
  }
  const steps = ctx.quick ? 200 : 1000;
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--lenet-rss-child', String(steps)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !line.startsWith('{')) {
    ctx.log(`lenet_peak_rss: the child process failed (exit ${child.status}): ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return;
  }
  const r = JSON.parse(line) as { maxRssMB: number; accuracy: number; backend: string };
  ctx.report('lenet_peak_rss', Math.round(r.maxRssMB * 10) / 10, 'MB', `MNIST loaded, ${steps} steps + full test pass, ${r.backend}, test accuracy ${r.accuracy.toFixed(3)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--lenet-rss-child') {
  await lenetRssChild(Number(process.argv[3] ?? 1000));
}
