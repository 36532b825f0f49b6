/**
 * The networks give the same numbers on the wasm kernels (dense and sparse paths, threads) as on
 * the reference kernels: pruned models at 5% density (sparse path) and dense ones, over several
 * SGD steps, so that stale sparse copies of updated weights would show. (SGD rather than Adam:
 * Adam's first steps are ±lr whatever the gradient's size, so float rounding of near-zero
 * gradients would dominate the comparison.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKernels, hostView } from '../../src/engine/index.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { createModel } from '../../src/models/zoo.js';
import { createOptimizer } from '../../src/nn/optim.js';
import { Rng } from '../../src/nn/rng.js';
import { trainStepAndRead } from '../../src/nn/train.js';
import type { ModelName } from '../../src/prune/config.js';

const fast = await createKernels();
const reference = referenceKernels();
after(() => fast.close());

function maxRelativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / Math.max(scale, 1e-12);
}

const cases: Array<{ model: ModelName; input: [number, number, number]; N: number; density: number }> = [
  { model: 'lenet-300-100', input: [1, 28, 28], N: 8, density: 0.05 },
  { model: 'lenet-300-100', input: [1, 28, 28], N: 8, density: 1 },
  { model: 'conv2', input: [1, 12, 12], N: 3, density: 0.05 },
  { model: 'conv4', input: [3, 8, 8], N: 2, density: 1 },
];

for (const c of cases) {
  test(`${c.model} at density ${c.density}: ${fast.name} kernels (${fast.threads} threads) agree with the reference over 4 SGD-Nesterov steps`, async () => {
    const models = [fast, reference].map((k) => createModel(c.model, k, { seed: 3, inputShape: c.input, classes: 10 }));
    const masks = new Rng(4);
    if (c.density < 1) {
      for (const p of models[0].prunableParams()) {
        const mask = Float32Array.from({ length: p.data.length }, () => (masks.next() < c.density ? 1 : 0));
        for (const m of models) m.setMask(p.name, mask);
      }
    }
    const opts = models.map((m) => createOptimizer(m, {
      optimizer: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4, batchSize: c.N,
      iterations: 10, schedule: 'constant', milestones: [], gamma: 1,
    }));
    const data = new Rng(5);
    const size = c.input[0] * c.input[1] * c.input[2];
    for (let step = 0; step < 4; step++) {
      const x = Float32Array.from({ length: c.N * size }, () => data.normal());
      const labels = Int32Array.from({ length: c.N }, () => data.int(10));
      const [a, b] = await Promise.all(models.map((m, i) => trainStepAndRead(m, opts[i], x, labels, c.N)));
      assert.ok(Math.abs(a.loss - b.loss) < 1e-4 * Math.max(1, b.loss), `step ${step}: loss ${a.loss} vs ${b.loss}`);
    }
    const [fv, rv] = [(t: Parameters<typeof hostView>[1]) => hostView(fast, t), (t: Parameters<typeof hostView>[1]) => hostView(reference, t)];
    for (const p of models[1].params) {
      const q = models[0].param(p.name);
      assert.ok(maxRelativeDiff(fv(q.grad), rv(p.grad)) < 1e-4, `d${p.name}: max relative difference ${maxRelativeDiff(fv(q.grad), rv(p.grad))}`);
      assert.ok(maxRelativeDiff(fv(q.data), rv(p.data)) < 1e-4, `${p.name}: max relative difference ${maxRelativeDiff(fv(q.data), rv(p.data))}`);
      if (p.mask !== null) for (let i = 0; i < p.mask.length; i++) if (rv(p.mask)[i] === 0) assert.equal(fv(q.data)[i], 0);
    }
    const x = Float32Array.from({ length: c.N * size }, () => data.normal());
    const logits = fv(models[0].forward(x, c.N, 'eval')).slice(0, c.N * 10);
    assert.ok(maxRelativeDiff(logits, rv(models[1].forward(x, c.N, 'eval')).subarray(0, c.N * 10)) < 1e-4, 'eval logits');
    if (c.density < 1 && fast.name === 'wasm') {
      const sparse = models[0].layers.filter((l) => 'sparse' in l && (l as unknown as { sparse: boolean }).sparse);
      assert.ok(sparse.length > 0, 'at 5% density the wasm backend takes the sparse path for some layer');
    }
    for (const m of models) m.dispose();
    for (const o of opts) o.dispose();
  });
}
