import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { readOnnxWeights } from '../../src/io/onnx.js';
import { halfBitsToNumber, readSafetensors, SafetensorsReader, TensorScratch, writeSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'rlth-st-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Assembles a safetensors file from a header object (or raw header text) and a data buffer. */
function rawFile(name: string, header: unknown, data: Uint8Array, headerLengthOverride?: bigint): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLengthOverride ?? BigInt(h.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, h, data]));
  return path;
}

/** Asserts that `fn` throws a UserError matching `pattern`; returns its message. */
function expectUserError(fn: () => unknown, pattern: RegExp): string {
  let message = '';
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, pattern);
    message = err.message;
    return true;
  });
  return message;
}

test('write then read round-trips F32 and F64 tensors, shapes and metadata', () => {
  const a = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 3);
  const b = Float64Array.from({ length: 5 }, (_, i) => Math.PI * (i + 1) * 1e-300);
  const empty = new Float32Array(0);
  const path = join(dir, 'rt.safetensors');
  writeSafetensors(path, new Map<string, { shape: number[]; data: Float32Array | Float64Array }>([
    ['layer.weight', { shape: [3, 4], data: a }],
    ['other', { shape: [5], data: b }],
    ['nothing', { shape: [0, 7], data: empty }],
  ]), { format: 'pt', level: '3' });
  const bytes = readFileSync(path);
  // The header is padded so the data buffer starts at a multiple of 8.
  assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  const r = readSafetensors(path);
  assert.deepEqual(r.metadata, { format: 'pt', level: '3' });
  assert.deepEqual([...r.tensors.keys()], ['layer.weight', 'other', 'nothing']);
  const ta = r.tensors.get('layer.weight')!;
  assert.equal(ta.dtype, 'F32');
  assert.deepEqual(ta.shape, [3, 4]);
  assert.ok(ta.data instanceof Float32Array);
  assert.deepEqual([...ta.data], [...a]);
  const tb = r.tensors.get('other')!;
  assert.equal(tb.dtype, 'F64');
  assert.ok(tb.data instanceof Float64Array);
  assert.deepEqual([...tb.data], [...b]);
  assert.equal(r.tensors.get('nothing')!.data.length, 0);
  // no temporary file is left behind
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
});

test('an overwrite replaces the file and a failed write leaves the old one intact', () => {
  const path = join(dir, 'atomic.safetensors');
  writeSafetensors(path, new Map([['x', { shape: [2], data: new Float32Array([1, 2]) }]]));
  const before = readFileSync(path);
  expectUserError(
    () => writeSafetensors(path, new Map([['x', { shape: [3], data: new Float32Array([1, 2]) }]])),
    /atomic\.safetensors: tensor "x": shape \[3\] does not match its 2 values/,
  );
  assert.deepEqual(readFileSync(path), before);
  writeSafetensors(path, new Map([['y', { shape: [1], data: new Float64Array([7]) }]]));
  assert.deepEqual([...readSafetensors(path).tensors.keys()], ['y']);
});

test('F16, BF16, integer and BOOL dtypes are widened to numbers', () => {
  // F16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), -0
  const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000]);
  // BF16: 1.0, 3.140625, -0.5
  const bf16 = new Uint16Array([0x3f80, 0x4049, 0xbf00]);
  const i64 = new BigInt64Array([-5n, 1n << 40n]);
  const i32 = new Int32Array([-7, 2147483647]);
  const u8 = new Uint8Array([0, 255]);
  const bool = new Uint8Array([0, 1, 1]);
  const i8 = new Int8Array([-128, 3]);
  const parts: Array<[string, string, number[], Uint8Array]> = [
    ['h', 'F16', [5], new Uint8Array(f16.buffer)],
    ['bf', 'BF16', [3], new Uint8Array(bf16.buffer)],
    ['l', 'I64', [2], new Uint8Array(i64.buffer)],
    ['i', 'I32', [2], new Uint8Array(i32.buffer)],
    ['u', 'U8', [2], u8],
    ['b', 'BOOL', [3], bool],
    ['c', 'I8', [2], new Uint8Array(i8.buffer)],
  ];
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, dtype, shape, bytes] of parts) {
    header[name] = { dtype, shape, data_offsets: [off, off + bytes.length] };
    off += bytes.length;
  }
  const path = rawFile('dtypes.safetensors', header, Buffer.concat(parts.map((p) => p[3])));
  const r = readSafetensors(path);
  assert.deepEqual([...r.tensors.get('h')!.data], [1, -2, 65504, 2 ** -24, -0]);
  assert.ok(Object.is(r.tensors.get('h')!.data[4], -0));
  assert.deepEqual([...r.tensors.get('bf')!.data], [1, 3.140625, -0.5]);
  assert.deepEqual([...r.tensors.get('l')!.data], [-5, 2 ** 40]);
  assert.deepEqual([...r.tensors.get('i')!.data], [-7, 2147483647]);
  assert.deepEqual([...r.tensors.get('u')!.data], [0, 255]);
  assert.deepEqual([...r.tensors.get('b')!.data], [0, 1, 1]);
  assert.deepEqual([...r.tensors.get('c')!.data], [-128, 3]);
  assert.equal(r.tensors.get('bf')!.dtype, 'BF16');
});

