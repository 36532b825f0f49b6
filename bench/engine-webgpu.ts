/**
 * Suite `engine --device gpu`: the webgpu backend's figures, under the CPU suite's names where
 * the figure is the same kind (so a GPU machine's JSON lines line up with a CPU machine's).
 *
 * - sgemm_4096 (GFLOPS): C = A·B, 4096^3; sgemm_64x61440x576 and sgemm_128x15360x1152 (conv4's
 *   second and fourth layers as im2col products, batch 60); sgemm_60x300x784 (lenet fc1).
 * - <net>_train (images/s): full training steps of the zoo's models through src/nn (forward,
 *   softmax cross-entropy with the sums kept on the device, backward, Adam with masks; the host
 *   batch is uploaded every step), batch 60 (vgg19: 64): lenet_train_d100, lenet_train_d5 (masks
 *   at 5%: the GPU runs dense, so this shows the cost of masks), conv2_train, conv4_train,
 *   conv6_train, vgg19_train.
 * - conv4_level_paper_s (s): one level of the paper's protocol, 25,000 iterations of batch 60,
 *   with a new batch uploaded every step and the loss read back every 100 steps; projected from
 *   the steps timed (the note says how many).
 * - conv4_submits_per_step: queue submits per step of that level run (the batching at work).
 * - the GEMM tiles compared: every sgemm figure, conv6_train and vgg19_train again with the tile
 *   fixed at 64 and at 128 (suffixes `_t64`, `_t128`); the figures above use the 'auto' choice.
 * With --quick every figure is measured on small sizes under other names (`_quick`),
 * so that llvmpipe (about 2 GFLOPS) can check the suite works; those are not GPU figures.
 */
import { createWebGpuKernels, type WebGpuKernels } from '../src/engine/webgpu/index.js';
import { createModel } from '../src/models/zoo.js';
import { createOptimizer } from '../src/nn/optim.js';
import type { Sequential } from '../src/nn/sequential.js';
import { trainStep } from '../src/nn/train.js';
import type { ModelName, TrainingConfig } from '../src/prune/config.js';
import type { BenchContext } from './harness.js';

