/**
 * A seeded fuzzer of the CLI's file inputs. Not a test file: test/fuzz/fuzz.test.ts runs a short
 * campaign of it, and `npm run fuzz` (main.ts) a longer one.
 *
 * Each case makes a small valid input of one kind (the seed input, generated here: nothing is
 * read from outside the repository), mutates it with a seeded random generator, runs the real
 * CLI on it in a child process (child.ts) and checks:
 *   - the exit code is 0, or the process printed exactly one line on stderr, "ramanujan: ...",
 *     naming the input file or folder, with no stack trace and no "internal error" (a config
 *     with several bad fields may list them one per line after the first); a signal (e.g. a
 *     native abort) is a failure;
 *   - peak resident memory (the child's own maxRSS; watched from outside too, and killed when
 *     over) is at most MEMORY_BASE_BYTES + MEMORY_PER_INPUT_BYTE x the input's size in bytes;
 *   - wall time is at most `caseSeconds`.
 *
 * Kinds and commands:
 *   safetensors   analyze MODEL.safetensors [--mask MASKS.safetensors]   (model or mask mutated)
 *   onnx          analyze MODEL.onnx
 *   idx, idx-gz   data info mnist:DIR            (one of the four IDX files mutated; gzipped or not)
 *   cifar         data info cifar10:DIR          (one of the six binary batches mutated)
 *   png, jpeg     data info folder:DIR --cache-dir DIR/cache   (one image mutated)
 *   yaml, json    sweep SWEEP.yaml --dry-run     (the run config it names as base mutated)
 * Mutations: generic byte ones (bit flips, interesting bytes and 32-bit integers, truncation,
 * slices inserted, repeated or deleted) and format-aware ones (safetensors header entries, ONNX
 * initialiser dims and types, IDX header sizes, PNG IHDR and JPEG SOF sizes with valid CRCs,
 * config values and keys).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync, crc32 } from 'node:zlib';
import jpeg from 'jpeg-js';
import onnxProto from 'onnx-proto';
import { PNG } from 'pngjs';
import { writeSafetensors } from '../../src/io/safetensors.js';

const { onnx } = onnxProto;

/** Memory every case may use whatever its input: node, the CLI's modules and the wasm engine. */
export const MEMORY_BASE_BYTES = 256 * 2 ** 20;
/**
 * Memory allowed per byte of input on top of the base. The readers' own limits give: gzip
 * about 1,032 : 1, inflated and copied once; PNG at most 256 pixels per compressed byte at
 * about 10 bytes a pixel decoded; JPEG at most 512 pixels per coded byte (one bit per 8x8
 * block) at about 15 bytes a pixel in jpeg-js and the dataset (src/data/decode.ts).
 */
export const MEMORY_PER_INPUT_BYTE = 8192;

export const KINDS = ['safetensors', 'onnx', 'idx', 'idx-gz', 'cifar', 'png', 'jpeg', 'yaml', 'json'] as const;
export type Kind = (typeof KINDS)[number];

export interface CaseResult {
  index: number;
  kind: Kind;
  mutation: string;
  /** the file that was mutated */
  file: string;
  args: string[];
  inputBytes: number;
  exitCode: number | null;
  signal: string | null;
  stderr: string;
  wallMs: number;
  /** peak resident memory in bytes (null if the child could not report it) */
  maxRssBytes: number | null;
  memoryBoundBytes: number;
  /** what went wrong; empty when the case ran clean */
  problems: string[];
}

export interface FuzzOptions {
  seed: number;
  /** stop starting cases after this many seconds (default: no limit) */
  seconds?: number;
  /** stop after this many cases (default: no limit; one of seconds and cases must be given) */
  cases?: number;
  /** run only case `only` (to reproduce one) */
  only?: number;
  /** wall-time bound of one case */
  caseSeconds?: number;
  /** cases run at once */
  concurrency?: number;
  kinds?: readonly Kind[];
  /** keep the inputs of failing cases here (default: delete everything) */
  keepFailures?: string;
  onCase?: (r: CaseResult) => void;
}

// ---- seeded randomness ---------------------------------------------------------------------

