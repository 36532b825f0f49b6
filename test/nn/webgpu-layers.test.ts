/**
 * The real layers of src/nn on webgpu: a network with every layer kind (Conv2d, BatchNorm2d, ReLU,
 * MaxPool2d, AvgPool2d, Flatten, Linear) under random masks trains 3 SGD steps on webgpu and on
 * wasm from the same initial weights; losses, correct counts and the state dict (running
 * statistics included) agree within float tolerance, masked weights stay exactly 0, and
 * evaluation in eval mode agrees too.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createKernels } from '../../src/engine/index.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { float32Device } from '../../src/nn/device.js';
import { kaimingNormalInit } from '../../src/nn/init.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU } from '../../src/nn/layers.js';
import { createOptimizer } from '../../src/nn/optim.js';
import { Rng } from '../../src/nn/rng.js';
import { Sequential } from '../../src/nn/sequential.js';
import { computeGradientsAndRead, trainStepAndRead } from '../../src/nn/train.js';
import { seeded } from '../engine/helpers.js';
import { webgpuForTests } from '../engine/webgpu-setup.js';

const gpu = await webgpuForTests();

/** [3, 10, 10] -> conv(6)+BN+ReLU -> maxpool 2 -> conv(8)+ReLU -> avgpool 5 -> flatten -> linear(10). */
function model(kernels: Kernels): Sequential {
  const d = float32Device(kernels);
  const m = new Sequential(d, [
    new Conv2d(d, 'features.0', [3, 10, 10], 6, 3, { padding: 1 }),
    new BatchNorm2d(d, 'features.1', [6, 10, 10]),
    new ReLU(d, [6, 10, 10]),
    new MaxPool2d(d, [6, 10, 10], 2),
    new Conv2d(d, 'features.4', [6, 5, 5], 8, 3, { padding: 1 }),
    new ReLU(d, [8, 5, 5]),
    new AvgPool2d(d, [8, 5, 5], 5),
    new Flatten([8, 1, 1]),
    new Linear(d, 'classifier', 8, 10),
  ], { name: 'all-layers', inputShape: [3, 10, 10], classes: 10 });
  kaimingNormalInit(m.params, new Rng(5).fork('init'), kernels);
  const rand = seeded(9);
  for (const p of m.prunableParams()) m.setMask(p.name, Float32Array.from({ length: p.data.length }, () => (rand() < 0.6 ? 1 : 0)));
  return m;
}

function batch(seed: number, N: number): { x: Float32Array; labels: Int32Array } {
  const rand = seeded(seed);
  return { x: Float32Array.from({ length: N * 300 }, () => 2 * rand() - 1), labels: Int32Array.from({ length: N }, () => Math.floor(rand() * 10)) };
}

if (gpu !== null) {
  let wasm: Kernels;
  after(async () => {
    await gpu.close();
    await wasm?.close();
  });

  describe(`webgpu nn layers on ${gpu.adapter.device || gpu.adapter.description}`, () => {
    it('webgpu: 3 SGD steps of a network with every layer kind match wasm (losses, state dict, masks)', async () => {
      wasm ??= await createKernels({ threads: 1 });
      const cfg = {
        optimizer: 'sgd' as const, lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 1e-4, batchSize: 6,
        iterations: 10, schedule: 'constant' as const, milestones: [], gamma: 1,
      };
      const results = [];
      for (const k of [gpu, wasm]) {
        const m = model(k);
        const opt = createOptimizer(m, cfg);
        const steps = [];
        for (let s = 0; s < 3; s++) {
          const { x, labels } = batch(20 + s, 6);
          steps.push(await trainStepAndRead(m, opt, x, labels, 6));
        }
        const { x, labels } = batch(99, 7);
        const evalStep = await computeGradientsAndRead(m, x, labels, 7, 'eval');
        results.push({ steps, evalStep, state: await m.stateDict(), masks: await m.masks() });
      }
      const [g, c] = results;
      for (let s = 0; s < 3; s++) {
        assert.ok(Math.abs(g.steps[s].loss - c.steps[s].loss) <= 1e-4 * Math.abs(c.steps[s].loss), `step ${s}: loss ${g.steps[s].loss} vs ${c.steps[s].loss}`);
        assert.equal(g.steps[s].correct, c.steps[s].correct, `step ${s}: correct`);
      }
      assert.ok(Math.abs(g.evalStep.loss - c.evalStep.loss) <= 1e-4 * Math.abs(c.evalStep.loss), `eval loss ${g.evalStep.loss} vs ${c.evalStep.loss}`);
      assert.deepEqual([...g.state.keys()], [...c.state.keys()]);
      for (const [name, cv] of c.state) {
        const gv = g.state.get(name)!;
        // the conv bias before batch norm has an exactly-zero gradient: rounding noise only
        if (name === 'features.0.bias') {
          for (const v of [...gv, ...cv]) assert.ok(Math.abs(v) < 1e-5, `${name}: ${v}`);
          continue;
        }
        let scale = 1e-3;
        for (const v of cv) scale = Math.max(scale, Math.abs(v));
        for (let i = 0; i < cv.length; i++) assert.ok(Math.abs(gv[i] - cv[i]) <= 1e-4 * scale, `${name}[${i}]: ${gv[i]} vs ${cv[i]}`);
      }
      for (const [name, mask] of c.masks) {
        const w = g.state.get(name)!;
        for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.ok(Object.is(w[i], 0), `${name}[${i}] under the mask is ${w[i]}`);
      }
    });
  });
}
