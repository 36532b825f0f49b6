import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../../src/engine/reference.js';
import type { FloatArray, Tensor } from '../../src/engine/kernels.js';
import { hostView } from '../../src/engine/index.js';
import { float32Device, float64Device, type Device } from '../../src/nn/device.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, type Layer } from '../../src/nn/layers.js';
import { Rng } from '../../src/nn/rng.js';
import { Sequential } from '../../src/nn/sequential.js';
import { magnitudeScores, randomScores, snipScores, synflowScores } from '../../src/prune/scores.js';
import { hostKernels } from '../engine/host-kernels.js';

function fillNormal(a: FloatArray, rng: Rng, std: number, mean = 0): void {
  for (let i = 0; i < a.length; i++) a[i] = mean + std * rng.normal();
}

/** The live values of a model's tensor (CPU backends' host access). */
function V(model: Sequential, t: Tensor): FloatArray {
  return hostView(model.kernels, t);
}

/** Flatten -> fc1 (2->3) -> ReLU -> fc2 (3->2), with given weights and biases. */
function twoLayer(device: Device) {
  const layers: Layer[] = [new Flatten([2, 1, 1]), new Linear(device, 'fc1', 2, 3), new ReLU(device, [3]), new Linear(device, 'fc2', 3, 2)];
  const model = new Sequential(device, layers, { name: 'two-layer', inputShape: [2, 1, 1], classes: 2 });
  const set = (name: string, v: number[]) => V(model, model.param(name).data).set(v);
  set('fc1.weight', [1, -2, 0.5, 3, -1, -0.25]); // [3, 2]
  set('fc1.bias', [0.5, -1, 2]);
  set('fc2.weight', [2, -1, 0.5, -3, 1, 4]); // [2, 3]
  set('fc2.bias', [7, -7]);
  return model;
}

test('SynFlow on a two-layer linear network equals the hand computation', async () => {
  const model = twoLayer(float32Device(referenceKernels()));
  // With |params| and x = (1, 1): h_i = sum_j |W1_ij| + |b1_i| = (3.5, 4.5, 3.25) (all > 0, so
  // ReLU passes them); R = sum_k (sum_i |W2_ki| h_i + |b2_k|).
  // dR/dW2_ki = h_i, so score W2_ki = |W2_ki| h_i;
  // dR/dW1_ij = (sum_k |W2_ki|) x_j, so score W1_ij = |W1_ij| (sum_k |W2_ki|), column sums (5, 2, 4.5).
  const scores = await synflowScores(model);
  const h = [3.5, 4.5, 3.25];
  const w2 = [2, 1, 0.5, 3, 1, 4];
  const expected2 = w2.map((w, idx) => w * h[idx % 3]);
  const w1 = [1, 2, 0.5, 3, 1, 0.25];
  const colsum = [5, 2, 4.5];
  const expected1 = w1.map((w, idx) => w * colsum[Math.floor(idx / 2)]);
  const close = (got: Float64Array, want: number[]) => want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-6 * v, `${i}: ${got[i]} vs ${v}`));
  close(scores.get('fc1.weight')!, expected1);
  close(scores.get('fc2.weight')!, expected2);
  assert.deepEqual([...scores.keys()], ['fc1.weight', 'fc2.weight']);
  // the model's signed parameters are restored exactly
  assert.deepEqual([...V(model, model.param('fc1.weight').data)], [1, -2, 0.5, 3, -1, -0.25]);
  assert.deepEqual([...V(model, model.param('fc2.bias').data)], [7, -7]);
});

test('SynFlow scores only surviving connections; magnitude is |w| under the mask', async () => {
  const model = twoLayer(float32Device(referenceKernels()));
  model.setMask('fc2.weight', Float32Array.from([1, 0, 1, 1, 1, 0]));
  const s = (await synflowScores(model)).get('fc2.weight')!;
  assert.equal(s[1], 0);
  assert.equal(s[5], 0);
  assert.ok(s[0] > 0 && s[2] > 0);
  const mag = (await magnitudeScores(model)).get('fc2.weight')!;
  assert.deepEqual([...mag], [2, 0, 0.5, 3, 1, 0]);
});

/** A small conv net with BatchNorm, built identically on any device. */
function convNet(device: Device): Sequential {
  const layers: Layer[] = [];
  let shape: [number, number, number] = [2, 6, 6];
  const push = (l: Layer) => { layers.push(l); shape = l.outShape as [number, number, number]; };
  push(new Conv2d(device, 'features.0', shape, 4, 3, { padding: 1 }));
  push(new BatchNorm2d(device, 'features.1', shape));
  push(new ReLU(device, shape));
  push(new MaxPool2d(device, shape, 2));
  push(new Conv2d(device, 'features.4', shape, 5, 3, { padding: 1 }));
  push(new BatchNorm2d(device, 'features.5', shape));
  push(new ReLU(device, shape));
  push(new AvgPool2d(device, shape, 3));
  layers.push(new Flatten(shape));
  layers.push(new Linear(device, 'classifier', 5, 3));
  return new Sequential(device, layers, { name: 'tiny-conv', inputShape: [2, 6, 6], classes: 3 });
}

