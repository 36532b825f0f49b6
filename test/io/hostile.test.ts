// Hostile model and mask files (issue 15, items 3, 7, 8, 9): each one is refused with one message
// naming the file and the tensor, quickly and without allocating what its header merely claims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { UserError } from '../../src/errors.js';
import { analyzeLayer } from '../../src/graph/index.js';
import { readModelLayers } from '../../src/io/model.js';
import { readOnnxWeights } from '../../src/io/onnx.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { definition3, denseB, denseSingularValues, hashedLayer, relClose } from '../graph/reference.js';

const { onnx } = onnxProto;
const dir = mkdtempSync(join(tmpdir(), 'rlth-hostile-io-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function expectUserError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err instanceof Error ? err.stack : String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

async function expectUserErrorAsync(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err instanceof Error ? err.stack : String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

/** A safetensors file from raw header text (or an object) and data bytes. */
function stFile(name: string, header: unknown, data: Uint8Array = new Uint8Array(0)): string {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, h, data]));
  return path;
}

test('safetensors: dtypes are looked up as own names only ("__proto__", "constructor" are unknown dtypes)', () => {
  for (const dtype of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    const path = stFile(`proto-${dtype}.safetensors`, { w: { dtype, shape: [2, 2], data_offsets: [0, 16] } }, new Uint8Array(16));
    expectUserError(() => readSafetensors(path), new RegExp(`proto-${dtype}\\.safetensors: tensor "w": dtype ${dtype} is not supported`));
  }
});

