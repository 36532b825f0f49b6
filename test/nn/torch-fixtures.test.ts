/**
 * The layers, a small conv net and the optimisers against golden values from PyTorch
 * (test/fixtures/torch/*.json, made by scripts/torch_fixtures.py in float64). Runs on the reference
 * kernels and on the default backend of createKernels (the wasm kernels once they are built).
 * Values go in by upload and come out by download only (the tensor contract), so the same tests
 * can run on any backend.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createKernels } from '../../src/engine/index.js';
import type { Kernels, Tensor } from '../../src/engine/kernels.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { float32Device, type Device } from '../../src/nn/device.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, type Layer } from '../../src/nn/layers.js';
import { createOptimizer } from '../../src/nn/optim.js';
import { Sequential } from '../../src/nn/sequential.js';
import { computeGradientsAndRead, trainStep } from '../../src/nn/train.js';
import type { TrainingConfig } from '../../src/prune/config.js';

const FIXTURES = new URL('../../../test/fixtures/torch/', import.meta.url);
function fixture(name: string): any {
  // Runs from source (test/nn) and from dist (dist/test/nn): find the JSON in either layout.
  for (const base of [new URL('../fixtures/torch/', import.meta.url), FIXTURES]) {
    try {
      return JSON.parse(readFileSync(new URL(name, base), 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  throw new Error(`fixture ${name} not found`);
}

const layersFixture = fixture('layers.json');
const convnetFixture = fixture('convnet.json');

const ADAM: TrainingConfig = {
  optimizer: 'adam', lr: 0.01, momentum: 0, nesterov: false, weightDecay: 0.001, batchSize: 1,
  iterations: 10, schedule: 'constant', milestones: [], gamma: 1,
};
const SGD: TrainingConfig = { ...ADAM, optimizer: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.0005 };

function assertClose(actual: ArrayLike<number>, expected: number[], what: string, atol = 2e-5, rtol = 2e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (excess > worst) {
      worst = excess;
      worstAt = i;
    }
  }
  assert.ok(worstAt < 0, `${what}[${worstAt}]: got ${actual[worstAt]}, PyTorch ${expected[worstAt]}`);
}

function engineArray(device: Device, values: number[]): Tensor {
  const a = device.alloc(values.length);
  device.kernels.upload(a, values);
  return a;
}

function buildLayer(device: Device, spec: any, inShape: number[]): Layer {
  const shape3 = inShape as [number, number, number];
  switch (spec.type) {
    case 'linear': return new Linear(device, 'layer', spec.in, spec.out, spec.bias ?? true);
    case 'conv': return new Conv2d(device, 'layer', shape3, spec.cOut, spec.k, { stride: spec.stride, padding: spec.padding, bias: spec.bias });
    case 'maxpool': return new MaxPool2d(device, shape3, spec.k, spec.stride ?? undefined, spec.padding ?? 0);
    case 'avgpool': return new AvgPool2d(device, shape3, spec.k, spec.stride ?? undefined, spec.padding ?? 0);
    case 'relu': return new ReLU(device, inShape);
    case 'flatten': return new Flatten(inShape);
    case 'batchnorm': return new BatchNorm2d(device, 'layer', shape3);
    default: throw new Error(`unknown layer ${spec.type}`);
  }
}

/** Loads parameters, masks and BN buffers of one fixture case into a fresh layer. */
function prepareLayer(device: Device, c: any): Layer {
  const layer = buildLayer(device, c.spec, c.inShape);
  const k = device.kernels;
  for (const p of layer.params) {
    const short = p.name.slice('layer.'.length);
    k.upload(p.data, c.params[short]);
    if (c.masks[short]) {
      k.upload(p.mask!, c.masks[short]);
      layer.maskChanged();
    }
  }
  for (const b of layer.buffers) {
    const short = b.name.slice('layer.'.length);
    if (c.buffers[short]) k.upload(b.data, c.buffers[short]);
  }
  layer.setWorkspace(device.alloc(Math.max(1, layer.workspaceSize(c.N))));
  return layer;
}

const backends: Kernels[] = [referenceKernels(), await createKernels()];
after(async () => {
  for (const k of backends) await k.close();
});

