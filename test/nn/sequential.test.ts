import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceKernels } from '../../src/engine/reference.js';
import { UserError } from '../../src/errors.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/zoo.js';
import { loadModel, saveModel } from '../../src/nn/checkpoint.js';
import { float32Device } from '../../src/nn/device.js';
import { kaimingNormalInit } from '../../src/nn/init.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU } from '../../src/nn/layers.js';
import { createOptimizer, learningRate } from '../../src/nn/optim.js';
import { Rng } from '../../src/nn/rng.js';
import { Sequential } from '../../src/nn/sequential.js';
import { evaluate, trainStep } from '../../src/nn/train.js';
import type { Tensor } from '../../src/engine/kernels.js';
import type { TrainingConfig } from '../../src/prune/config.js';

const kernels = referenceKernels();
/** a tensor's values, live (the reference backend's host access) */
const V = (t: Tensor): Float32Array => kernels.view(t) as Float32Array;
const CFG: TrainingConfig = {
  optimizer: 'adam', lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 1e-4, batchSize: 4,
  iterations: 100, schedule: 'constant', milestones: [], gamma: 0.1,
};

function randomBatch(seed: number, n: number, size: number, classes: number): { x: Float32Array; labels: Int32Array } {
  const r = new Rng(seed);
  return {
    x: Float32Array.from({ length: n * size }, () => r.normal()),
    labels: Int32Array.from({ length: n }, () => r.int(classes)),
  };
}

/** A vgg-like net small enough for the reference kernels: conv, BN, ReLU, pool, linear, on [1, 4, 4]. */
function tinyBnNet(seed: number): Sequential {
  const d = float32Device(kernels);
  const model = new Sequential(d, [
    new Conv2d(d, 'features.0', [1, 4, 4], 3, 3, { padding: 1 }), new BatchNorm2d(d, 'features.1', [3, 4, 4]),
    new ReLU(d, [3, 4, 4]), new MaxPool2d(d, [3, 4, 4], 2),
    new Conv2d(d, 'features.4', [3, 2, 2], 4, 3, { padding: 1 }), new BatchNorm2d(d, 'features.5', [4, 2, 2]),
    new ReLU(d, [4, 2, 2]), new Flatten([4, 2, 2]), new Linear(d, 'classifier', 16, 3),
  ], { name: 'tiny-bn', inputShape: [1, 4, 4], classes: 3 });
  kaimingNormalInit(model.params, new Rng(seed), kernels);
  return model;
}

function randomMask(seed: number, n: number, density: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() < density ? 1 : 0));
}

test('masks: pruned weights stay exactly 0 over training, with 0 gradient and 0 optimiser state (Adam and SGD)', async () => {
  for (const optimizer of ['adam', 'sgd'] as const) {
    const model = createModel('conv2', kernels, { seed: 1, inputShape: [1, 8, 8], classes: 3 });
    const mask = randomMask(2, model.param('features.2.weight').data.length, 0.3);
    const fcMask = randomMask(3, model.param('classifier.0.weight').data.length, 0.2);
    const opt = createOptimizer(model, { ...CFG, optimizer, lr: 0.05 });
    const warm = randomBatch(9, 4, 64, 3);
    trainStep(model, opt, warm.x, warm.labels, 4); // dense step first: state becomes non-zero
    model.setMask('features.2.weight', mask);
    model.setMask('classifier.0.weight', fcMask);
    const before = V(model.param('features.2.weight').data).slice();
    for (let s = 0; s < 5; s++) {
      const b = randomBatch(10 + s, 4, 64, 3);
      trainStep(model, opt, b.x, b.labels, 4);
    }
    for (const [name, m] of [['features.2.weight', mask], ['classifier.0.weight', fcMask]] as const) {
      const p = model.param(name);
      const state = await opt.stateOf(name);
      let kept = 0;
      for (let i = 0; i < m.length; i++) {
        if (m[i] === 0) {
          assert.equal(V(p.data)[i], 0);
          assert.equal(V(p.grad)[i], 0);
          for (const s of state) assert.equal(s[i], 0, `${optimizer} state of pruned ${name}[${i}]`);
        } else kept++;
      }
      assert.ok(kept > 0);
      assert.ok(state[0].some((v, i) => m[i] === 1 && v !== 0), 'surviving weights have state');
    }
    // surviving weights did move
    const after = V(model.param('features.2.weight').data);
    assert.ok(after.some((v, i) => mask[i] === 1 && v !== before[i]));
    assert.deepEqual((await model.masks()).get('features.2.weight'), mask);
    opt.dispose();
  }
});