test('halfBitsToNumber covers infinities and NaN', () => {
  assert.equal(halfBitsToNumber(0x7c00), Infinity);
  assert.equal(halfBitsToNumber(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfBitsToNumber(0x7e00)));
  assert.equal(halfBitsToNumber(0x0400), 2 ** -14); // smallest normal
});

test('tensors may be stored in any order in the buffer', () => {
  const data = new Float32Array([10, 20, 30]);
  const path = rawFile('order.safetensors', {
    second: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    first: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
  }, new Uint8Array(data.buffer));
  const r = readSafetensors(path);
  assert.deepEqual([...r.tensors.get('first')!.data], [10, 20]);
  assert.deepEqual([...r.tensors.get('second')!.data], [30]);
});

test('a missing file is a UserError naming it', () => {
  expectUserError(() => readSafetensors(join(dir, 'nope.safetensors')), /nope\.safetensors: cannot read the file \(ENOENT\)/);
});

test('a file shorter than 8 bytes is reported as truncated', () => {
  const path = join(dir, 'short.safetensors');
  writeFileSync(path, Buffer.from([1, 2, 3]));
  expectUserError(() => readSafetensors(path), /short\.safetensors: .*3 bytes long.*truncated/);
});

test('a header length past the end of the file is reported', () => {
  const path = rawFile('hlen.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4), 1000n);
  expectUserError(() => readSafetensors(path), /hlen\.safetensors: .*header length 1000 runs past the end/);
  const huge = rawFile('hlen2.safetensors', '{}', new Uint8Array(0), 0xffffffffffffffffn);
  expectUserError(() => readSafetensors(huge), /hlen2\.safetensors: .*runs past the end/);
});

test('invalid header JSON is reported', () => {
  const path = rawFile('json.safetensors', '{"a": {"dtype": "F32",', new Uint8Array(0));
  expectUserError(() => readSafetensors(path), /json\.safetensors: .*header is not valid JSON/);
  const arr = rawFile('json2.safetensors', '[1, 2]', new Uint8Array(0));
  expectUserError(() => readSafetensors(arr), /json2\.safetensors: .*not a JSON object/);
});

test('offsets out of range (a truncated data buffer) are reported', () => {
  const path = rawFile('range.safetensors', { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(10));
  expectUserError(() => readSafetensors(path), /range\.safetensors: .*tensor "w": data_offsets \[0, 16\] lie outside the 10-byte data buffer/);
  const rev = rawFile('range2.safetensors', { w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, new Uint8Array(10));
  expectUserError(() => readSafetensors(rev), /range2\.safetensors: .*end before they begin/);
  const neg = rawFile('range3.safetensors', { w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(10));
  expectUserError(() => readSafetensors(neg), /range3\.safetensors: .*data_offsets must be two non-negative integers/);
});

test('overlapping tensors are reported', () => {
  const path = rawFile('overlap.safetensors', {
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  }, new Uint8Array(12));
  expectUserError(() => readSafetensors(path), /overlap\.safetensors: .*tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/);
});

test('a dtype/shape/byte-length mismatch is reported', () => {
  const path = rawFile('mismatch.safetensors', { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, new Uint8Array(12));
  expectUserError(() => readSafetensors(path), /mismatch\.safetensors: .*tensor "w": F32 shape \[2, 2\] needs 16 bytes but data_offsets \[0, 12\] hold 12/);
  const badShape = rawFile('mismatch2.safetensors', { w: { dtype: 'F32', shape: [2.5], data_offsets: [0, 12] } }, new Uint8Array(12));
  expectUserError(() => readSafetensors(badShape), /mismatch2\.safetensors: .*shape must be an array of non-negative integers/);
});

test('an unsupported dtype is reported as not supported', () => {
  const path = rawFile('f8.safetensors', { w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
  expectUserError(() => readSafetensors(path), /f8\.safetensors: tensor "w": dtype F8_E4M3 is not supported/);
});

test('bad metadata is reported', () => {
  const path = rawFile('meta.safetensors', { __metadata__: { a: 3 } }, new Uint8Array(0));
  expectUserError(() => readSafetensors(path), /meta\.safetensors: .*metadata "a" is not a string/);
});

test('writing into a missing folder is a UserError and leaves nothing behind', () => {
  expectUserError(
    () => writeSafetensors(join(dir, 'no', 'such', 'x.safetensors'), new Map([['x', { shape: [1], data: new Float32Array(1) }]])),
    /x\.safetensors: cannot write the file \(ENOENT\)/,
  );
});

test('SafetensorsReader reads each tensor as readSafetensors does; with a scratch, F32 values are reused memory', () => {
  const a = Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1);
  const b = Float64Array.from({ length: 5 }, (_, i) => Math.E * (i - 2));
  const c = Float32Array.from({ length: 6 }, (_, i) => -i);
  const path = join(dir, 'reader.safetensors');
  writeSafetensors(path, new Map<string, { shape: number[]; data: Float32Array | Float64Array }>([
    ['a', { shape: [3, 4], data: a }],
    ['b', { shape: [5], data: b }],
    ['c', { shape: [2, 3], data: c }],
  ]), { format: 'pt' });
  const whole = readSafetensors(path);
  const reader = SafetensorsReader.open(path);
  try {
    assert.deepEqual(reader.metadata, whole.metadata);
    assert.deepEqual([...reader.entries.keys()], [...whole.tensors.keys()]);
    for (const [name, t] of whole.tensors) {
      assert.deepEqual(reader.entries.get(name)!.shape, t.shape);
      assert.deepEqual(reader.read(name), t.data, name);
    }
    // Own arrays without a scratch; with one, the next read reuses the memory of the last.
    const scratch = new TensorScratch(48);
    const first = reader.read('a', scratch);
    assert.deepEqual(first, a);
    const second = reader.read('c', scratch);
    assert.deepEqual(second, c);
    assert.equal(first.buffer, second.buffer);
    assert.deepEqual([...first.subarray(0, 6)], [...c]);
    const own = reader.read('a');
    reader.read('c', scratch);
    assert.deepEqual(own, a);
  } finally {
    reader.close();
  }
  assert.throws(() => reader.read('a'), /read after close/);
});

test('SafetensorsReader refuses every broken header with the message readSafetensors gives, and a file cut short after opening', () => {
  const short = join(dir, 'r-short.safetensors');
  writeFileSync(short, Buffer.from([1, 2, 3]));
  const broken = [
    join(dir, 'nope.safetensors'),
    short,
    rawFile('r-hlen.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4), 1000n),
    rawFile('r-json.safetensors', '{"a": {"dtype": "F32",', new Uint8Array(0)),
    rawFile('r-range.safetensors', { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(10)),
    rawFile('r-overlap.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
    rawFile('r-dtype.safetensors', { w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)),
    rawFile('r-dup.safetensors', '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', new Uint8Array(4)),
  ];
  for (const path of broken) {
    const expected = expectUserError(() => readSafetensors(path), /./);
    assert.ok(expected.startsWith(path), expected);
    assert.equal(expectUserError(() => SafetensorsReader.open(path), /./), expected);
  }
  const path = join(dir, 'cut.safetensors');
  writeSafetensors(path, new Map([['w', { shape: [256], data: new Float32Array(256).fill(1) }]]));
  const reader = SafetensorsReader.open(path);
  try {
    truncateSync(path, 100);
    expectUserError(() => reader.read('w'), /cut\.safetensors: not a valid safetensors file: it ended early/);
  } finally {
    reader.close();
  }
});

test('a FIFO or a folder named like a model (safetensors or ONNX) is refused at once, not waited on', () => {
  const fifo = join(dir, 'fifo.safetensors');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  expectUserError(() => readSafetensors(fifo), /fifo\.safetensors: is not a regular file \(a device, FIFO or socket\)/);
  expectUserError(() => SafetensorsReader.open(fifo), /fifo\.safetensors: is not a regular file \(a device, FIFO or socket\)/);
  const folder = join(dir, 'folder.safetensors');
  mkdirSync(folder);
  expectUserError(() => SafetensorsReader.open(folder), /folder\.safetensors: is not a regular file \(a folder\)/);
  const onnxFifo = join(dir, 'fifo.onnx');
  assert.equal(spawnSync('mkfifo', [onnxFifo]).status, 0, 'mkfifo');
  expectUserError(() => readOnnxWeights(onnxFifo), /fifo\.onnx: is not a regular file \(a device, FIFO or socket\), expected an ONNX model file/);
});
