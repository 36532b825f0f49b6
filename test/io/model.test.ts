import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { openModelLayers, readModelLayers } from '../../src/io/model.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { packageRoot } from '../../src/paths.js';

const fixtures = join(packageRoot(), 'test', 'fixtures', 'models');
const dir = mkdtempSync(join(tmpdir(), 'rlth-model-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function expectUserError(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

type T = { shape: number[]; data: Float32Array | Float64Array };

test('safetensors: Linear and Conv weights found by shape and name; biases and batch norm skipped', async () => {
  const layers = await readModelLayers(join(fixtures, 'small.safetensors'));
  assert.deepEqual(layers.map((l) => [l.name, l.kind, l.shape.join('x')]), [
    ['conv1.weight', 'conv', '8x3x3x3'],
    ['conv2.weight', 'conv', '16x8x3x3'],
    ['fc1.weight', 'linear', '32x256'],
    ['fc2.weight', 'linear', '10x32'],
  ]);
  assert.ok(layers.every((l) => l.mask === null && l.maskSource === 'zeros'));
});

test('F16 and BF16 model files give the same layers and edges', async () => {
  const f32 = await readModelLayers(join(fixtures, 'small.safetensors'));
  for (const file of ['small_f16.safetensors', 'small_bf16.safetensors']) {
    const other = await readModelLayers(join(fixtures, file));
    assert.deepEqual(other.map((l) => l.name), f32.map((l) => l.name));
    for (let i = 0; i < f32.length; i++) {
      const nz = (a: ArrayLike<number>) => Array.from(a).filter((x) => x !== 0).length;
      assert.equal(nz(other[i].weight), nz(f32[i].weight), `${file} ${f32[i].name}`);
    }
  }
});

test('a mask file is matched by "<weight>_mask" and by the weight name', async () => {
  const layers = await readModelLayers(join(fixtures, 'small.safetensors'), join(fixtures, 'small_masks.safetensors'));
  assert.ok(layers.every((l) => l.maskSource === 'mask-file'));
  const plainNames = join(dir, 'plain-masks.safetensors');
  writeSafetensors(plainNames, new Map<string, T>([['fc2.weight', { shape: [10, 32], data: new Float32Array(320).fill(1) }]]));
  const l2 = await readModelLayers(join(fixtures, 'small.safetensors'), plainNames);
  assert.equal(l2.find((l) => l.name === 'fc2.weight')!.maskSource, 'mask-file');
  assert.equal(l2.find((l) => l.name === 'fc1.weight')!.maskSource, 'zeros');
});

test('PyTorch pruning re-parametrisation: X.weight_orig with X.weight_mask is the layer X.weight', async () => {
  const path = join(dir, 'reparam.safetensors');
  const mask = Float32Array.from({ length: 12 }, (_, k) => (k % 2 ? 1 : 0));
  writeSafetensors(path, new Map<string, T>([
    ['fc.weight_orig', { shape: [3, 4], data: new Float32Array(12).fill(0.5) }],
    ['fc.weight_mask', { shape: [3, 4], data: mask }],
    ['fc.bias', { shape: [3], data: new Float32Array(3) }],
  ]));
  const [l] = await readModelLayers(path);
  assert.equal(l.name, 'fc.weight');
  assert.equal(l.maskSource, 'model-file');
  assert.deepEqual([...l.mask!], [...mask]);
});

test('bad inputs: mask shape mismatch, no matching mask, no layers, unknown extension', async () => {
  const wrong = join(dir, 'wrong-mask.safetensors');
  writeSafetensors(wrong, new Map<string, T>([['fc1.weight_mask', { shape: [256, 32], data: new Float32Array(8192) }]]));
  await expectUserError(
    () => readModelLayers(join(fixtures, 'small.safetensors'), wrong),
    /wrong-mask\.safetensors: mask "fc1\.weight_mask" has shape \[256, 32\] but the weight "fc1\.weight" in .*small\.safetensors has shape \[32, 256\]/,
  );
  const unrelated = join(dir, 'unrelated.safetensors');
  writeSafetensors(unrelated, new Map<string, T>([['other_mask', { shape: [2], data: new Float32Array(2) }]]));
  await expectUserError(() => readModelLayers(join(fixtures, 'small.safetensors'), unrelated), /unrelated\.safetensors: no mask matches a weight/);
  const onlyBias = join(dir, 'bias.safetensors');
  writeSafetensors(onlyBias, new Map<string, T>([['fc.bias', { shape: [3], data: new Float32Array(3) }]]));
  await expectUserError(() => readModelLayers(onlyBias), /bias\.safetensors: no Linear or Conv weights found/);
  const txt = join(dir, 'model.pt');
  writeFileSync(txt, 'x');
  await expectUserError(() => readModelLayers(txt), /model\.pt: expected a model file ending in \.safetensors or \.onnx/);
});

test('a weight holding NaN or Infinity is a clear error', async () => {
  const path = join(dir, 'nan.safetensors');
  const data = new Float32Array(6).fill(0.5);
  data[4] = NaN;
  writeSafetensors(path, new Map<string, T>([['fc.weight', { shape: [2, 3], data }]]));
  await expectUserError(() => readModelLayers(path), /nan\.safetensors: weight "fc\.weight" holds a non-finite value \(NaN\) at flat index 4/);
});

test('openModelLayers with reuse loads one layer at a time, each equal to readModelLayers\' (weights, masks from the model and from a mask file)', async () => {
  const reparam = join(dir, 'reuse.safetensors');
  const maskA = Float32Array.from({ length: 12 }, (_, k) => (k % 3 ? 1 : 0));
  writeSafetensors(reparam, new Map<string, T>([
    ['a.weight_orig', { shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, k) => k - 5.5) }],
    ['a.weight_mask', { shape: [3, 4], data: maskA }],
    ['b.weight', { shape: [2, 3, 3, 3], data: Float32Array.from({ length: 54 }, (_, k) => (k % 4 ? 0.1 * k : 0)) }],
    ['c.weight', { shape: [5, 2], data: Float64Array.from({ length: 10 }, (_, k) => -k) }],
  ]));
  const cases: Array<[string, string | null]> = [
    [reparam, null],
    [join(fixtures, 'small.safetensors'), join(fixtures, 'small_masks.safetensors')],
    [join(fixtures, 'small.onnx'), null],
  ];
  for (const [model, masks] of cases) {
    const expected = await readModelLayers(model, masks);
    const source = await openModelLayers(model, masks, { reuse: true });
    try {
      assert.deepEqual(source.layers, expected.map(({ weight: _w, mask: _m, ...info }) => info), model);
      for (const layer of expected) {
        const loaded = source.load(layer.name);
        assert.deepEqual(loaded, layer, `${model} ${layer.name}`);
      }
    } finally {
      source.close();
    }
  }
  // A bad value is found when its layer is loaded, with the same message.
  const bad = join(dir, 'reuse-nan.safetensors');
  writeSafetensors(bad, new Map<string, T>([['w', { shape: [2, 2], data: Float32Array.from([1, Number.NaN, 0, 1]) }]]));
  const source = await openModelLayers(bad, null, { reuse: true });
  try {
    await expectUserError(async () => source.load('w'), /reuse-nan\.safetensors: weight "w" holds a non-finite value \(NaN\) at flat index 1/);
  } finally {
    source.close();
  }
});
