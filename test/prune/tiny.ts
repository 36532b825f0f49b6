/** Tiny synthetic data, a tiny model and a config for lottery-loop tests. */
import type { Dataset, Split } from '../../src/data/types.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { float32Device } from '../../src/nn/device.js';
import { kaimingNormalInit } from '../../src/nn/init.js';
import { Flatten, Linear, ReLU } from '../../src/nn/layers.js';
import { Rng } from '../../src/nn/rng.js';
import { Sequential } from '../../src/nn/sequential.js';
import type { LotteryConfig } from '../../src/prune/config.js';

/** 4x4 grey images of 3 classes: class k is bright in rows 0-1 (k=0), columns 0-1 (k=1) or the diagonal (k=2), plus noise. */
function split(count: number, rng: Rng): Split {
  const images = new Uint8Array(count * 16);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const k = n % 3;
    labels[n] = k;
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const on = k === 0 ? i < 2 : k === 1 ? j < 2 : i === j;
        const v = (on ? 170 : 60) + 50 * rng.normal();
        images[n * 16 + i * 4 + j] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { count, images, labels };
}

export function tinyDataset(): Dataset {
  const rng = new Rng(123);
  return {
    name: 'tiny',
    source: 'generated',
    classes: ['rows', 'cols', 'diagonal'],
    shape: [1, 4, 4],
    mean: [0.45],
    std: [0.25],
    train: split(240, rng.fork('train')),
    test: split(60, rng.fork('test')),
  };
}

/** Flatten -> fc1 (16->12) -> ReLU -> fc2 (12->8) -> ReLU -> fc3 (8->classes), Kaiming init from the seed. */
export function tinyModel(kernels: Kernels, opts: { seed: number; inputShape: [number, number, number]; classes: number }): Sequential {
  const d = float32Device(kernels);
  const [c, h, w] = opts.inputShape;
  const model = new Sequential(d, [
    new Flatten([c, h, w]),
    new Linear(d, 'fc1', c * h * w, 12),
    new ReLU(d, [12]),
    new Linear(d, 'fc2', 12, 8),
    new ReLU(d, [8]),
    new Linear(d, 'fc3', 8, opts.classes),
  ], { name: 'tiny-mlp', inputShape: opts.inputShape, classes: opts.classes });
  kaimingNormalInit(model.params, new Rng(opts.seed).fork('init'), kernels);
  return model;
}

export function tinyConfig(overrides: { training?: Partial<LotteryConfig['training']>; pruning?: Partial<LotteryConfig['pruning']>; evaluation?: Partial<LotteryConfig['evaluation']>; seed?: number } = {}): LotteryConfig {
  return {
    model: 'lenet-300-100',
    seed: overrides.seed ?? 7,
    data: { dataset: 'tiny', dataDir: null, trainSubset: null, testSubset: null, augment: false },
    training: {
      optimizer: 'adam', lr: 0.01, momentum: 0, nesterov: false, weightDecay: 0, batchSize: 8, iterations: 30,
      schedule: 'constant', milestones: [], gamma: 0.1, ...overrides.training,
    },
    pruning: {
      algorithm: 'imp', scope: 'layerwise', pConv: 0.1, pFc: 0.2, pOut: 0.1, pGlobal: 0.2, rewindIteration: 0,
      targetAlpha: null, maxLevels: 2, excludeFromPruning: [], snipBatches: 2, bound: null, ...overrides.pruning,
    },
    evaluation: { noiseSigmas: [0.1, 0.3], noiseSeed: 0, criterion: 'combined', excludeFromAnalysis: [], ...overrides.evaluation },
  };
}
