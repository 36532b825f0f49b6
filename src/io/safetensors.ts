/**
 * safetensors reading and writing (the format of Hugging Face's `safetensors`; used for model
 * files, masks and the lottery checkpoints).
 *
 * File layout:
 *   [8 bytes]  N, little-endian u64: length of the JSON header
 *   [N bytes]  JSON header: { "__metadata__"?: {string: string},
 *                             "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] } }
 *   [rest]     the byte buffer; offsets are relative to its start, little-endian, row-major.
 *
 * Written by hand: the format is a dozen lines of JSON and byte offsets, and the npm packages for
 * it either target browsers/Hugging Face hub access or do not validate offsets; the validation
 * below (every way a file can be broken gives one UserError naming the file and the problem) is
 * the part that matters here.
 *
 * Reading widens to Float32 (F32, F16, BF16, small integers, BOOL) or Float64 (F64, I32, U32, I64,
 * U64: values beyond 2^53 lose precision). Writing stores Float32Array as F32, Float64Array as F64,
 * atomically (temporary file in the same folder, fsync, rename), so a crash never leaves a
 * half-written file under the final name.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { cannotRead, checkRegularFile } from './reading.js';
import { fileError, type UserError } from '../errors.js';

export interface SafetensorsTensor {
  /** the dtype as stored in the file, e.g. "F32", "BF16" */
  dtype: string;
  shape: number[];
  data: Float32Array | Float64Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** A tensor as the header describes it: `begin` and `end` are byte offsets into the data buffer. */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Bytes per element of every dtype this reader understands; the value type it widens to. A Map,
 * not an object literal: a dtype read from the file such as "__proto__" or "constructor" must not
 * find an inherited property.
 */
const DTYPES = new Map<string, { bytes: number; wide: 'f32' | 'f64' }>([
  ['F64', { bytes: 8, wide: 'f64' }],
  ['F32', { bytes: 4, wide: 'f32' }],
  ['F16', { bytes: 2, wide: 'f32' }],
  ['BF16', { bytes: 2, wide: 'f32' }],
  ['I64', { bytes: 8, wide: 'f64' }],
  ['U64', { bytes: 8, wide: 'f64' }],
  ['I32', { bytes: 4, wide: 'f64' }],
  ['U32', { bytes: 4, wide: 'f64' }],
  ['I16', { bytes: 2, wide: 'f32' }],
  ['U16', { bytes: 2, wide: 'f32' }],
  ['I8', { bytes: 1, wide: 'f32' }],
  ['U8', { bytes: 1, wide: 'f32' }],
  ['BOOL', { bytes: 1, wide: 'f32' }],
]);

/** Largest header accepted (the reference implementation's limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads a whole safetensors file, validating its header and offsets. */
export function readSafetensors(path: string): SafetensorsFile {
  checkRegularFile(path, 'a safetensors file');
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
  return parseSafetensors(bytes, path);
}

/** Parses safetensors bytes; `path` only names the source in error messages. */
export function parseSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, path);
  const dataStart = 8 + n;
  const { entries, metadata } = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, path);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(raw, e.dtype) });
  }
  return { tensors, metadata };
}

/** "not a valid safetensors file: <problem>", naming the file. */
function invalid(path: string, problem: string): UserError {
  return fileError(path, `not a valid safetensors file: ${problem}`);
}