/** mulberry32: a small seeded generator; the values only have to be reproducible. */
export class Rng {
  private s: number;
  constructor(seed: number, stream: number) {
    this.s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

// ---- generic byte mutations ----------------------------------------------------------------

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x7b, 0x7d, 0x5b];
const INTERESTING_U32 = [0, 1, 2, 0x7f, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 4000, 20000, 1 << 24];

function mutateBytes(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; name: string } {
  const b = Buffer.from(bytes);
  const pos = () => rng.int(Math.max(1, b.length));
  switch (rng.int(7)) {
    case 0: {
      const n = 1 + rng.int(8);
      for (let i = 0; i < n && b.length > 0; i++) b[pos()] ^= 1 << rng.int(8);
      return { bytes: b, name: `flip ${n} bits` };
    }
    case 1: {
      const n = 1 + rng.int(4);
      for (let i = 0; i < n && b.length > 0; i++) b[pos()] = rng.pick(INTERESTING_BYTES);
      return { bytes: b, name: `set ${n} interesting bytes` };
    }
    case 2: {
      if (b.length < 4) return { bytes: b, name: 'no-op (too short for u32)' };
      const at = rng.int(b.length - 3);
      const v = rng.pick(INTERESTING_U32);
      if (rng.int(2)) b.writeUInt32BE(v, at);
      else b.writeUInt32LE(v, at);
      return { bytes: b, name: `u32 ${v} at ${at}` };
    }
    case 3: {
      const at = pos();
      return { bytes: b.subarray(0, at), name: `truncate at ${at}` };
    }
    case 4: {
      const at = pos();
      const len = 1 + rng.int(64);
      const extra = Buffer.from(Array.from({ length: len }, () => rng.int(256)));
      return { bytes: Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]), name: `insert ${len} random bytes at ${at}` };
    }
    case 5: {
      const at = pos();
      const len = 1 + rng.int(Math.max(1, Math.min(256, b.length - at)));
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + len)]), name: `delete ${len} bytes at ${at}` };
    }
    default: {
      const at = pos();
      const len = 1 + rng.int(Math.max(1, Math.min(512, b.length - at)));
      const times = 1 + rng.int(50);
      const slice = b.subarray(at, at + len);
      return { bytes: Buffer.concat([b.subarray(0, at + len), ...Array.from({ length: times }, () => slice), b.subarray(at + len)]), name: `repeat ${len} bytes at ${at} ${times} times` };
    }
  }
}

// ---- seed inputs ---------------------------------------------------------------------------

function values(n: number, rng: Rng, zeros = 0.3): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() < zeros ? 0 : rng.next() * 2 - 1));
}

function safetensorsSeeds(dir: string, rng: Rng): { model: string; mask: string } {
  const model = join(dir, 'model.safetensors');
  writeSafetensors(model, new Map([
    ['conv1.weight', { shape: [3, 2, 2, 2], data: values(24, rng) }],
    ['conv1.bias', { shape: [3], data: values(3, rng) }],
    ['fc1.weight', { shape: [5, 6], data: values(30, rng) }],
    ['fc2.weight_orig', { shape: [4, 5], data: values(20, rng, 0) }],
    ['fc2.weight_mask', { shape: [4, 5], data: Float32Array.from({ length: 20 }, (_, k) => (k % 3 === 0 ? 0 : 1)) }],
  ]), { format: 'pt' });
  const mask = join(dir, 'masks.safetensors');
  writeSafetensors(mask, new Map([['fc1.weight_mask', { shape: [5, 6], data: Float32Array.from({ length: 30 }, (_, k) => (k % 4 === 0 ? 0 : 1)) }]]));
  return { model, mask };
}

