/**
 * Finite-difference gradient checks, in Float64 on the reference kernels, of every layer, the loss,
 * and a whole small network (conv, batch norm, pools, linear, masks). A layer's analytic gradients
 * (its backward pass) must match central differences of L = Σ y ⊙ R for a fixed random R.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/kernels.js';
import { float64Device } from '../../src/nn/device.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, type Layer } from '../../src/nn/layers.js';
import { Rng } from '../../src/nn/rng.js';
import { Sequential } from '../../src/nn/sequential.js';
import { computeGradients } from '../../src/nn/train.js';
import { hostKernels } from '../engine/host-kernels.js';

const device = float64Device();
/** the float64 values behind a tensor (the reference backend's host access) */
const V = (t: Tensor): Float64Array => device.kernels.view(t) as Float64Array;
/** a float64 tensor holding a copy of `values` */
const T = (values: ArrayLike<number>): Tensor => {
  const t = device.alloc(values.length);
  device.kernels.upload(t, values);
  return t;
};
/** the kernels over host arrays (test/engine/host-kernels.ts), for the loss */
const host = hostKernels(device.kernels);
const H = 1e-6;

function randomArray(rng: Rng, n: number, scale = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

function close(analytic: number, numeric: number, what: string): void {
  const tol = 1e-6 + 1e-5 * Math.abs(numeric);
  assert.ok(Math.abs(analytic - numeric) <= tol, `${what}: analytic ${analytic} vs numeric ${numeric}`);
}

/** Checks dL/dx and dL/dθ of one layer with L = Σ layer(x) ⊙ R. */
function checkLayer(layer: Layer, N: number, seed: number, opts: { mode?: 'train' | 'eval'; input?: Float64Array } = {}): void {
  const rng = new Rng(seed);
  const mode = opts.mode ?? 'train';
  const inSize = layer.inShape.reduce((a, b) => a * b, 1);
  const outSize = layer.outShape.reduce((a, b) => a * b, 1);
  for (const p of layer.params) {
    V(p.data).set(randomArray(rng, p.data.length, 0.5));
    if (p.mask !== null) for (let i = 0; i < p.data.length; i++) V(p.data)[i] *= V(p.mask)[i];
  }
  layer.refreshWeights();
  const ws = device.alloc(Math.max(1, layer.workspaceSize(N)));
  layer.setWorkspace(ws);
  const x0 = opts.input ?? randomArray(rng, N * inSize);
  const R = randomArray(rng, N * outSize);
  const loss = (): number => {
    const y = V(layer.forward(T(x0), N, mode)); // a fresh copy: ReLU works in place
    let s = 0;
    for (let i = 0; i < N * outSize; i++) s += y[i] * R[i];
    return s;
  };
  loss();
  const dx = layer.backward(T(R), N, true);
  assert.ok(dx !== null, 'dx requested');
  const dxCopy = V(dx).slice();
  const grads = layer.params.map((p) => V(p.grad).slice());
  for (let i = 0; i < x0.length; i++) {
    const keep = x0[i];
    x0[i] = keep + H;
    const lp = loss();
    x0[i] = keep - H;
    const lm = loss();
    x0[i] = keep;
    close(dxCopy[i], (lp - lm) / (2 * H), `${layer.description} dx[${i}]`);
  }
  layer.params.forEach((p, k) => {
    const data = V(p.data);
    for (let i = 0; i < p.data.length; i++) {
      if (p.mask !== null && V(p.mask)[i] === 0) {
        assert.equal(grads[k][i], 0, `${p.name} grad at pruned ${i} must be exactly 0`);
        continue;
      }
      const keep = data[i];
      data[i] = keep + H;
      layer.refreshWeights();
      const lp = loss();
      data[i] = keep - H;
      layer.refreshWeights();
      const lm = loss();
      data[i] = keep;
      layer.refreshWeights();
      close(grads[k][i], (lp - lm) / (2 * H), `${p.name}[${i}]`);
    }
  });
}

test('Linear: gradients match finite differences', () => {
  checkLayer(new Linear(device, 'fc', 7, 5), 3, 1);
  checkLayer(new Linear(device, 'fc', 4, 1), 1, 2);
});

test('Linear with a mask: pruned gradients exactly 0, the rest match finite differences', () => {
  const layer = new Linear(device, 'fc', 6, 4);
  const rng = new Rng(3);
  for (let i = 0; i < layer.weight.mask!.length; i++) V(layer.weight.mask!)[i] = rng.next() < 0.5 ? 0 : 1;
  layer.maskChanged();
  checkLayer(layer, 3, 4);
});

test('Conv2d: gradients match finite differences (3x3 same, stride 2, 1x1, masked)', () => {
  checkLayer(new Conv2d(device, 'c', [3, 5, 6], 4, 3, { padding: 1 }), 2, 5);
  checkLayer(new Conv2d(device, 'c', [2, 7, 7], 3, 3, { stride: 2 }), 2, 6);
  checkLayer(new Conv2d(device, 'c', [3, 4, 4], 2, 1, { bias: false }), 1, 7);
  const masked = new Conv2d(device, 'c', [2, 5, 5], 3, 3, { padding: 1 });
  const rng = new Rng(8);
  for (let i = 0; i < masked.weight.mask!.length; i++) V(masked.weight.mask!)[i] = rng.next() < 0.6 ? 0 : 1;
  masked.maskChanged();
  checkLayer(masked, 2, 9);
});

test('MaxPool2d: gradients match finite differences', () => {
  checkLayer(new MaxPool2d(device, [2, 4, 6], 2), 2, 10);
  checkLayer(new MaxPool2d(device, [2, 5, 5], 3, 2, 1), 2, 11);
});

test('AvgPool2d: gradients match finite differences (with count_include_pad padding)', () => {
  checkLayer(new AvgPool2d(device, [2, 4, 6], 2), 2, 12);
  checkLayer(new AvgPool2d(device, [2, 5, 5], 3, 2, 1), 2, 13);
});

test('ReLU: gradients match finite differences (inputs away from the kink)', () => {
  const rng = new Rng(14);
  const x = randomArray(rng, 2 * 3 * 4 * 4).map((v) => (Math.abs(v) < 0.05 ? v + Math.sign(v || 1) * 0.1 : v));
  checkLayer(new ReLU(device, [3, 4, 4]), 2, 15, { input: x });
});

test('Flatten: identity on the data, gradients pass through', () => {
  checkLayer(new Flatten([2, 3, 3]), 2, 16);
});

test('BatchNorm2d: gradients match finite differences in train and eval mode', () => {
  checkLayer(new BatchNorm2d(device, 'bn', [3, 4, 5]), 4, 17, { mode: 'train' });
  const bn = new BatchNorm2d(device, 'bn', [3, 2, 3]);
  V(bn.runningMean).set([0.3, -0.2, 0.1]);
  V(bn.runningVar).set([0.5, 2.0, 1.3]);
  checkLayer(bn, 3, 18, { mode: 'eval' });
});

test('softmax cross-entropy: dLogits matches finite differences of the mean loss', () => {
  const k = host;
  const rng = new Rng(19);
  const N = 4;
  const C = 5;
  const logits = randomArray(rng, N * C, 2);
  const labels = Int32Array.from([0, 3, 4, 1]);
  const d = new Float64Array(N * C);
  k.softmaxCrossEntropy(logits, labels, N, C, d);
  const scratch = new Float64Array(N * C);
  for (let i = 0; i < logits.length; i++) {
    const keep = logits[i];
    logits[i] = keep + H;
    const lp = k.softmaxCrossEntropy(logits, labels, N, C, scratch).loss;
    logits[i] = keep - H;
    const lm = k.softmaxCrossEntropy(logits, labels, N, C, scratch).loss;
    logits[i] = keep;
    close(d[i], (lp - lm) / (2 * H), `dLogits[${i}]`);
  }
});

test('a small network (conv, BN, ReLU, pools, linear, masks): parameter gradients of the loss match finite differences', () => {
  const d = device;
  const layers: Layer[] = [];
  const c1 = new Conv2d(d, 'features.0', [2, 6, 6], 3, 3, { padding: 1 });
  layers.push(c1, new BatchNorm2d(d, 'features.1', [3, 6, 6]), new ReLU(d, [3, 6, 6]), new MaxPool2d(d, [3, 6, 6], 2));
  const c2 = new Conv2d(d, 'features.4', [3, 3, 3], 4, 2);
  layers.push(c2, new ReLU(d, [4, 2, 2]), new AvgPool2d(d, [4, 2, 2], 2), new Flatten([4, 1, 1]));
  layers.push(new Linear(d, 'classifier', 4, 3));
  const model = new Sequential(d, layers, { name: 'tiny', inputShape: [2, 6, 6], classes: 3 });
  const rng = new Rng(20);
  for (const p of model.params) V(p.data).set(randomArray(rng, p.data.length, 0.7));
  const mask = new Float64Array(c2.weight.data.length).map(() => (rng.next() < 0.5 ? 0 : 1));
  model.setMask('features.4.weight', mask);
  const N = 3;
  const x = randomArray(rng, N * 2 * 6 * 6);
  const labels = Int32Array.from([2, 0, 1]);
  computeGradients(model, x, labels, N, 'train');
  const grads = model.params.map((p) => V(p.grad).slice());
  const loss = (): number => host.softmaxCrossEntropy(V(model.forward(x, N, 'train')), labels, N, 3, new Float64Array(N * 3)).loss;
  let checked = 0;
  model.params.forEach((p, k) => {
    const data = V(p.data);
    for (let i = 0; i < p.data.length; i++) {
      if (p.mask !== null && V(p.mask)[i] === 0) {
        assert.equal(grads[k][i], 0, `${p.name}[${i}] pruned: gradient exactly 0`);
        assert.equal(data[i], 0, `${p.name}[${i}] pruned: weight exactly 0`);
        continue;
      }
      const keep = data[i];
      data[i] = keep + H;
      const lp = loss();
      data[i] = keep - H;
      const lm = loss();
      data[i] = keep;
      close(grads[k][i], (lp - lm) / (2 * H), `${p.name}[${i}]`);
      checked++;
    }
  });
  assert.ok(checked > 100);
});

test('zoo models in Float64 (lenet, conv2, conv4, conv6): sampled parameter gradients match finite differences', async () => {
  const { buildModel } = await import('../../src/models/zoo.js');
  const cases = [
    { name: 'lenet-300-100', input: [1, 3, 3] },
    { name: 'conv2', input: [1, 4, 4] },
    { name: 'conv4', input: [2, 4, 4] },
    { name: 'conv6', input: [1, 8, 8] },
  ] as const;
  for (const c of cases) {
    const model = buildModel(c.name, device, { seed: 1, inputShape: [...c.input], classes: 4 });
    const rng = new Rng(30);
    for (const p of model.params) if (p.kind === 'bias') V(p.data).set(randomArray(rng, p.data.length, 0.1));
    const N = 2;
    const x = randomArray(rng, N * c.input[0] * c.input[1] * c.input[2]);
    const labels = Int32Array.from([1, 3]);
    computeGradients(model, x, labels, N, 'train');
    const grads = new Map(model.params.map((p) => [p.name, V(p.grad).slice()]));
    const loss = (): number => host.softmaxCrossEntropy(V(model.forward(x, N, 'train')), labels, N, 4, new Float64Array(N * 4)).loss;
    for (const p of model.params) {
      const data = V(p.data);
      for (let k = 0; k < 3; k++) {
        const i = rng.int(p.data.length);
        const keep = data[i];
        data[i] = keep + H;
        const lp = loss();
        data[i] = keep - H;
        const lm = loss();
        data[i] = keep;
        close(grads.get(p.name)![i], (lp - lm) / (2 * H), `${c.name} ${p.name}[${i}]`);
      }
    }
  }
});