/** Random signed parameters and BN statistics (as after training), the same on both devices. */
function randomState(model: Sequential, seed: number, weightScale = 1): void {
  const rng = new Rng(seed);
  for (const p of model.params) fillNormal(V(model, p.data), rng, p.kind === 'batchnorm' ? 0.5 : 0.4 * weightScale, p.kind === 'batchnorm' && p.name.endsWith('weight') ? 1 : 0);
  for (const b of model.buffers) {
    const d = V(model, b.data);
    if (b.name.endsWith('running_mean')) fillNormal(d, rng, 0.3);
    if (b.name.endsWith('running_var')) for (let i = 0; i < d.length; i++) d[i] = 0.5 + rng.next();
  }
}

/**
 * |θ| ⊙ dR/dθ computed plainly (no rescaling) on a model's own arrays: every parameter replaced by
 * its absolute value, BN in eval mode, all-ones input, dR/dlogits = 1; `read` sees the gradients,
 * then the parameters are restored.
 */
function plainSynflow<T>(model: Sequential, read: () => T): T {
  const saved = model.params.map((p) => V(model, p.data).slice());
  for (const p of model.params) V(model, p.data).forEach((v, i, a) => { a[i] = Math.abs(v); });
  try {
    const [C, H, W] = model.inputShape;
    model.forward(new Float64Array(C * H * W).fill(1), 1, 'eval');
    const dLogits = model.dLogitsBuffer(1);
    model.kernels.fill(dLogits, 1);
    model.backward(dLogits, 1);
    return read();
  } finally {
    model.params.forEach((p, i) => V(model, p.data).set(saved[i]));
  }
}

/** SynFlow computed plainly in float64 (no rescaling): the reference. */
function synflowFloat64(model: Sequential): Map<string, Float64Array> {
  return plainSynflow(model, () => {
    const out = new Map<string, Float64Array>();
    for (const p of model.prunableParams()) {
      const g = V(model, p.grad);
      out.set(p.name, Float64Array.from(V(model, p.data), (w, i) => Math.abs(w * g[i])));
    }
    return out;
  });
}

async function copyTo64(src: Sequential, dst: Sequential): Promise<void> {
  dst.loadStateDict(new Map([...(await src.stateDict())].map(([k, v]) => [k, Float64Array.from(v)])));
  for (const [name, mask] of await src.masks()) dst.setMask(name, Float64Array.from(mask));
}