/** Rewrites a safetensors header entry: shape, dtype, offsets or a duplicated key. */
function mutateSafetensorsHeader(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; name: string } | null {
  const buf = Buffer.from(bytes);
  if (buf.length < 8) return null;
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) return null;
  let header: Record<string, Record<string, unknown>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, Record<string, unknown>>;
  } catch {
    return null;
  }
  // mostly the layers (2-D and more), whose shapes the analysis uses
  const all = Object.keys(header).filter((k) => k !== '__metadata__');
  const layers = all.filter((k) => Array.isArray(header[k].shape) && (header[k].shape as unknown[]).length >= 2);
  const names = layers.length > 0 && rng.int(4) !== 0 ? layers : all;
  if (names.length === 0) return null;
  let name = rng.pick(names);
  const entry = header[name];
  let text: string;
  let what: string;
  switch (rng.int(6)) {
    case 5: {
      // a shape and offsets that agree: the file is valid, only what it declares is hostile
      const shape = rng.pick([[0, 300_000_000], [0, 1e15], [1e15, 0], [3, 0, 2, 2], [1, 1, 1, 1, 1, 1, 1, 2], [1, 1], [2, 2, 2, 2, 2]]);
      // a weight (not a mask, which is only read beside its weight)
      const weights = layers.filter((k) => !k.endsWith('_mask'));
      if (weights.length > 0) name = rng.pick(weights);
      const dtype = typeof entry.dtype === 'string' && entry.dtype === 'F64' ? 'F64' : 'F32';
      const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'F64' ? 8 : 4);
      const end = buf.length - 8 - n;
      header[name] = { dtype, shape, data_offsets: [end, end + bytes] };
      const extra = Buffer.alloc(bytes);
      for (let i = 0; i < bytes; i += 4) extra.writeFloatLE(rng.pick([1e38, -1, 0.5, 0, NaN, 3.5]), i);
      const out = withHeader(buf, n, JSON.stringify(header), `consistent shape of ${name} -> [${shape.join(', ')}]`);
      return { bytes: Buffer.concat([out.bytes, extra]), name: out.name };
    }
    case 0: {
      const shape = [...(entry.shape as unknown[])];
      const v = rng.pick<unknown>([0, 1e15, -1, 3e8, 2 ** 31, 2 ** 53, 1.5, '3', null, 4000]);
      shape[rng.int(Math.max(1, shape.length))] = v;
      entry.shape = shape;
      what = `shape of ${name} -> [${shape.join(', ')}]`;
      break;
    }
    case 1:
      entry.shape = rng.pick([[], [0, 300_000_000], [1, 1, 1, 1, 1, 1, 1, 1], [0], [2 ** 26, 2 ** 26]]);
      what = `shape of ${name} -> ${JSON.stringify(entry.shape)}`;
      break;
    case 2:
      entry.dtype = rng.pick(['__proto__', 'constructor', 'F64', 'F16', 'BF16', 'I64', 'BOOL', 'U8', 'F8_E4M3', '', 'f32']);
      what = `dtype of ${name} -> ${String(entry.dtype)}`;
      break;
    case 3: {
      const offsets = [...(entry.data_offsets as number[])];
      offsets[rng.int(2)] += rng.pick([-4, 4, 1, -1, 2 ** 32, 1e15]);
      entry.data_offsets = offsets;
      what = `data_offsets of ${name} -> [${offsets.join(', ')}]`;
      break;
    }
    default:
      text = JSON.stringify(header);
      text = `${text.slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(entry)}}`;
      return withHeader(buf, n, text, `duplicate key ${name}`);
  }
  return withHeader(buf, n, JSON.stringify(header), what);
}

function withHeader(buf: Buffer, oldLength: number, text: string, name: string): { bytes: Uint8Array; name: string } {
  const h = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return { bytes: Buffer.concat([len, h, buf.subarray(8 + oldLength)]), name };
}

function onnxSeed(dir: string, rng: Rng): string {
  const f = onnx.TensorProto.DataType.FLOAT;
  const raw = (xs: Float32Array) => new Uint8Array(xs.buffer.slice(0));
  const model = onnx.ModelProto.create({
    irVersion: 7,
    graph: onnx.GraphProto.create({
      name: 'g',
      node: [
        onnx.NodeProto.create({ opType: 'Conv', input: ['x', 'conv.weight'], output: ['c'] }),
        onnx.NodeProto.create({ opType: 'Gemm', input: ['c', 'fc1.weight'], output: ['h'], attribute: [onnx.AttributeProto.create({ name: 'transB', i: 1, type: onnx.AttributeProto.AttributeType.INT })] }),
        onnx.NodeProto.create({ opType: 'MatMul', input: ['h', 'fc2.weight'], output: ['y'] }),
      ],
      initializer: [
        onnx.TensorProto.create({ name: 'conv.weight', dims: [3, 2, 2, 2], dataType: f, rawData: raw(values(24, rng)) }),
        onnx.TensorProto.create({ name: 'fc1.weight', dims: [5, 6], dataType: f, floatData: Array.from(values(30, rng)) }),
        onnx.TensorProto.create({ name: 'fc2.weight', dims: [5, 4], dataType: onnx.TensorProto.DataType.DOUBLE, doubleData: Array.from(values(20, rng)) }),
      ],
    }),
  });
  const path = join(dir, 'model.onnx');
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
  return path;
}