test('safetensors: a duplicate key anywhere in the header is refused, not "last one wins"', () => {
  const top = stFile(
    'dup-top.safetensors',
    '{"w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}, "w" :{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}',
    new Uint8Array(8),
  );
  expectUserError(() => readSafetensors(top), /dup-top\.safetensors: not a valid safetensors file: the header holds the key "w" twice/);
  const inner = stFile('dup-inner.safetensors', '{"w":{"dtype":"F32","shape":[1,1],"shape":[1,2],"data_offsets":[0,4]}}', new Uint8Array(4));
  expectUserError(() => readSafetensors(inner), /dup-inner\.safetensors: .*the header holds the key "shape" twice/);
  const meta = stFile('dup-meta.safetensors', '{"__metadata__":{"a":"1","a":"2"}}');
  expectUserError(() => readSafetensors(meta), /dup-meta\.safetensors: .*the key "a" twice/);
  // The same name spelled with an escape is the same key.
  const escaped = stFile('dup-escaped.safetensors', '{"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"\\u0077":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}');
  expectUserError(() => readSafetensors(escaped), /dup-escaped\.safetensors: .*the key "w" twice/);
  // Equal keys in different objects are fine.
  const ok = stFile('no-dup.safetensors', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"__metadata__":{"a":"x \\" { , b"}}', new Uint8Array(8));
  assert.deepEqual([...readSafetensors(ok).tensors.keys()], ['a', 'b']);
});

test('a layer whose shape holds no values ([0, 3e8], [0, 1e15]) is refused at once, before any graph is built', async () => {
  for (const shape of [[0, 300_000_000], [0, 1e15], [1e15, 0], [5, 0, 3, 3]]) {
    const path = stFile(`empty-${shape.join('x')}.safetensors`, { w: { dtype: 'F32', shape, data_offsets: [0, 0] } });
    const started = Date.now();
    await expectUserErrorAsync(() => readModelLayers(path), new RegExp(`empty-${shape.join('x')}\\.safetensors: weight "w" has shape \\[${shape.join(', ')}\\], which holds no values`));
    assert.ok(Date.now() - started < 2000, `${shape}: took ${Date.now() - started} ms`);
  }
});

test('masks must hold only 0 and 1: NaN, -3.5 and 0.5 are refused naming the file and the tensor', async () => {
  const weight = Float32Array.from([1, 2, 3, 4]);
  const model = join(dir, 'mask-model.safetensors');
  writeSafetensors(model, new Map([['fc.weight', { shape: [2, 2], data: weight }]]));
  for (const [label, bad] of [['nan', NaN], ['neg', -3.5], ['half', 0.5], ['inf', Infinity]] as const) {
    const maskPath = join(dir, `mask-${label}.safetensors`);
    writeSafetensors(maskPath, new Map([['fc.weight_mask', { shape: [2, 2], data: Float32Array.from([1, 0, bad, 1]) }]]));
    await expectUserErrorAsync(() => readModelLayers(model, maskPath), new RegExp(`mask-${label}\\.safetensors: mask "fc\\.weight_mask" holds ${String(bad).replace('.', '\\.')} at flat index 2; a mask holds only 0 and 1`));
  }
  // PyTorch's re-parametrisation keeps the mask in the model file: checked the same way.
  const reparam = join(dir, 'reparam-bad.safetensors');
  writeSafetensors(reparam, new Map([
    ['fc.weight_orig', { shape: [2, 2], data: weight }],
    ['fc.weight_mask', { shape: [2, 2], data: Float32Array.from([1, NaN, 0, 1]) }],
  ]));
  await expectUserErrorAsync(() => readModelLayers(reparam), /reparam-bad\.safetensors: mask "fc\.weight_mask" holds NaN at flat index 1/);
  // 0 and 1 of any dtype are fine (BOOL, U8, F64)
  const good = join(dir, 'mask-good.safetensors');
  writeSafetensors(good, new Map([['fc.weight_mask', { shape: [2, 2], data: Float64Array.from([1, 0, 0, 1]) }]]));
  assert.deepEqual([...(await readModelLayers(model, good))[0].mask!], [1, 0, 0, 1]);
});

type Init = { name: string; dims: number[]; dataType: number; rawData?: Uint8Array; floatData?: number[] };

function onnxFile(name: string, op: string, init: Init, attrs: Array<{ name: string; i: number }> = []): string {
  const node = onnx.NodeProto.create({
    opType: op,
    input: ['x', init.name],
    output: ['y'],
    attribute: attrs.map((a) => onnx.AttributeProto.create({ name: a.name, i: a.i, type: onnx.AttributeProto.AttributeType.INT })),
  });
  const model = onnx.ModelProto.create({ irVersion: 7, graph: onnx.GraphProto.create({ name: 'g', node: [node], initializer: [onnx.TensorProto.create(init)] }) });
  const path = join(dir, name);
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
  return path;
}

test('ONNX: empty, negative and oversized dims are refused before any data is touched', () => {
  const cases: Array<[string, string, number[], RegExp]> = [
    ['matmul-1e15x0', 'MatMul', [1e15, 0], /initialiser "w" has shape \[1000000000000000, 0\], which holds no values/],
    ['gemm-4e9x0', 'Gemm', [4e9, 0], /initialiser "w" has shape \[4000000000, 0\], which holds no values/],
    ['negative', 'Gemm', [-1, 4], /initialiser "w": dimension -1 of shape \[-1, 4\] is negative/],
    ['huge', 'MatMul', [2 ** 40, 2 ** 40], /initialiser "w": shape \[1099511627776, 1099511627776\] needs 1\.2\d*e\+24 values but the tensor holds 0/],
  ];
  for (const [name, op, dims, pattern] of cases) {
    const path = onnxFile(`${name}.onnx`, op, { name: 'w', dims, dataType: 1 });
    const started = Date.now();
    expectUserError(() => readOnnxWeights(path), new RegExp(`${name}\\.onnx: ${pattern.source}`));
    assert.ok(Date.now() - started < 2000, `${name}: took ${Date.now() - started} ms`);
  }
  // raw_data of the wrong length is refused before it is copied
  const raw = onnxFile('raw-short.onnx', 'Gemm', { name: 'w', dims: [3, 3], dataType: 1, rawData: new Uint8Array(8) });
  expectUserError(() => readOnnxWeights(raw), /raw-short\.onnx: initialiser "w": shape \[3, 3\] needs 9 values \(36 bytes\) but raw_data holds 8 bytes/);
});

test('ONNX and safetensors agree on Conv weights: 3-5 dimensions are layers, more are refused in ONNX and skipped in safetensors', async () => {
  const k8 = onnxFile('conv8.onnx', 'Conv', { name: 'k', dims: [1, 1, 1, 1, 1, 1, 1, 2], dataType: 1, floatData: [1, 1] });
  expectUserError(() => readOnnxWeights(k8), /conv8\.onnx: Conv weight "k" has 8 dimensions; 1-D to 3-D convolutions \(weights of 3 to 5 dimensions\) are supported/);
  const k5 = onnxFile('conv5.onnx', 'Conv', { name: 'k', dims: [2, 1, 1, 1, 2], dataType: 1, floatData: [1, 0, 0, 1] });
  assert.deepEqual(readOnnxWeights(k5)[0].shape, [2, 1, 1, 1, 2]);
  const st = join(dir, 'six-d.safetensors');
  writeSafetensors(st, new Map([
    ['six', { shape: [1, 1, 1, 1, 1, 2], data: new Float32Array(2).fill(1) }],
    ['fc.weight', { shape: [2, 2], data: new Float32Array(4).fill(1) }],
  ]));
  assert.deepEqual((await readModelLayers(st)).map((l) => l.name), ['fc.weight']);
});

test('F64 weights near the largest double (1e307) and tiny ones (1e-300) give the dense SVD scaled, not t1 = 0', async () => {
  const rows = 7;
  const cols = 9;
  const { mask, weight } = hashedLayer(rows, cols, 0.6, 11);
  const reference = definition3(denseSingularValues(denseB(mask, weight), rows, cols));
  for (const scale of [1e307, 1e-300, 2 ** 600, 1]) {
    const w = Float64Array.from(weight, (x, k) => (mask[k] !== 0 ? x * scale : 0));
    const path = join(dir, `scaled-${scale}.safetensors`);
    writeSafetensors(path, new Map([['fc.weight', { shape: [rows, cols], data: w }]]));
    const [layer] = await readModelLayers(path);
    const a = analyzeLayer({ name: layer.name, kind: layer.kind, shape: layer.shape, weight: layer.weight, mask: layer.mask });
    const m = a.weighted;
    assert.ok(relClose(m.t1, reference.t1 * scale, 1e-8), `scale ${scale}: t1 ${m.t1} vs ${reference.t1 * scale}`);
    assert.ok(relClose(m.t2, reference.t2 * scale, 1e-7), `scale ${scale}: t2 ${m.t2} vs ${reference.t2 * scale}`);
    // The average weighted degree itself may exceed the largest double (Infinity is then its
    // value); the sum is not allowed to overflow on the way to a representable average.
    let sum = 0;
    for (let k = 0; k < w.length; k++) sum += weight[k] * (mask[k] !== 0 ? 1 : 0);
    for (const [got, active] of [[m.weightedDL!, rows - m.isolatedL], [m.weightedDR!, cols - m.isolatedR]]) {
      assert.ok(relClose(got, (sum / active) * scale, 1e-12), `scale ${scale}: weighted degree ${got} vs ${(sum / active) * scale}`);
    }
  }
  // A single row (a star) and a complete weighted graph go through other paths: the same holds.
  const star = analyzeLayer({ name: 's', kind: 'linear', shape: [1, 3], weight: Float64Array.from([1e308, 1e308, 1e308]), mask: null });
  assert.ok(relClose(star.weighted.t1, Math.sqrt(3) * 1e308, 1e-12), `star t1 ${star.weighted.t1}`);
});

test('weights whose norm exceeds the largest double (so t1 could not be represented) are refused naming the weight', async () => {
  const path = join(dir, 'too-large.safetensors');
  writeSafetensors(path, new Map([['fc.weight', { shape: [2, 2], data: Float64Array.from([1e308, 1e308, 1e308, 1e308]) }]]));
  await expectUserErrorAsync(() => readModelLayers(path), /too-large\.safetensors: weight "fc\.weight" is too large to analyse: its norm exceeds the largest double/);
});

test('safetensors are never written under an .onnx name (readers tell the format by the extension)', () => {
  const path = join(dir, 'x.onnx');
  expectUserError(
    () => writeSafetensors(path, new Map([['w', { shape: [1], data: new Float32Array(1) }]])),
    /x\.onnx: is named \.onnx but safetensors would be written into it; name the file \.safetensors/,
  );
  assert.throws(() => readFileSync(path), /ENOENT/);
});

test('safetensors metadata keys "__proto__" and the like are refused, not silently dropped', () => {
  const path = stFile('meta-proto.safetensors', '{"__metadata__":{"__proto__":"x","format":"pt"}}');
  expectUserError(() => readSafetensors(path), /meta-proto\.safetensors: not a valid safetensors file: metadata key "__proto__" is not allowed/);
});