for (const kernels of backends) {
  const device = float32Device(kernels);
  /** the first n elements of a tensor (all when n is omitted), downloaded */
  const D = (t: Tensor, n?: number): Promise<Float32Array> => kernels.download(t, 0, n);
  for (const c of layersFixture.cases) {
    test(`[${kernels.name}] ${c.name}: forward, input and parameter gradients match PyTorch`, async () => {
      const layer = prepareLayer(device, c);
      layer.refreshWeights();
      const y = layer.forward(engineArray(device, c.x), c.N, c.mode);
      assertClose(await D(y, c.y.length), c.y, `${c.name} y`);
      const dx = layer.backward(engineArray(device, c.dy), c.N, true)!;
      assertClose(await D(dx, c.dx.length), c.dx, `${c.name} dx`);
      for (const p of layer.params) {
        const short = p.name.slice('layer.'.length);
        const grad = await D(p.grad);
        assertClose(grad, c.grads[short], `${c.name} d${short}`);
        if (p.mask !== null) {
          const mask = await D(p.mask);
          for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.equal(grad[i], 0);
        }
      }
      for (const b of layer.buffers.filter((q) => q.required)) {
        assertClose(await D(b.data), c.buffersAfter[b.name.slice('layer.'.length)], `${c.name} ${b.name}`);
      }
      layer.dispose();
    });

    if (Object.keys(c.params).length > 0) {
      for (const [opt, cfg] of [['adam', ADAM], ['sgd', SGD]] as const) {
        test(`[${kernels.name}] ${c.name}: two ${opt === 'adam' ? 'Adam' : 'SGD-Nesterov'} steps match PyTorch`, async () => {
          const layer = prepareLayer(device, c);
          const optimizer = createOptimizer({ params: layer.params, device }, cfg);
          for (const [step, expected] of (c[opt] as Array<Record<string, number[]>>).entries()) {
            layer.refreshWeights();
            layer.forward(engineArray(device, c.x), c.N, c.mode);
            layer.backward(engineArray(device, c.dy), c.N, true);
            optimizer.step();
            for (const p of layer.params) {
              const short = p.name.slice('layer.'.length);
              const data = await D(p.data);
              assertClose(data, expected[short], `${c.name} ${opt} step ${step + 1} ${short}`);
              if (p.mask !== null) {
                const mask = await D(p.mask);
                for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.equal(data[i], 0);
              }
            }
          }
          optimizer.dispose();
          layer.dispose();
        });
      }
    }
  }

  /** The same net as SmallConvNet in scripts/torch_fixtures.py. */
  async function smallConvNet(): Promise<Sequential> {
    const d = device;
    const layers: Layer[] = [
      new Conv2d(d, 'features.0', [3, 8, 8], 4, 3, { padding: 1 }), new BatchNorm2d(d, 'features.1', [4, 8, 8]),
      new ReLU(d, [4, 8, 8]), new MaxPool2d(d, [4, 8, 8], 2),
      new Conv2d(d, 'features.4', [4, 4, 4], 6, 3, { padding: 1 }), new ReLU(d, [6, 4, 4]), new AvgPool2d(d, [6, 4, 4], 2),
      new Flatten([6, 2, 2]), new Linear(d, 'classifier', 24, 5),
    ];
    const model = new Sequential(d, layers, { name: 'small-convnet', inputShape: [3, 8, 8], classes: 5 });
    const c = convnetFixture.case;
    const state = await model.stateDict();
    for (const [name, values] of Object.entries(c.params)) state.set(name, Float32Array.from(values as number[]));
    model.loadStateDict(state);
    for (const [name, mask] of Object.entries(c.masks)) model.setMask(name, Float32Array.from(mask as number[]));
    return model;
  }

  test(`[${kernels.name}] small conv net (conv, BN, ReLU, max/avg pool, linear, masks): logits, loss, gradients, running stats match PyTorch`, async () => {
    const c = convnetFixture.case;
    const model = await smallConvNet();
    const labels = Int32Array.from(c.labels);
    const r = await computeGradientsAndRead(model, Float32Array.from(c.x), labels, c.N, 'train');
    assert.ok(Math.abs(r.loss - c.loss) < 1e-5 * Math.max(1, c.loss), `loss ${r.loss} vs ${c.loss}`);
    assert.equal(r.correct, c.correct);
    for (const p of model.params) assertClose(await D(p.grad), c.grads[p.name], `d${p.name}`);
    for (const [name, mask] of Object.entries(c.masks) as Array<[string, number[]]>) {
      const g = await D(model.param(name).grad);
      mask.forEach((m, i) => { if (m === 0) assert.equal(g[i], 0, `${name} pruned grad ${i}`); });
    }
    const state = await model.stateDict();
    for (const [name, values] of Object.entries(c.buffersAfter)) assertClose(state.get(name)!, values as number[], name);
    model.dispose();
  });

  for (const [opt, cfg] of [['adam', ADAM], ['sgd', SGD]] as const) {
    test(`[${kernels.name}] small conv net: two ${opt === 'adam' ? 'Adam' : 'SGD-Nesterov'} training steps, then eval-mode logits, match PyTorch`, async () => {
      const c = convnetFixture.case;
      const model = await smallConvNet();
      const optimizer = createOptimizer(model, cfg);
      const x = Float32Array.from(c.x);
      const labels = Int32Array.from(c.labels);
      for (const [step, expected] of (c[opt].steps as Array<Record<string, number[]>>).entries()) {
        trainStep(model, optimizer, x, labels, c.N);
        for (const p of model.params) assertClose(await D(p.data), expected[p.name], `${opt} step ${step + 1} ${p.name}`);
      }
      for (const [name, mask] of Object.entries(c.masks) as Array<[string, number[]]>) {
        const w = await D(model.param(name).data);
        mask.forEach((m, i) => { if (m === 0) assert.equal(w[i], 0, `${name} pruned weight ${i}`); });
      }
      const state = await model.stateDict();
      for (const [name, values] of Object.entries(c[opt].buffers)) assertClose(state.get(name)!, values as number[], `${opt} ${name}`);
      assert.equal(state.get('features.1.num_batches_tracked')![0], 2);
      assertClose(await D(model.forward(x, c.N, 'eval'), c[opt].evalLogits.length), c[opt].evalLogits, `${opt} eval logits`);
      optimizer.dispose();
      model.dispose();
    });
  }
}