function mutateOnnx(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; name: string } | null {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return null;
  }
  const inits = (model.graph?.initializer ?? []) as Array<InstanceType<typeof onnx.TensorProto>>;
  if (inits.length === 0) return null;
  const t = rng.pick(inits);
  let what: string;
  switch (rng.int(5)) {
    case 4: {
      // dims that hold nothing, with no data: consistent, and hostile
      t.dims = rng.pick([[1e15, 0], [4e9, 0], [0, 3e8], [3, 0, 2, 2]]);
      if (t.dims.length === 2 && t.name.startsWith('conv')) t.dims = [...t.dims, 1, 1];
      t.rawData = new Uint8Array(0);
      t.floatData = [];
      t.doubleData = [];
      what = `dims of ${t.name} -> [${t.dims.join(', ')}], no data`;
      break;
    }
    case 0: {
      const dims = t.dims.map((d) => Number(d));
      dims[rng.int(Math.max(1, dims.length))] = rng.pick([0, -1, 1e15, 4e9, 2 ** 31, 1000, 7]);
      t.dims = dims;
      what = `dims of ${t.name} -> [${dims.join(', ')}]`;
      break;
    }
    case 1:
      t.dims = rng.pick([[1e15, 0], [4e9, 0], [1, 1, 1, 1, 1, 1, 1, 2], [-3, -2], [2]]);
      what = `dims of ${t.name} -> [${t.dims.join(', ')}]`;
      break;
    case 2:
      t.dataType = rng.pick([0, 1, 2, 7, 10, 11, 16, 999]);
      what = `dataType of ${t.name} -> ${t.dataType}`;
      break;
    default:
      t.rawData = new Uint8Array(rng.pick([0, 3, 8, 1000]));
      what = `raw_data of ${t.name} -> ${t.rawData.length} bytes`;
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), name: what };
}

const IDX_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

function idxSeed(dir: string, rng: Rng, gzip: boolean): string[] {
  const idx = (dims: number[], data: Uint8Array) => {
    const h = Buffer.alloc(4 + 4 * dims.length);
    h.writeUInt32BE((0x08 << 8) | dims.length, 0);
    dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([h, data]);
  };
  const [train, test, H, W] = [6, 4, 5, 4];
  const files = [
    idx([train, H, W], Uint8Array.from({ length: train * H * W }, () => rng.int(256))),
    idx([train], Uint8Array.from({ length: train }, (_, i) => i % 10)),
    idx([test, H, W], Uint8Array.from({ length: test * H * W }, () => rng.int(256))),
    idx([test], Uint8Array.from({ length: test }, (_, i) => (i + 3) % 10)),
  ];
  return IDX_FILES.map((name, i) => {
    const path = join(dir, gzip ? `${name}.gz` : name);
    writeFileSync(path, gzip ? gzipSync(files[i]) : files[i]);
    return path;
  });
}

function mutateIdxHeader(bytes: Uint8Array, rng: Rng, gzip: boolean): { bytes: Uint8Array; name: string } | null {
  let plain: Buffer;
  try {
    plain = gzip ? gunzipSync(bytes) : Buffer.from(bytes);
  } catch {
    return null;
  }
  if (plain.length < 8) return null;
  const ndims = plain[3];
  const d = rng.int(Math.max(1, ndims));
  if (8 + 4 * d > plain.length) return null;
  const v = rng.pick([0, 1, 0xffffffff, 60000, 4_000_000, 2 ** 31]);
  plain.writeUInt32BE(v, 4 + 4 * d);
  let out: Buffer = plain;
  let name = `IDX dim ${d} -> ${v}`;
  if (rng.int(3) === 0) {
    // a bomb: the data followed by a long run of zeros
    out = Buffer.concat([plain, Buffer.alloc(8 * 2 ** 20)]);
    name += ' + 8 MiB of zeros';
  }
  return { bytes: gzip ? gzipSync(out) : out, name };
}