/** Median seconds of `fn` (which records work; the GPU is waited for) over `reps` runs. */
async function timeGpu(k: WebGpuKernels, fn: () => void, reps: number): Promise<number> {
  fn();
  await k.sync();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    await k.sync();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function randomData(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

async function sgemmFigures(ctx: BenchContext, k: WebGpuKernels, tileSuffix = ''): Promise<void> {
  const shapes: Array<[string, number, number, number]> = ctx.quick
    ? [['sgemm_256_quick', 256, 256, 256], ['sgemm_64x960x576_quick', 64, 960, 576]]
    : [['sgemm_4096', 4096, 4096, 4096], ['sgemm_64x61440x576', 64, 61440, 576], ['sgemm_128x15360x1152', 128, 15360, 1152], ['sgemm_60x300x784', 60, 300, 784]];
  for (const [shapeName, M, N, K] of shapes) {
    const name = `${shapeName}${tileSuffix}`;
    const A = k.tensor(M * K), B = k.tensor(K * N), C = k.tensor(M * N);
    k.upload(A, randomData(M * K, 1));
    k.upload(B, randomData(K * N, 2));
    // enough calls per timed block that the submit and the wait are a small part
    const calls = Math.max(1, Math.min(200, Math.round(2e10 / (2 * M * N * K))));
    const s = await timeGpu(k, () => {
      for (let c = 0; c < calls; c++) k.sgemm(false, false, M, N, K, 1, A, B, 0, C);
    }, ctx.quick ? 2 : 5);
    ctx.report(name, (2 * M * N * K * calls) / s / 1e9, 'GFLOPS', `${calls} products per submit`);
    for (const t of [A, B, C]) k.free(t);
  }
}

interface TrainCase {
  name: string;
  model: ModelName;
  inputShape: [number, number, number];
  batch: number;
  density: number;
}

function adam(batchSize: number): TrainingConfig {
  return {
    optimizer: 'adam', lr: 3e-4, momentum: 0, nesterov: false, weightDecay: 0, batchSize,
    iterations: 1_000_000, schedule: 'constant', milestones: [], gamma: 1,
  };
}

/** The model of src/models/zoo.ts on the webgpu kernels, with random layer-wise masks at `density`. */
function benchModel(k: WebGpuKernels, c: { model: ModelName; inputShape: [number, number, number]; density: number }): Sequential {
  const model = createModel(c.model, k, { seed: 0, inputShape: c.inputShape, classes: 10 });
  if (c.density < 1) {
    let s = 7;
    for (const p of model.prunableParams()) {
      const mask = new Float32Array(p.data.length);
      for (let i = 0; i < mask.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        mask[i] = s / 4294967296 < c.density ? 1 : 0;
      }
      model.setMask(p.name, mask);
    }
  }
  return model;
}

async function trainingFigures(ctx: BenchContext, k: WebGpuKernels, tileSuffix = '', only?: string[]): Promise<void> {
  const cifar: [number, number, number] = ctx.quick ? [3, 8, 8] : [3, 32, 32];
  const batch = ctx.quick ? 4 : 60;
  const suffix = `${ctx.quick ? '_quick' : ''}${tileSuffix}`;
  const cases: TrainCase[] = [
    { name: 'lenet_train_d100', model: 'lenet-300-100', inputShape: [1, 28, 28], batch, density: 1 },
    { name: 'lenet_train_d5', model: 'lenet-300-100', inputShape: [1, 28, 28], batch, density: 0.05 },
    { name: 'conv2_train', model: 'conv2', inputShape: cifar, batch, density: 1 },
    { name: 'conv4_train', model: 'conv4', inputShape: cifar, batch, density: 1 },
    { name: 'conv6_train', model: 'conv6', inputShape: cifar, batch, density: 1 },
    { name: 'vgg19_train', model: 'vgg19', inputShape: ctx.quick ? [3, 16, 16] : [3, 32, 32], batch: ctx.quick ? 2 : 64, density: 1 },
  ];
  for (const c of cases) {
    if (only !== undefined && !only.includes(c.name)) continue;
    const model = benchModel(k, c);
    const optimizer = createOptimizer(model, adam(c.batch));
    const size = c.inputShape[0] * c.inputShape[1] * c.inputShape[2];
    const x = randomData(c.batch * size, 3);
    const labels = Int32Array.from({ length: c.batch }, (_, i) => i % 10);
    const steps = ctx.quick ? 1 : 50;
    // as the lottery loop does: each step adds its loss into its own slot on the device
    const stats = k.tensor(2 * steps);
    const s = await timeGpu(k, () => {
      for (let i = 0; i < steps; i++) trainStep(model, optimizer, x, labels, c.batch, { stats, offset: 2 * i });
    }, ctx.quick ? 1 : 3);
    ctx.report(`${c.name}${suffix}`, (c.batch * steps) / s, 'images/s', `batch ${c.batch}, Adam, ${steps} steps per timed block, the batch uploaded every step`);
    k.free(stats);
    optimizer.dispose();
    model.dispose();
  }
}

/** One paper-protocol level of conv4 (25,000 iterations of batch 60), projected from `steps`. */
async function levelFigure(ctx: BenchContext, k: WebGpuKernels): Promise<void> {
  const batch = ctx.quick ? 4 : 60;
  const shape: [number, number, number] = ctx.quick ? [3, 8, 8] : [3, 32, 32];
  const model = benchModel(k, { model: 'conv4', inputShape: shape, density: 1 });
  const optimizer = createOptimizer(model, adam(batch));
  const size = shape[0] * shape[1] * shape[2];
  // a pool of host batches, uploaded in turn as the data loader's would be
  const pool = Array.from({ length: 8 }, (_, i) => ({
    x: randomData(batch * size, 10 + i),
    labels: Int32Array.from({ length: batch }, (_, j) => (i + j) % 10),
  }));
  const stats = k.tensor(200);
  const steps = ctx.quick ? 5 : 2000;
  const run = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const b = pool[i % pool.length];
      trainStep(model, optimizer, b.x, b.labels, batch, { stats, offset: 2 * (i % 100) });
      // the loop reads its losses back every 100 steps
      if ((i + 1) % 100 === 0) {
        await k.download(stats);
        k.fill(stats, 0);
      }
    }
    await k.sync();
  };
  await run(Math.min(steps, 20)); // warm-up
  const submits0 = k.runtime.submits;
  const t0 = performance.now();
  await run(steps);
  const s = (performance.now() - t0) / 1000;
  const suffix = ctx.quick ? '_quick' : '';
  ctx.report(`conv4_level_paper_s${suffix}`, (s * 25000) / steps, 's', `training only, projected from ${steps} steps of batch ${batch}`);
  ctx.report(`conv4_submits_per_step${suffix}`, (k.runtime.submits - submits0) / steps, 'submits', 'a new batch uploaded every step, the losses read every 100');
  k.free(stats);
  optimizer.dispose();
  model.dispose();
}

export async function run(ctx: BenchContext): Promise<void> {
  const k = await createWebGpuKernels();
  if (k === null) {
    process.stderr.write('bench engine --device gpu: no GPU adapter (set RAMANUJAN_WEBGPU_SOFTWARE=1 to measure on a software one)\n');
    process.exitCode = 1;
    return;
  }
  ctx.log(`webgpu on ${k.adapter.device || k.adapter.description}${k.adapter.software ? ' (software: these are not GPU figures)' : ''}`);
  ctx.report('webgpu_adapter_software', k.adapter.software ? 1 : 0, 'flag', k.adapter.device || k.adapter.description);
  try {
    await sgemmFigures(ctx, k);
    await trainingFigures(ctx, k);
    await levelFigure(ctx, k);
  } finally {
    await k.close();
  }
  // The two GEMM tiles side by side (the figures above use 'auto', wgsl.ts gemmTileFor): the
  // products and the two nets with products large enough for auto to take the 128 tile.
  for (const tile of [64, 128] as const) {
    const fixed = await createWebGpuKernels({ gemmTile: tile });
    if (fixed === null) break;
    try {
      await sgemmFigures(ctx, fixed, `_t${tile}`);
      await trainingFigures(ctx, fixed, `_t${tile}`, ['conv6_train', 'vgg19_train']);
    } finally {
      await fixed.close();
    }
  }
}