test('setMask validates: unknown name, non-prunable parameter, wrong size, values other than 0/1', () => {
  const model = createModel('lenet-300-100', kernels, { seed: 1, inputShape: [1, 4, 4], classes: 10 });
  assert.throws(() => model.setMask('fc9.weight', new Float32Array(1)), (e: unknown) => e instanceof UserError && /fc9\.weight/.test(e.message));
  assert.throws(() => model.setMask('fc1.bias', new Float32Array(300)), (e: unknown) => e instanceof UserError && /not prunable/.test(e.message));
  assert.throws(() => model.setMask('fc2.weight', new Float32Array(5)), (e: unknown) => e instanceof UserError && /30000/.test(e.message));
  assert.throws(() => model.setMask('fc3.weight', new Float32Array(1000).fill(0.5)), (e: unknown) => e instanceof UserError && /0 or 1/.test(e.message));
});

test('stateDict / loadStateDict round trip (with BN running stats); strict about names and sizes; masks win', async () => {
  const a = tinyBnNet(1);
  const b = randomBatch(5, 2, 16, 3);
  const opt = createOptimizer(a, CFG);
  trainStep(a, opt, b.x, b.labels, 2);
  const state = await a.stateDict();
  assert.equal(state.get('features.1.num_batches_tracked')![0], 1);
  assert.ok(state.get('features.1.running_mean')!.some((v) => v !== 0));
  const c = tinyBnNet(2);
  c.loadStateDict(state);
  for (const [name, v] of await c.stateDict()) assert.deepEqual(v, state.get(name), name);
  assert.deepEqual(V(c.forward(b.x, 2, 'eval')).slice(), V(a.forward(b.x, 2, 'eval')).slice());
  // strictness
  const extra = new Map(state);
  extra.set('features.99.weight', new Float32Array(1));
  assert.throws(() => c.loadStateDict(extra), (e: unknown) => e instanceof UserError && /unknown tensor "features.99.weight"/.test(e.message));
  const missing = new Map(state);
  missing.delete('features.1.running_var');
  assert.throws(() => c.loadStateDict(missing), (e: unknown) => e instanceof UserError && /no tensor "features.1.running_var"/.test(e.message));
  const noCount = new Map(state);
  noCount.delete('features.1.num_batches_tracked');
  c.loadStateDict(noCount); // PyTorch tolerates a missing num_batches_tracked too
  const wrong = new Map(state);
  wrong.set('classifier.weight', new Float32Array(7));
  const beforeWrong = await c.stateDict();
  assert.throws(() => c.loadStateDict(wrong), (e: unknown) => e instanceof UserError && /classifier.weight" has 7 elements/.test(e.message));
  for (const [name, v] of await c.stateDict()) assert.deepEqual(v, beforeWrong.get(name), `${name} untouched by a failed load`);
  // a mask survives loading a dense state
  const mask = randomMask(9, 48, 0.5);
  c.setMask('classifier.weight', mask);
  c.loadStateDict(state);
  const w = V(c.param('classifier.weight').data);
  for (let i = 0; i < 48; i++) if (mask[i] === 0) assert.equal(w[i], 0);
});

test('synflowPass: |θ| and BN in eval mode inside, everything restored after (also on a throw)', async () => {
  const model = tinyBnNet(3);
  const b = randomBatch(6, 2, 16, 3);
  const opt = createOptimizer(model, CFG);
  trainStep(model, opt, b.x, b.labels, 2);
  const before = await model.stateDict();
  let R = 0;
  const result = await model.synflowPass(async ({ outputScale, gradScale }) => {
    for (const p of model.params) assert.ok(V(p.data).every((v) => v >= 0), p.name);
    // BN ran in eval mode: its counter unchanged (running means are rescaled inside the pass)
    assert.equal(V(model.buffers.find((x) => x.name === 'features.1.num_batches_tracked')!.data)[0], 1);
    // SynFlow scores |θ ⊙ dR/dθ| are available in grad: gradients of a positive network are >= 0
    assert.ok(V(model.param('classifier.weight').grad).every((g) => g >= 0));
    assert.ok(V(model.param('classifier.weight').grad).some((g) => g > 0));
    assert.ok(outputScale > 0 && Number.isFinite(outputScale));
    assert.ok(gradScale.has('features.0.weight') && gradScale.has('classifier.weight'));
    R = outputScale;
    return 'done';
  });
  assert.equal(result, 'done');
  assert.ok(R > 0);
  for (const [name, v] of await model.stateDict()) assert.deepEqual(v, before.get(name), name);
  await assert.rejects(model.synflowPass(async () => { throw new Error('boom'); }), /boom/);
  for (const [name, v] of await model.stateDict()) assert.deepEqual(v, before.get(name), name);
  // and BN still trains: a train forward updates the running stats again
  model.forward(b.x, 2, 'train');
  assert.equal((await model.stateDict()).get('features.1.num_batches_tracked')![0], 2);
});

test('learning-rate schedules: constant, cosine (CosineAnnealingLR) and step (MultiStepLR)', () => {
  const base = { lr: 0.1, iterations: 100, milestones: [30, 60], gamma: 0.1 };
  assert.equal(learningRate({ ...base, schedule: 'constant' }, 57), 0.1);
  assert.equal(learningRate({ ...base, schedule: 'cosine' }, 0), 0.1);
  assert.ok(Math.abs(learningRate({ ...base, schedule: 'cosine' }, 50) - 0.05) < 1e-15);
  assert.ok(Math.abs(learningRate({ ...base, schedule: 'cosine' }, 100)) < 1e-15);
  assert.equal(learningRate({ ...base, schedule: 'step' }, 29), 0.1);
  assert.ok(Math.abs(learningRate({ ...base, schedule: 'step' }, 30) - 0.01) < 1e-15);
  assert.ok(Math.abs(learningRate({ ...base, schedule: 'step' }, 99) - 0.001) < 1e-15);
  const model = createModel('lenet-300-100', kernels, { seed: 1, inputShape: [1, 2, 2], classes: 10 });
  const opt = createOptimizer(model, { ...CFG, schedule: 'step', milestones: [2], gamma: 0.5 });
  const b = randomBatch(1, 2, 4, 10);
  assert.equal(opt.currentLr(), 0.01);
  trainStep(model, opt, b.x, b.labels, 2);
  trainStep(model, opt, b.x, b.labels, 2);
  assert.equal(opt.stepCount, 2);
  assert.equal(opt.currentLr(), 0.005);
  opt.reset();
  assert.equal(opt.stepCount, 0);
  assert.equal(opt.currentLr(), 0.01);
});

test('evaluate: accuracy and mean loss over uneven batches and in chunks agree with one big batch', async () => {
  const model = createModel('lenet-300-100', kernels, { seed: 4, inputShape: [1, 3, 3], classes: 10 });
  const all = randomBatch(7, 10, 9, 10);
  const chunks = [4, 4, 2];
  const source = {
    batches: function* () {
      let at = 0;
      for (const n of chunks) {
        yield { x: all.x.subarray(at * 9, (at + n) * 9), labels: all.labels.subarray(at, at + n), n };
        at += n;
      }
    },
  };
  const r = await evaluate(model, source);
  const one = await evaluate(model, { batches: () => [{ x: all.x, labels: all.labels, n: 10 }] });
  assert.ok(Math.abs(r.loss - one.loss) < 1e-6);
  assert.equal(r.accuracy, one.accuracy);
  const logits = V(model.forward(all.x, 10, 'eval'));
  let correct = 0;
  for (let i = 0; i < 10; i++) {
    const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
    if (row.indexOf(Math.max(...row)) === all.labels[i]) correct++;
  }
  assert.equal(one.accuracy, correct / 10);
  const chunked = await evaluate(model, { batches: () => [{ x: all.x, labels: all.labels, n: 10 }] }, { maxChunk: 3 });
  assert.ok(Math.abs(chunked.loss - one.loss) < 1e-6);
  assert.equal(chunked.accuracy, one.accuracy);
});

test('safetensors checkpoint: round trip of parameters, BN buffers and masks; bad files leave the model untouched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nn-ckpt-'));
  try {
    const a = tinyBnNet(1);
    const mask = randomMask(3, a.param('features.4.weight').data.length, 0.4);
    a.setMask('features.4.weight', mask);
    const b = randomBatch(5, 2, 16, 3);
    trainStep(a, createOptimizer(a, CFG), b.x, b.labels, 2);
    const path = join(dir, 'ticket.safetensors');
    await saveModel(a, path, { metadata: { level: '3' } });
    const file = readSafetensors(path);
    assert.equal(file.metadata.level, '3');
    assert.deepEqual(file.tensors.get('features.0.weight')!.shape, [3, 1, 3, 3]);
    assert.deepEqual(file.tensors.get('features.1.num_batches_tracked')!.shape, []);
    assert.deepEqual(file.tensors.get('features.4.weight_mask')!.data, mask);
    const c = tinyBnNet(2);
    loadModel(c, path);
    const cState = await c.stateDict();
    for (const [name, v] of await a.stateDict()) assert.deepEqual(cState.get(name), v, name);
    assert.deepEqual((await c.masks()).get('features.4.weight'), mask);
    assert.deepEqual(V(c.forward(b.x, 2, 'eval')).slice(), V(a.forward(b.x, 2, 'eval')).slice());
    // a file for another model: UserError naming the file and the tensor, model unchanged
    const lenet = createModel('lenet-300-100', kernels, { seed: 1, inputShape: [1, 2, 2], classes: 3 });
    const other = join(dir, 'lenet.safetensors');
    await saveModel(lenet, other);
    const before = await c.stateDict();
    assert.throws(() => loadModel(c, other), (e: unknown) => e instanceof UserError && e.message.includes(other) && /fc1.weight/.test(e.message));
    for (const [name, v] of await c.stateDict()) assert.deepEqual(v, before.get(name), name);
    // a truncated file
    const broken = join(dir, 'broken.safetensors');
    writeFileSync(broken, readFileSync(path).subarray(0, 100));
    assert.throws(() => loadModel(c, broken), (e: unknown) => e instanceof UserError && e.message.includes(broken));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