const CIFAR_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
const CIFAR_BATCH_BYTES = 10000 * 3073;

/** Six batch files of the right size, sparse (all zeros: label 0, black images), so free to make. */
function cifarSeed(dir: string): string[] {
  return CIFAR_FILES.map((name) => {
    const path = join(dir, name);
    writeFileSync(path, '');
    truncateSync(path, CIFAR_BATCH_BYTES);
    return path;
  });
}

/** Mutates a batch file in place (it is too large to rewrite whole): bytes set, or its size changed. */
function mutateCifar(path: string, rng: Rng): string {
  const r = rng.int(3);
  if (r === 0) {
    const size = rng.pick([0, 1, CIFAR_BATCH_BYTES - 1, CIFAR_BATCH_BYTES + 1, 3073, rng.int(CIFAR_BATCH_BYTES)]);
    truncateSync(path, size);
    return `truncate to ${size}`;
  }
  const n = 1 + rng.int(16);
  const b = readFileSync(path);
  for (let i = 0; i < n; i++) {
    // labels are at multiples of 3073: hit them half of the time
    const at = rng.int(2) ? rng.int(10000) * 3073 : rng.int(b.length);
    b[at] = rng.pick([10, 11, 255, 0, 9, rng.int(256)]);
  }
  writeFileSync(path, b);
  return `set ${n} bytes`;
}

function imageSeed(dir: string, rng: Rng, format: 'png' | 'jpeg'): string[] {
  const files: string[] = [];
  const [W, H] = [6, 5];
  for (const part of ['train', 'test']) {
    for (const cls of ['cat', 'dog']) {
      const folder = join(dir, 'images', part, cls);
      mkdirSync(folder, { recursive: true });
      for (let k = 0; k < (part === 'train' ? 2 : 1); k++) {
        const rgba = Buffer.from(Array.from({ length: W * H * 4 }, (_, i) => (i % 4 === 3 ? 255 : rng.int(256))));
        let bytes: Buffer;
        if (format === 'png') {
          const png = new PNG({ width: W, height: H });
          rgba.copy(png.data);
          bytes = PNG.sync.write(png);
        } else {
          bytes = jpeg.encode({ width: W, height: H, data: rgba }, 90).data;
        }
        const path = join(folder, `${k}.${format === 'png' ? 'png' : 'jpg'}`);
        writeFileSync(path, bytes);
        files.push(path);
      }
    }
  }
  return files;
}


/** Sets a PNG's IHDR width/height (fixing the chunk's CRC) or a JPEG's SOF height/width. */
function mutateImageSize(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; name: string } | null {
  const b = Buffer.from(bytes);
  const w = rng.pick([0, 1, 7, 4000, 4097, 20000, 65535, 2 ** 31 - 1]);
  const h = rng.pick([0, 1, 5, 4000, 4097, 20000, 65535, 2 ** 31 - 1]);
  if (b.length > 33 && b.toString('latin1', 12, 16) === 'IHDR') {
    b.writeUInt32BE(w >>> 0, 16);
    b.writeUInt32BE(h >>> 0, 20);
    b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
    return { bytes: b, name: `PNG IHDR ${w}x${h}` };
  }
  for (let i = 2; i + 9 < b.length; i++) {
    if (b[i] === 0xff && (b[i + 1] === 0xc0 || b[i + 1] === 0xc2)) {
      b.writeUInt16BE(h & 0xffff, i + 5);
      b.writeUInt16BE(w & 0xffff, i + 7);
      return { bytes: b, name: `JPEG SOF ${w & 0xffff}x${h & 0xffff}` };
    }
  }
  return null;
}

const RUN_CONFIG = {
  preset: 'lenet-mnist',
  seed: 3,
  training: { iterations: 200, lr: 0.001, batchSize: 60 },
  pruning: { algorithm: 'imp', maxLevels: 4 },
  evaluation: { noiseSigmas: [0.1, 0.3] },
};