/** N, the header's length, from the file's first 8 bytes (`lengthField`), checked against a file of `size` bytes. */
function headerLength(lengthField: Uint8Array, size: number, path: string): number {
  if (size < 8) throw invalid(path, `the file is ${size} bytes long, shorter than the 8-byte header length (truncated?)`);
  const n = new DataView(lengthField.buffer, lengthField.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(size - 8)) {
    throw invalid(path, `the header length ${n} runs past the end of the file (${size - 8} bytes after the length field; truncated?)`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) throw invalid(path, `the header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  return Number(n);
}

/**
 * Validates the JSON header (`headerBytes`, the N bytes after the length field) against a data
 * buffer of `dataLength` bytes: every entry's dtype, shape and offsets, and no two tensors
 * overlapping. Returns the entries in the header's order.
 */
function parseHeader(headerBytes: Uint8Array, dataLength: number, path: string): { entries: SafetensorsEntry[]; metadata: Record<string, string> } {
  const fail = (problem: string) => invalid(path, problem);
  const headerText = Buffer.from(headerBytes.buffer, headerBytes.byteOffset, headerBytes.byteLength).toString('utf8');
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (err) {
    throw fail(`the header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('the header is not a JSON object');
  // JSON.parse keeps the last of two equal keys; the reference reader refuses such a header, and
  // so do we (a second "w" or a second "shape" would silently replace the first).
  const duplicate = duplicateJsonKey(headerText);
  if (duplicate !== null) throw fail(`the header holds the key ${JSON.stringify(duplicate)} twice in one object`);

  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('"__metadata__" is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        // assigning "__proto__" on a plain object would drop the entry (or change its prototype)
        if (k === '__proto__') throw fail(`metadata key "${k}" is not allowed`);
        if (typeof v !== 'string') throw fail(`metadata "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null) throw fail(`tensor "${name}": entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string') throw fail(`tensor "${name}": missing dtype`);
    const info = DTYPES.get(dtype);
    if (!info) {
      throw fileError(path, `tensor "${name}": dtype ${dtype} is not supported (supported: ${[...DTYPES.keys()].join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`tensor "${name}": shape must be an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw fail(`tensor "${name}": data_offsets must be two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw fail(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) {
      throw fail(`tensor "${name}": data_offsets [${begin}, ${end}] lie outside the ${dataLength}-byte data buffer (truncated?)`);
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (count * info.bytes !== end - begin) {
      throw fail(`tensor "${name}": ${dtype} shape [${(shape as number[]).join(', ')}] needs ${count * info.bytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // Offsets may come in any order in the JSON; sorted by start, each non-empty tensor must start
  // at or after the end of the previous non-empty one.
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end) {
      throw fail(`tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${cur.name}" [${cur.begin}, ${cur.end}] overlap`);
    }
  }
  return { entries, metadata };
}

/**
 * Memory that SafetensorsReader.read reuses from one tensor to the next: one per tensor that must
 * stay valid at the same time (a weight and its mask need two).
 */
export class TensorScratch {
  private buffer: ArrayBuffer;

  /** `bytes`: the most the tensors it will hold need, when known (growing it costs fresh memory). */
  constructor(bytes = 0) {
    this.buffer = new ArrayBuffer(bytes);
  }

  /** `bytes` bytes of this scratch memory (grown when too small; what was there is lost). */
  take(bytes: number): Uint8Array {
    if (this.buffer.byteLength < bytes) this.buffer = new ArrayBuffer(bytes);
    return new Uint8Array(this.buffer, 0, bytes);
  }
}

/**
 * A safetensors file opened for reading one tensor at a time: the header is read and validated
 * (exactly as readSafetensors does) when it is opened, the values of a tensor when asked for.
 * Reading a large model tensor by tensor into reused memory costs the memory of its largest
 * tensor instead of the whole file; on this project's machine touching fresh memory was most of
 * `ramanujan analyze`'s time on an 80 MB model (docs/analysis.md).
 */
export class SafetensorsReader {
  readonly path: string;
  readonly entries: Map<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
  private fd: number | null;
  private readonly dataStart: number;

  private constructor(path: string, fd: number, dataStart: number, entries: SafetensorsEntry[], metadata: Record<string, string>) {
    this.path = path;
    this.fd = fd;
    this.dataStart = dataStart;
    this.entries = new Map(entries.map((e) => [e.name, e]));
    this.metadata = metadata;
  }

  static open(path: string): SafetensorsReader {
    checkRegularFile(path, 'a safetensors file');
    let fd: number;
    let size: number;
    try {
      fd = openSync(path, 'r');
      size = fstatSync(fd).size;
    } catch (err) {
      throw cannotRead(path, err);
    }
    try {
      const lengthField = Buffer.alloc(8);
      if (size >= 8) readFully(fd, lengthField, 0, path);
      const n = headerLength(lengthField, size, path);
      const headerBytes = Buffer.alloc(n);
      readFully(fd, headerBytes, 8, path);
      const { entries, metadata } = parseHeader(headerBytes, size - 8 - n, path);
      return new SafetensorsReader(path, fd, 8 + n, entries, metadata);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * The values of tensor `name`, widened as readSafetensors widens them. With `scratch`, F32 and
   * F64 values are a view into that scratch memory, valid until its next use; without, they are
   * the caller's own.
   */
  read(name: string, scratch?: TensorScratch): Float32Array | Float64Array {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`${this.path}: no tensor "${name}"`);
    if (this.fd === null) throw new Error(`${this.path}: read after close`);
    const length = entry.end - entry.begin;
    const raw = scratch ? scratch.take(length) : new Uint8Array(length);
    readFully(this.fd, raw, this.dataStart + entry.begin, this.path);
    return decode(raw, entry.dtype);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Fills `into` from the file at `position`; a file that ends early (changed since it was opened) is a UserError. */
function readFully(fd: number, into: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < into.length) {
    let got: number;
    try {
      got = readSync(fd, into, done, into.length - done, position + done);
    } catch (err) {
      throw cannotRead(path, err);
    }
    if (got === 0) throw invalid(path, 'it ended early (changed while it was read?)');
    done += got;
  }
}

/**
 * The first key that occurs twice in one object of `text`, which JSON.parse has already accepted
 * (so only strings, nesting and commas need following), or null. Keys are compared decoded, so
 * "w" and "\u0077" are the same key. A dozen lines of scanning; the npm JSON parsers that report
 * duplicates build a whole syntax tree, which a 100 MB header does not need.
 */
export function duplicateJsonKey(text: string): string | null {
  // One entry per open container: the keys seen so far (objects) or null (arrays).
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return null;
}

/**
 * Widens little-endian elements of `dtype` to a Float32Array or Float64Array. F32 and F64 on a
 * little-endian host are views into the bytes read from the file when aligned (files written by
 * the safetensors library pad the header to 8 bytes, so they are): no copy, since copying tens of
 * MB (touching fresh pages) cost more than the whole analysis of a vgg19-sized model; the
 * file's bytes belong to this read alone. Everything else is a fresh copy.
 */
function decode(raw: Uint8Array, dtype: string): Float32Array | Float64Array {
  const info = DTYPES.get(dtype)!;
  const n = raw.length / info.bytes;
  if (littleEndian && raw.byteOffset % info.bytes === 0) {
    if (dtype === 'F32') return new Float32Array(raw.buffer, raw.byteOffset, n);
    if (dtype === 'F64') return new Float64Array(raw.buffer, raw.byteOffset, n);
  }
  // A copy into a fresh ArrayBuffer is aligned, so typed views over it are allowed. (Not
  // raw.slice(): on a Node Buffer that is a view, not a copy.)
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  const aligned = copy.buffer;
  if (littleEndian) {
    switch (dtype) {
      case 'F32':
        return new Float32Array(aligned);
      case 'F64':
        return new Float64Array(aligned);
      case 'F16':
        return halfToFloat32(new Uint16Array(aligned));
      case 'BF16': {
        // bf16 is the top half of an f32: shift into place and reinterpret.
        const src = new Uint16Array(aligned);
        const bits = new Uint32Array(n);
        for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
        return new Float32Array(bits.buffer);
      }
      case 'I64':
        return Float64Array.from(new BigInt64Array(aligned), (v) => Number(v));
      case 'U64':
        return Float64Array.from(new BigUint64Array(aligned), (v) => Number(v));
      case 'I32':
        return Float64Array.from(new Int32Array(aligned));
      case 'U32':
        return Float64Array.from(new Uint32Array(aligned));
      case 'I16':
        return Float32Array.from(new Int16Array(aligned));
      case 'U16':
        return Float32Array.from(new Uint16Array(aligned));
      case 'I8':
        return Float32Array.from(new Int8Array(aligned));
      case 'U8':
        return Float32Array.from(new Uint8Array(aligned));
      case 'BOOL':
        return Float32Array.from(new Uint8Array(aligned), (v) => (v !== 0 ? 1 : 0));
    }
  }
  // Big-endian host: element by element through a DataView.
  const dv = new DataView(aligned);
  const out = info.wide === 'f64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * info.bytes;
    switch (dtype) {
      case 'F32': out[i] = dv.getFloat32(o, true); break;
      case 'F64': out[i] = dv.getFloat64(o, true); break;
      case 'F16': out[i] = halfBitsToNumber(dv.getUint16(o, true)); break;
      case 'BF16': out[i] = new Float32Array(new Uint32Array([dv.getUint16(o, true) << 16]).buffer)[0]; break;
      case 'I64': out[i] = Number(dv.getBigInt64(o, true)); break;
      case 'U64': out[i] = Number(dv.getBigUint64(o, true)); break;
      case 'I32': out[i] = dv.getInt32(o, true); break;
      case 'U32': out[i] = dv.getUint32(o, true); break;
      case 'I16': out[i] = dv.getInt16(o, true); break;
      case 'U16': out[i] = dv.getUint16(o, true); break;
      case 'I8': out[i] = dv.getInt8(o); break;
      case 'U8': out[i] = dv.getUint8(o); break;
      case 'BOOL': out[i] = dv.getUint8(o) !== 0 ? 1 : 0; break;
    }
  }
  return out;
}

/** IEEE 754 binary16 bits -> number (exact: every half is representable in f32). */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function halfToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = halfBitsToNumber(src[i]);
  return out;
}

/**
 * Writes tensors (F32 for Float32Array, F64 for Float64Array) and string metadata, atomically:
 * everything goes to a temporary file in the target folder, which is fsynced and then renamed
 * over `path`.
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, { shape: number[]; data: Float32Array | Float64Array }>,
  metadata?: Record<string, string>,
): void {
  // Model readers tell the format by the extension (io/model.ts): safetensors written under an
  // .onnx name would later be read as a broken ONNX file.
  if (extname(path).toLowerCase() === '.onnx') {
    throw fileError(path, 'is named .onnx but safetensors would be written into it; name the file .safetensors');
  }
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw fileError(path, `metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const order: Array<Float32Array | Float64Array> = [];
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || name.length === 0) throw fileError(path, `"${name}" cannot be a tensor name`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== t.data.length) {
      throw fileError(path, `tensor "${name}": shape [${t.shape.join(', ')}] does not match its ${t.data.length} values`);
    }
    const dtype = t.data instanceof Float64Array ? 'F64' : 'F32';
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
    order.push(t.data);
  }
  // Pad the header with spaces to a multiple of 8 bytes, so that the data buffer starts aligned
  // (as the reference writer does).
  let headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) headerBytes = Buffer.concat([headerBytes, Buffer.alloc(padded - headerBytes.length, 0x20)]);
  const lengthField = Buffer.alloc(8);
  lengthField.writeBigUInt64LE(BigInt(headerBytes.length));

  try {
    writeFileAtomic(path, [lengthField, headerBytes, ...order.map(toLittleEndianBytes)]);
  } catch (err) {
    throw fileError(path, `cannot write the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function toLittleEndianBytes(data: Float32Array | Float64Array): Uint8Array {
  if (littleEndian) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  const f64 = data instanceof Float64Array;
  for (let i = 0; i < data.length; i++) {
    if (f64) dv.setFloat64(i * 8, data[i], true);
    else dv.setFloat32(i * 4, data[i], true);
  }
  return out;
}