function assertRelClose(got: Float64Array, want: Float64Array, tol: number, what: string): void {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol * Math.abs(want[i]) + 1e-12 * scale, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

test('SynFlow with BatchNorm, pooling and a mask agrees with a plain float64 computation', async () => {
  const model = convNet(float32Device(referenceKernels()));
  randomState(model, 1);
  const mask = new Float32Array(4 * 2 * 9);
  const rng = new Rng(9);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < 0.6 ? 1 : 0;
  model.setMask('features.0.weight', mask);
  const before = await model.stateDict();
  const got = await synflowScores(model);
  const ref64 = convNet(float64Device());
  await copyTo64(model, ref64);
  const want = synflowFloat64(ref64);
  for (const [name, w] of want) assertRelClose(got.get(name)!, w, 1e-4, name);
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.equal(got.get('features.0.weight')![i], 0);
  // parameters and buffers (running means included) are left exactly as they were
  for (const [name, v] of await model.stateDict()) assert.deepEqual([...v], [...before.get(name)!], name);
});

/** A deep MLP whose absolute weights multiply past float32's range. */
function deepMlp(device: Device, depth: number, width: number): Sequential {
  const layers: Layer[] = [new Flatten([width, 1, 1])];
  for (let i = 0; i < depth; i++) {
    layers.push(new Linear(device, `fc${i}`, width, width));
    layers.push(new ReLU(device, [width]));
  }
  layers.push(new Linear(device, 'out', width, 4));
  return new Sequential(device, layers, { name: 'deep', inputShape: [width, 1, 1], classes: 4 });
}

test('SynFlow keeps the relative sizes of scores where float32 overflows (and underflows)', async () => {
  for (const [weightScale, label] of [[4, 'overflow'], [0.001, 'underflow']] as const) {
    const model = deepMlp(float32Device(referenceKernels()), 24, 32);
    randomState(model, 3, weightScale);
    const ref64 = deepMlp(float64Device(), 24, 32);
    await copyTo64(model, ref64);
    const want = synflowFloat64(ref64);
    // the plain float32 computation fails here: that is what the rescaling is for
    const plain = model.prunableParams().map(() => 0);
    plainSynflow(model, () => {
      model.prunableParams().forEach((p, i) => {
        const [d, g] = [V(model, p.data), V(model, p.grad)];
        for (let j = 0; j < p.data.length; j++) plain[i] += d[j] * g[j];
      });
    });
    assert.ok(plain.some((s) => !Number.isFinite(s) || s === 0), `${label}: plain float32 sums ${plain}`);
    const got = await synflowScores(model);
    for (const [name, w] of want) assertRelClose(got.get(name)!, w, 1e-4, `${label} ${name}`);
    const first = got.get('fc0.weight')!.reduce((a, b) => a + b, 0);
    assert.ok(Number.isFinite(first) && first > 0, `${label}: first layer's scores sum to ${first}`);
  }
});

test('random scores are seeded and only under the mask', async () => {
  const model = twoLayer(float32Device(referenceKernels()));
  model.setMask('fc1.weight', Float32Array.from([1, 1, 0, 1, 1, 1]));
  const a = await randomScores(model, new Rng(5).fork('x'));
  const b = await randomScores(model, new Rng(5).fork('x'));
  const c = await randomScores(model, new Rng(6).fork('x'));
  assert.deepEqual([...a.get('fc1.weight')!], [...b.get('fc1.weight')!]);
  assert.notDeepEqual([...a.get('fc1.weight')!], [...c.get('fc1.weight')!]);
  assert.equal(a.get('fc1.weight')![2], 0);
  for (const v of a.get('fc2.weight')!) assert.ok(v > 0 && v < 1);
});

/** Minibatches of fixed random data, repeated in order. */
class FixedBatches {
  private i = 0;
  constructor(readonly batchSize: number, private readonly xs: Float32Array[], private readonly ys: Int32Array[]) {}
  next(x: Float32Array, labels: Int32Array): void {
    x.set(this.xs[this.i % this.xs.length]);
    labels.set(this.ys[this.i % this.ys.length]);
    this.i++;
  }
}

test('SNIP equals |mean gradient x w| with the gradient checked by finite differences', async () => {
  const model = convNet(float64Device());
  const host = hostKernels(float64Device().kernels);
  const rng = new Rng(21);
  for (const p of model.params) fillNormal(V(model, p.data), rng, p.kind === 'batchnorm' ? 0.3 : 0.5, p.kind === 'batchnorm' && p.name.endsWith('weight') ? 1 : 0);
  const mask = new Float64Array(5 * 3);
  for (let i = 0; i < mask.length; i++) mask[i] = i % 4 === 0 ? 0 : 1;
  model.setMask('classifier.weight', mask);
  const N = 4;
  const xs = [0, 1].map(() => { const x = new Float32Array(N * 72); fillNormal(x, rng, 1); return x; });
  const ys = [Int32Array.from([0, 1, 2, 1]), Int32Array.from([2, 2, 0, 1])];
  const statsBefore = model.buffers.map((b) => [...V(model, b.data)]);
  const scores = await snipScores(model, new FixedBatches(N, xs, ys), 2);
  // SNIP restores the BN running statistics it touched in training mode
  model.buffers.forEach((b, i) => assert.deepEqual([...V(model, b.data)], statsBefore[i], b.name));

  // loss averaged over the two batches, in training mode (BN batch statistics), stats restored
  const saved = model.buffers.map((b) => V(model, b.data).slice());
  const loss = (): number => {
    let total = 0;
    for (let b = 0; b < 2; b++) {
      const logits = V(model, model.forward(xs[b], N, 'train'));
      total += host.softmaxCrossEntropy(logits, ys[b], N, 3, new Float64Array(N * 3)).loss;
    }
    model.buffers.forEach((b, i) => V(model, b.data).set(saved[i]));
    return total / 2;
  };
  const eps = 1e-6;
  let checked = 0;
  for (const p of model.prunableParams()) {
    const s = scores.get(p.name)!;
    const [data, mask] = [V(model, p.data), V(model, p.mask!)];
    for (let i = 0; i < p.data.length; i += 5) {
      if (mask[i] === 0) { assert.equal(s[i], 0); continue; }
      const w = data[i];
      data[i] = w + eps;
      const up = loss();
      data[i] = w - eps;
      const down = loss();
      data[i] = w;
      const fd = Math.abs(((up - down) / (2 * eps)) * w);
      assert.ok(Math.abs(s[i] - fd) <= 1e-6 + 1e-5 * fd, `${p.name}[${i}]: snip ${s[i]} vs finite difference ${fd}`);
      checked++;
    }
  }
  assert.ok(checked > 20);
});