function configSeed(dir: string, format: 'yaml' | 'json'): { sweep: string; config: string } {
  const config = join(dir, `run.${format}`);
  const c = RUN_CONFIG;
  writeFileSync(
    config,
    format === 'json'
      ? `${JSON.stringify(c, null, 2)}\n`
      : `preset: ${c.preset}\nseed: ${c.seed}\ntraining:\n  iterations: ${c.training.iterations}\n  lr: ${c.training.lr}\n  batchSize: ${c.training.batchSize}\npruning:\n  algorithm: ${c.pruning.algorithm}\n  maxLevels: ${c.pruning.maxLevels}\nevaluation:\n  noiseSigmas: [0.1, 0.3]\n`,
  );
  const sweep = join(dir, 'sweep.yaml');
  writeFileSync(sweep, `base: ${basename(config)}\nseeds: [0]\n`);
  return { sweep, config };
}

const CONFIG_VALUES = ['.inf', '-.inf', '.nan', '1e308', '-1', '0', '1e15', '1000000000', 'null', '"__proto__"', '[]', '{}', 'true', '"x"', '0.5', '-0'];
const CONFIG_KEYS = ['__proto__', 'constructor', 'prototype', 'trainig', 'seed', 'iterations', ''];

function mutateConfig(bytes: Uint8Array, rng: Rng, format: 'yaml' | 'json'): { bytes: Uint8Array; name: string } {
  const text = Buffer.from(bytes).toString('utf8');
  const lines = text.split('\n');
  switch (rng.int(5)) {
    case 0: {
      // replace a number
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?(e-?\d+)?/g)];
      if (numbers.length === 0) break;
      const m = rng.pick(numbers);
      const v = rng.pick(CONFIG_VALUES);
      return { bytes: Buffer.from(text.slice(0, m.index) + v + text.slice(m.index! + m[0].length)), name: `number ${m[0]} -> ${v}` };
    }
    case 1: {
      // rename a key
      const keys = [...text.matchAll(/"?([A-Za-z_]+)"?\s*:/g)];
      if (keys.length === 0) break;
      const m = rng.pick(keys);
      const k = rng.pick(CONFIG_KEYS);
      const replacement = format === 'json' ? `"${k}":` : `${k === '' ? '""' : k}:`;
      return { bytes: Buffer.from(text.slice(0, m.index) + replacement + text.slice(m.index! + m[0].length)), name: `key ${m[1]} -> ${k}` };
    }
    case 2: {
      // duplicate or delete a line
      const i = rng.int(lines.length);
      const copy = [...lines];
      if (rng.int(2)) copy.splice(i, 0, lines[i]);
      else copy.splice(i, 1);
      return { bytes: Buffer.from(copy.join('\n')), name: `line ${i} duplicated or deleted` };
    }
    case 3: {
      // a trailing comma (JSON) or a top-level __proto__ key
      if (format === 'json') return { bytes: Buffer.from(text.replace(/\n}\s*$/, ',\n}\n')), name: 'trailing comma' };
      return { bytes: Buffer.from(`${text}__proto__:\n  polluted: 1\n`), name: 'top-level __proto__' };
    }
    default:
      break;
  }
  return mutateBytes(bytes, rng);
}

// ---- one case -------------------------------------------------------------------------------

interface Prepared {
  kind: Kind;
  mutation: string;
  file: string;
  /** files and folders a message may name */
  names: string[];
  args: string[];
  inputBytes: number;
}

function sizeOf(paths: string[]): number {
  let total = 0;
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else total += st.size;
  };
  for (const p of paths) if (existsSync(p)) walk(p);
  return total;
}

