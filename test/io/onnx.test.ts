import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { UserError } from '../../src/errors.js';
import { readOnnxWeights } from '../../src/io/onnx.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { packageRoot } from '../../src/paths.js';

const { onnx } = onnxProto;
const fixtures = join(packageRoot(), 'test', 'fixtures', 'models');
const dir = mkdtempSync(join(tmpdir(), 'rlth-onnx-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function expectUserError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('the PyTorch-exported model: Conv, Gemm (transB = 1) and MatMul weights in PyTorch layout', () => {
  const weights = readOnnxWeights(join(fixtures, 'small.onnx'));
  const expected = JSON.parse(readFileSync(join(fixtures, 'small_expected.json'), 'utf8')).onnx_layers as Record<string, { op: string; shape: number[]; edges: number }>;
  assert.deepEqual(weights.map((w) => w.name).sort(), Object.keys(expected).sort());
  for (const w of weights) {
    const e = expected[w.name];
    assert.equal(w.op, e.op);
    assert.deepEqual(w.shape, e.shape);
    assert.equal(Array.from(w.data).filter((x) => x !== 0).length, e.edges);
    assert.equal(w.kind, w.op === 'Conv' ? 'conv' : 'linear');
  }
  // Gemm with transB = 1 and MatMul (transposed back) give exactly the PyTorch weights.
  const state = readSafetensors(join(fixtures, 'small.safetensors')).tensors;
  const fc1 = weights.find((w) => w.name === 'fc1.weight')!;
  assert.deepEqual([...fc1.data], [...state.get('fc1.weight')!.data]);
  const fc2 = weights.find((w) => w.op === 'MatMul')!;
  assert.deepEqual(fc2.shape, [10, 32]);
  assert.deepEqual([...fc2.data], [...state.get('fc2.weight')!.data]);
});

type Init = { name: string; dims: number[]; dataType: number; rawData?: Uint8Array; floatData?: number[]; doubleData?: number[]; int32Data?: number[]; dataLocation?: number; externalData?: Array<{ key: string; value: string }> };

/** Writes a one-node ONNX model whose node reads initialiser `init` as its weight. */
function modelFile(name: string, op: string, init: Init, attrs: Array<{ name: string; i: number }> = [], weightFirst = false): string {
  const node = onnx.NodeProto.create({
    opType: op,
    input: weightFirst ? [init.name, 'x'] : ['x', init.name],
    output: ['y'],
    attribute: attrs.map((a) => onnx.AttributeProto.create({ name: a.name, i: a.i, type: onnx.AttributeProto.AttributeType.INT })),
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    graph: onnx.GraphProto.create({ name: 'g', node: [node], initializer: [onnx.TensorProto.create(init)] }),
  });
  const path = join(dir, name);
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
  return path;
}

test('Gemm with transB = 0 and MatMul take [in, out] initialisers and transpose them', () => {
  // [in = 2, out = 3]: rows of the result are outputs
  const init = { name: 'w', dims: [2, 3], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [1, 2, 3, 4, 5, 6] };
  for (const [op, attrs] of [['Gemm', [{ name: 'transB', i: 0 }]], ['Gemm', []], ['MatMul', []]] as const) {
    const [w] = readOnnxWeights(modelFile(`${op}.onnx`, op, init, [...attrs]));
    assert.deepEqual(w.shape, [3, 2], op);
    assert.deepEqual([...w.data], [1, 4, 2, 5, 3, 6], op);
  }
  const [g] = readOnnxWeights(modelFile('gemm1.onnx', 'Gemm', init, [{ name: 'transB', i: 1 }]));
  assert.deepEqual(g.shape, [2, 3]);
  assert.deepEqual([...g.data], [1, 2, 3, 4, 5, 6]);
  const [m] = readOnnxWeights(modelFile('matmul-first.onnx', 'MatMul', init, [], true));
  assert.deepEqual(m.shape, [2, 3]);
});

test('raw and typed data: FLOAT raw, DOUBLE typed, FLOAT16 and BFLOAT16 bits', () => {
  const raw = new Uint8Array(new Float32Array([0.5, -1, 2, 0]).buffer);
  const [a] = readOnnxWeights(modelFile('raw.onnx', 'Gemm', { name: 'w', dims: [2, 2], dataType: 1, rawData: raw }, [{ name: 'transB', i: 1 }]));
  assert.deepEqual([...a.data], [0.5, -1, 2, 0]);
  const [b] = readOnnxWeights(modelFile('double.onnx', 'Gemm', { name: 'w', dims: [1, 2], dataType: 11, doubleData: [0.1, 0.2] }, [{ name: 'transB', i: 1 }]));
  assert.ok(b.data instanceof Float64Array);
  assert.deepEqual([...b.data], [0.1, 0.2]);
  const [c] = readOnnxWeights(modelFile('f16.onnx', 'Gemm', { name: 'w', dims: [1, 2], dataType: 10, int32Data: [0x3c00, 0xc000] }, [{ name: 'transB', i: 1 }]));
  assert.deepEqual([...c.data], [1, -2]);
  const [d] = readOnnxWeights(modelFile('bf16.onnx', 'Gemm', { name: 'w', dims: [1, 2], dataType: 16, rawData: new Uint8Array(new Uint16Array([0x3f80, 0xbf00]).buffer) }, [{ name: 'transB', i: 1 }]));
  assert.deepEqual([...d.data], [1, -0.5]);
  const [conv] = readOnnxWeights(modelFile('conv.onnx', 'Conv', { name: 'k', dims: [2, 1, 2, 2], dataType: 1, floatData: [1, 0, 0, 1, 0, 2, 2, 0] }));
  assert.deepEqual(conv.shape, [2, 1, 2, 2]);
  assert.equal(conv.kind, 'conv');
});

test('external data, unsupported types, wrong sizes and unparseable files are clear errors', () => {
  expectUserError(
    () => readOnnxWeights(modelFile('ext.onnx', 'Gemm', { name: 'w', dims: [2, 2], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] })),
    /ext\.onnx: initialiser "w" keeps its data in an external file: external data is not supported/,
  );
  expectUserError(
    () => readOnnxWeights(modelFile('int.onnx', 'Gemm', { name: 'w', dims: [1, 1], dataType: 7, rawData: new Uint8Array(8) })),
    /int\.onnx: initialiser "w" has data type INT64, which is not supported/,
  );
  expectUserError(
    () => readOnnxWeights(modelFile('size.onnx', 'Gemm', { name: 'w', dims: [2, 2], dataType: 1, floatData: [1, 2, 3] })),
    /size\.onnx: initialiser "w": shape \[2, 2\] needs 4 values but the tensor holds 3/,
  );
  const garbage = join(dir, 'garbage.onnx');
  writeFileSync(garbage, Buffer.from('this is not a protobuf at all, just some text\n'));
  expectUserError(() => readOnnxWeights(garbage), /garbage\.onnx: not a valid ONNX model/);
  const truncated = join(dir, 'truncated.onnx');
  const bytes = readFileSync(join(fixtures, 'small.onnx'));
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  expectUserError(() => readOnnxWeights(truncated), /truncated\.onnx: not a valid ONNX model/);
  const empty = join(dir, 'empty.onnx');
  writeFileSync(empty, Buffer.alloc(0));
  expectUserError(() => readOnnxWeights(empty), /empty\.onnx: not a valid ONNX model: it has no graph/);
  expectUserError(() => readOnnxWeights(join(dir, 'missing.onnx')), /missing\.onnx: cannot read the file/);
});
