import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../../src/engine/reference.js';
import type { Tensor } from '../../src/engine/kernels.js';
import { countParams, countPrunableWeights, createModel, MODEL_NAMES } from '../../src/models/zoo.js';
import type { ModelName } from '../../src/prune/config.js';
import { UserError } from '../../src/errors.js';
import { readFileSync } from 'node:fs';

/** test/fixtures/torch/zoo.json (scripts/torch_fixtures.py), from source or from dist. */
function zooFixture(): { models: Array<{ model: ModelName; inputShape: [number, number, number]; state: Array<[string, number[]]>; prunable: number; params: number }> } {
  for (const rel of ['../fixtures/torch/zoo.json', '../../../test/fixtures/torch/zoo.json']) {
    try {
      return JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  throw new Error('zoo.json fixture not found');
}

const kernels = referenceKernels();
/** a tensor's values, live (the reference backend's host access) */
const V = (t: Tensor): Float32Array => kernels.view(t) as Float32Array;

/** Models built once and shared by the tests below (building initialises millions of weights). */
const built = new Map<string, ReturnType<typeof createModel>>();
function model_(name: ModelName, inputShape: [number, number, number]) {
  const key = `${name} ${inputShape}`;
  if (!built.has(key)) built.set(key, createModel(name, kernels, { seed: 0, inputShape, classes: 10 }));
  return built.get(key)!;
}

/** Checks a model's state-dict names, order and shapes and its counts against the torch fixture. */
function assertMatchesTorch(m: ReturnType<typeof createModel>, name: ModelName, inputShape: [number, number, number]): void {
  const e = zooFixture().models.find((q) => q.model === name && q.inputShape.join() === inputShape.join());
  assert.ok(e, `fixture for ${name} [${inputShape}]`);
  assert.deepEqual([...m.stateShapes()], e.state, `${name} [${inputShape}] state-dict names and shapes`);
  assert.equal(countPrunableWeights(m), e.prunable, `${name} prunable`);
  assert.equal(countParams(m), e.params, `${name} params`);
}
const CIFAR: [number, number, number] = [3, 32, 32];
const MNIST: [number, number, number] = [1, 28, 28];

/**
 * Hand-computed counts. Prunable weights are Linear/Conv weights; all params add biases and BN.
 * conv4 on 32x32x3, for example: convs 3·64·9 + 64·64·9 + 64·128·9 + 128·128·9 = 259,776;
 * FC 8192·256 + 256·256 + 256·10 = 2,165,248 (F&C 2019, Table 1: 260K conv, 2.4M total).
 * vgg19: convs 20,018,880 + FC 512·10 = 20,024,000; biases 5,504 + 10; BN 2·5,504.
 */
const EXPECTED: Array<{ name: ModelName; input: [number, number, number]; weights: number; params: number; prunable: string[] }> = [
  { name: 'lenet-300-100', input: MNIST, weights: 266_200, params: 266_610, prunable: ['fc1.weight', 'fc2.weight', 'fc3.weight'] },
  { name: 'lenet-300-100', input: CIFAR, weights: 3072 * 300 + 30_000 + 1000, params: 3072 * 300 + 31_000 + 410, prunable: ['fc1.weight', 'fc2.weight', 'fc3.weight'] },
  { name: 'conv2', input: CIFAR, weights: 38_592 + 4_262_400, params: 4_300_992 + 650, prunable: ['features.0.weight', 'features.2.weight', 'classifier.0.weight', 'classifier.2.weight', 'classifier.4.weight'] },
  { name: 'conv4', input: CIFAR, weights: 259_776 + 2_165_248, params: 2_425_024 + 906, prunable: ['features.0.weight', 'features.2.weight', 'features.5.weight', 'features.7.weight', 'classifier.0.weight', 'classifier.2.weight', 'classifier.4.weight'] },
  { name: 'conv6', input: CIFAR, weights: 1_144_512 + 1_116_672, params: 2_261_184 + 1418, prunable: ['features.0.weight', 'features.2.weight', 'features.5.weight', 'features.7.weight', 'features.10.weight', 'features.12.weight', 'classifier.0.weight', 'classifier.2.weight', 'classifier.4.weight'] },
  { name: 'conv2', input: MNIST, weights: 3_316_800, params: 3_316_800 + 650, prunable: ['features.0.weight', 'features.2.weight', 'classifier.0.weight', 'classifier.2.weight', 'classifier.4.weight'] },
  { name: 'conv4', input: MNIST, weights: 1_932_352, params: 1_932_352 + 906, prunable: ['features.0.weight', 'features.2.weight', 'features.5.weight', 'features.7.weight', 'classifier.0.weight', 'classifier.2.weight', 'classifier.4.weight'] },
  { name: 'conv6', input: MNIST, weights: 1_801_280, params: 1_801_280 + 1418, prunable: ['features.0.weight', 'features.2.weight', 'features.5.weight', 'features.7.weight', 'features.10.weight', 'features.12.weight', 'classifier.0.weight', 'classifier.2.weight', 'classifier.4.weight'] },
];

for (const e of EXPECTED) {
  test(`${e.name} on [${e.input}]: ${e.weights} prunable weights, ${e.params} parameters, PyTorch names`, () => {
    const model = model_(e.name, e.input);
    assert.equal(countPrunableWeights(model), e.weights);
    assert.equal(countParams(model), e.params);
    assert.deepEqual(model.prunableParams().map((p) => p.name), e.prunable);
    assert.equal(model.outputWeightName, e.prunable[e.prunable.length - 1]);
    for (const p of model.prunableParams()) assert.ok(p.mask !== null && V(p.mask).every((m) => m === 1));
    for (const p of model.params.filter((q) => !q.prunable)) assert.equal(p.mask, null);
  });
}

test('vgg19 (CIFAR, batch norm): 20,024,000 weights, BN names and running stats', async () => {
  const model = createModel('vgg19', kernels, { seed: 0, inputShape: CIFAR, classes: 10 });
  assert.equal(countPrunableWeights(model), 20_024_000);
  assert.equal(countParams(model), 20_024_000 + 5504 + 10 + 2 * 5504);
  const prunable = model.prunableParams();
  assert.equal(prunable.length, 17);
  assert.equal(prunable[0].name, 'features.0.weight');
  assert.deepEqual(prunable[0].shape, [64, 3, 3, 3]);
  assert.equal(prunable[16].name, 'classifier.weight');
  assert.deepEqual(prunable[16].shape, [10, 512]);
  const state = await model.stateDict();
  assert.ok(state.has('features.1.running_mean') && state.has('features.1.running_var') && state.has('features.1.num_batches_tracked'));
  assert.ok(state.get('features.1.running_var')!.every((v) => v === 1));
  assert.ok(V(model.param('features.1.weight').data).every((v) => v === 1));
  assertMatchesTorch(model, 'vgg19', CIFAR);
  const mnist = createModel('vgg19', kernels, { seed: 0, inputShape: MNIST, classes: 10 });
  assert.equal(countPrunableWeights(mnist), 20_024_000 - 1728 + 576);
  assertMatchesTorch(mnist, 'vgg19', MNIST);
  model.dispose();
  mnist.dispose();
});

test('Kaiming-normal init: std sqrt(2/fan_in), biases 0, same seed same weights, other seed other weights', () => {
  const a = createModel('lenet-300-100', kernels, { seed: 7, inputShape: MNIST, classes: 10 });
  const b = createModel('lenet-300-100', kernels, { seed: 7, inputShape: MNIST, classes: 10 });
  const c = createModel('lenet-300-100', kernels, { seed: 8, inputShape: MNIST, classes: 10 });
  const w = V(a.param('fc1.weight').data);
  let sum = 0;
  let sq = 0;
  for (const v of w) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / w.length;
  const std = Math.sqrt(sq / w.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.002, `mean ${mean}`);
  assert.ok(Math.abs(std / Math.sqrt(2 / 784) - 1) < 0.01, `std ${std}`);
  assert.ok(V(a.param('fc1.bias').data).every((v) => v === 0));
  assert.deepEqual(V(a.param('fc2.weight').data), V(b.param('fc2.weight').data));
  assert.notDeepEqual(V(a.param('fc2.weight').data), V(c.param('fc2.weight').data));
  const conv = createModel('conv2', kernels, { seed: 7, inputShape: CIFAR, classes: 10 });
  const cw = V(conv.param('features.2.weight').data);
  const cstd = Math.sqrt(cw.reduce((s, v) => s + v * v, 0) / cw.length);
  assert.ok(Math.abs(cstd / Math.sqrt(2 / (64 * 9)) - 1) < 0.02, `conv std ${cstd}`);
});

test('every zoo model but vgg19 runs forward and backward on 28x28x1 inputs (logits finite, every gradient filled)', () => {
  for (const name of MODEL_NAMES.filter((n) => n !== 'vgg19')) {
    const m = model_(name, MNIST);
    const x = new Float32Array(2 * 784).map((_, i) => Math.sin(i));
    for (const p of m.params) V(p.grad).fill(NaN);
    const logits = m.forward(x, 2, 'train');
    assert.equal(logits.length, 20);
    assert.ok(V(logits).every(Number.isFinite));
    const dLogits = m.dLogitsBuffer(2);
    kernels.fill(dLogits, 0.1);
    m.backward(dLogits, 2);
    assert.ok(m.params.every((p) => V(p.grad).every(Number.isFinite)), name);
  }
});

test('bad model requests are UserErrors naming the problem', () => {
  assert.throws(() => createModel('resnet' as ModelName, kernels, { seed: 0, inputShape: MNIST, classes: 10 }), (e: unknown) => e instanceof UserError && /unknown model "resnet"/.test(e.message));
  assert.throws(() => createModel('conv6', kernels, { seed: 0, inputShape: [3, 4, 4], classes: 10 }), (e: unknown) => e instanceof UserError && /conv6 cannot take inputs of shape \[3,4,4\]/.test(e.message));
  assert.throws(() => createModel('lenet-300-100', kernels, { seed: 0, inputShape: MNIST, classes: 1 }), (e: unknown) => e instanceof UserError && /classes/.test(e.message));
});

test('state-dict names, order and shapes equal those of the PyTorch definitions (fixture from torch), for every model and input', () => {
  // vgg19 is checked in its own test above
  for (const e of zooFixture().models.filter((q) => q.model !== 'vgg19')) assertMatchesTorch(model_(e.model, e.inputShape), e.model, e.inputShape);
});