/** Builds the seed input of `kind` in `dir`, mutates one file and returns the command line. */
export function prepareCase(kind: Kind, dir: string, rng: Rng): Prepared {
  const mutateFile = (path: string, specific: ((b: Uint8Array) => { bytes: Uint8Array; name: string } | null) | null): string => {
    const original = readFileSync(path);
    // format-aware mutations three times in four: they reach the checks behind a valid header
    const m = (specific && rng.int(4) !== 0 ? specific(original) : null) ?? mutateBytes(original, rng);
    writeFileSync(path, m.bytes);
    return m.name;
  };
  switch (kind) {
    case 'safetensors': {
      const { model, mask } = safetensorsSeeds(dir, rng);
      const useMask = rng.int(3) === 0;
      const file = useMask && rng.int(2) ? mask : model;
      const mutation = mutateFile(file, (b) => mutateSafetensorsHeader(b, rng));
      const args = ['analyze', model, ...(useMask ? ['--mask', mask] : [])];
      return { kind, mutation, file, names: [model, mask], args, inputBytes: sizeOf(useMask ? [model, mask] : [model]) };
    }
    case 'onnx': {
      const model = onnxSeed(dir, rng);
      const mutation = mutateFile(model, (b) => mutateOnnx(b, rng));
      return { kind, mutation, file: model, names: [model], args: ['analyze', model], inputBytes: sizeOf([model]) };
    }
    case 'idx':
    case 'idx-gz': {
      const gzip = kind === 'idx-gz';
      const data = join(dir, 'mnist');
      mkdirSync(data);
      const files = idxSeed(data, rng, gzip);
      const file = rng.pick(files);
      const mutation = mutateFile(file, (b) => mutateIdxHeader(b, rng, gzip));
      return { kind, mutation, file, names: [data, ...files], args: ['data', 'info', `mnist:${data}`], inputBytes: sizeOf([data]) };
    }
    case 'cifar': {
      const data = join(dir, 'cifar');
      mkdirSync(data);
      const files = cifarSeed(data);
      const file = rng.pick(files);
      const mutation = mutateCifar(file, rng);
      return { kind, mutation, file, names: [data, ...files], args: ['data', 'info', `cifar10:${data}`], inputBytes: sizeOf([data]) };
    }
    case 'png':
    case 'jpeg': {
      const files = imageSeed(dir, rng, kind);
      const file = rng.pick(files);
      const mutation = mutateFile(file, (b) => mutateImageSize(b, rng));
      const root = join(dir, 'images');
      return { kind, mutation, file, names: [root, ...files], args: ['data', 'info', `folder:${root}`, '--cache-dir', join(dir, 'cache')], inputBytes: sizeOf([root]) };
    }
    case 'yaml':
    case 'json': {
      const { sweep, config } = configSeed(dir, kind);
      const mutation = mutateFile(config, (b) => mutateConfig(b, rng, kind));
      return { kind, mutation, file: config, names: [sweep, config], args: ['sweep', sweep, '--dry-run', '--workspace', join(dir, 'ws')], inputBytes: sizeOf([sweep, config]) };
    }
  }
}

const CHILD = join(fileURLToPath(new URL('.', import.meta.url)), 'child.js');

/** Resident memory of a live process in bytes from /proc (null where there is no /proc). */
function currentRss(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Checks a finished case; returns the problems found. */
export function judge(p: Prepared, r: { exitCode: number | null; signal: string | null; stderr: string; wallMs: number; maxRssBytes: number | null }, bounds: { memory: number; wallMs: number }, killedFor: string | null): string[] {
  const problems: string[] = [];
  if (killedFor) problems.push(killedFor);
  else if (r.signal) problems.push(`killed by ${r.signal}`);
  if (r.exitCode !== null && r.exitCode !== 0) {
    const lines = r.stderr.trimEnd().split('\n');
    // A config with several bad fields is reported one field per line (docs/experiments.md);
    // every other input gets one line.
    const config = p.kind === 'yaml' || p.kind === 'json';
    if (lines.length !== 1 && !(config && lines.length <= 20)) problems.push(`stderr has ${lines.length} lines`);
    if (!lines[0].startsWith('ramanujan: ')) problems.push('the message does not start with "ramanujan: "');
    if (/internal error/i.test(r.stderr)) problems.push('internal error');
    if (/\n\s+at |\bat .*\.[cm]?js:\d+/.test(r.stderr)) problems.push('stack trace');
    if (!p.names.some((n) => r.stderr.includes(n) || r.stderr.includes(basename(n)))) problems.push('the message names none of the input files');
  }
  if (r.maxRssBytes !== null && r.maxRssBytes > bounds.memory) problems.push(`peak memory ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB over the bound ${(bounds.memory / 2 ** 20).toFixed(0)} MiB`);
  if (r.wallMs > bounds.wallMs && !killedFor) problems.push(`took ${r.wallMs} ms, over the bound ${bounds.wallMs} ms`);
  return problems;
}

function runChild(args: string[], report: string, bounds: { memory: number; wallMs: number }): Promise<{ exitCode: number | null; signal: string | null; stderr: string; wallMs: number; killedFor: string | null }> {
  return new Promise((resolve) => {
    const started = Date.now();
    // An empty data folder: a dataset named without a PATH is found only where the loader looks
    // besides it (a named data folder must exist, src/data/index.ts).
    const noData = join(report, '..', 'no-data');
    mkdirSync(noData, { recursive: true });
    const child = spawn(process.execPath, [CHILD, report, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RAMANUJAN_DATA_DIR: noData } });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 100_000) stderr += s;
    });
    let killedFor: string | null = null;
    const watch = setInterval(() => {
      const rss = child.pid === undefined ? null : currentRss(child.pid);
      if (rss !== null && rss > bounds.memory) {
        killedFor = `resident memory ${(rss / 2 ** 20).toFixed(0)} MiB passed the bound ${(bounds.memory / 2 ** 20).toFixed(0)} MiB (killed)`;
        child.kill('SIGKILL');
      } else if (Date.now() - started > bounds.wallMs) {
        killedFor = `still running after ${bounds.wallMs} ms (killed)`;
        child.kill('SIGKILL');
      }
    }, 50);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      resolve({ exitCode: code, signal, stderr, wallMs: Date.now() - started, killedFor });
    });
  });
}

export async function runCase(index: number, opts: FuzzOptions, root: string): Promise<CaseResult> {
  const kinds = opts.kinds ?? KINDS;
  const kind = kinds[index % kinds.length];
  const rng = new Rng(opts.seed, index);
  const dir = join(root, `case-${index}-${kind}`);
  mkdirSync(dir, { recursive: true });
  const p = prepareCase(kind, dir, rng);
  const bounds = { memory: MEMORY_BASE_BYTES + MEMORY_PER_INPUT_BYTE * p.inputBytes, wallMs: (opts.caseSeconds ?? 60) * 1000 };
  const report = join(dir, 'maxrss.txt');
  const r = await runChild(p.args, report, bounds);
  let maxRssBytes: number | null = null;
  try {
    maxRssBytes = Number(readFileSync(report, 'utf8')) * 1024;
  } catch {
    // killed, or aborted before it could write
  }
  const problems = judge(p, { ...r, maxRssBytes }, bounds, r.killedFor);
  const result: CaseResult = {
    index,
    kind,
    mutation: p.mutation,
    file: p.file,
    args: p.args,
    inputBytes: p.inputBytes,
    exitCode: r.exitCode,
    signal: r.signal,
    stderr: r.stderr.length > 2000 ? `${r.stderr.slice(0, 2000)}...` : r.stderr,
    wallMs: r.wallMs,
    maxRssBytes,
    memoryBoundBytes: bounds.memory,
    problems,
  };
  return result;
}

/** Runs cases 0, 1, 2, ... (or only `opts.only`) until the time or case budget is spent. */
export async function runFuzz(opts: FuzzOptions): Promise<CaseResult[]> {
  if (opts.seconds === undefined && opts.cases === undefined && opts.only === undefined) throw new Error('runFuzz: give seconds, cases or only');
  const root = mkdtempSync(join(tmpdir(), 'rlth-fuzz-'));
  const results: CaseResult[] = [];
  const deadline = opts.seconds === undefined ? Infinity : Date.now() + opts.seconds * 1000;
  let next = opts.only ?? 0;
  const last = opts.only !== undefined ? opts.only + 1 : (opts.cases ?? Infinity);
  const worker = async () => {
    while (next < last && Date.now() < deadline) {
      const index = next++;
      const r = await runCase(index, opts, root);
      results.push(r);
      opts.onCase?.(r);
      const dir = join(root, `case-${index}-${r.kind}`);
      if (r.problems.length > 0 && opts.keepFailures) {
        mkdirSync(opts.keepFailures, { recursive: true });
        // keep the (small) input: the CIFAR batches are sparse and not worth copying
        rmSync(join(opts.keepFailures, basename(dir)), { recursive: true, force: true });
        if (r.kind !== 'cifar') copyTree(dir, join(opts.keepFailures, basename(dir)));
      }
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, worker));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return results.sort((a, b) => a.index - b.index);
}

function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) copyTree(join(from, e.name), join(to, e.name));
    else writeFileSync(join(to, e.name), readFileSync(join(from, e.name)));
  }
}
