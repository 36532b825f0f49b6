/**
 * IDX files (the format of MNIST and Fashion-MNIST), plain or gzipped.
 *
 * Layout: a 4-byte magic number [0, 0, type, ndims] (type 0x08 = unsigned byte), then ndims
 * big-endian uint32 sizes, then the data. Images are idx3 [N, H, W], labels idx1 [N].
 * Hand-written because it is 30 lines and the npm IDX readers do not check truncation or
 * trailing bytes, which we must report rather than silently load a shortened dataset.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { fileError, UserError } from '../errors.js';
import { MAX_SPLIT_BYTES, type Split } from './types.js';

const UNSIGNED_BYTE = 0x08;

export interface IdxArray {
  /** sizes from the header, e.g. [60000, 28, 28] */
  dims: number[];
  /** the payload, exactly product(dims) bytes */
  data: Uint8Array;
}

function readRaw(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw fileError(file, `cannot be read (${(err as Error).message})`);
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Inflates gzip bytes, stopping with an error once the output would pass `maxOutputLength`
 * (zlib's own bound, so a bomb is never inflated past it).
 */
function gunzipBounded(bytes: Uint8Array, file: string, maxOutputLength?: number, tooLarge?: () => string): Uint8Array {
  try {
    return gunzipSync(bytes, maxOutputLength === undefined ? {} : { maxOutputLength });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw fileError(file, tooLarge ? tooLarge() : `inflates to more than ${maxOutputLength} bytes`);
    }
    throw fileError(file, `is not a valid gzip file (${(err as Error).message})`);
  }
}

/**
 * Compressed prefixes inflated, in turn, to find a gzipped IDX header: 256 bytes hold the gzip
 * and deflate headers of any ordinary file (a long file name stored in the gzip header may need
 * the next). Each inflates to at most about 1,032 times its size, so the usual probe allocates
 * about 260 KB, not the 16 MB a 16 KB prefix of a bomb gives.
 */
const HEADER_PROBES = [256, 4096, 16384];

/**
 * Reads an IDX file of `ndims` dimensions, plain or gzipped. A gzipped file is inflated in two
 * steps: first a short prefix, for the header; then the whole file with zlib's maxOutputLength
 * set to the size that header promises, so a file that inflates to more (a gzip bomb: 1 MB
 * that inflates to 1 GB) is stopped at the promised size. A header promising more than
 * MAX_SPLIT_BYTES is refused before anything is inflated.
 */
export function readIdxFile(file: string, ndims: 1 | 3): IdxArray {
  const bytes = readRaw(file);
  if (!isGzip(bytes)) return parseIdx(bytes, file, ndims);
  const headerBytes = 4 + 4 * ndims;
  let prefix: Uint8Array = new Uint8Array(0);
  for (const probe of HEADER_PROBES) {
    try {
      prefix = gunzipSync(bytes.subarray(0, probe), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (err) {
      throw fileError(file, `is not a valid gzip file (${(err as Error).message})`);
    }
    if (prefix.length >= headerBytes || probe >= bytes.length) break;
  }
  if (prefix.length < headerBytes) {
    // a prefix this short means the whole file is; parseIdx names the fault
    return parseIdx(gunzipBounded(bytes, file, headerBytes), file, ndims);
  }
  const { dims, payload } = idxHeader(prefix, file, ndims);
  const total = headerBytes + payload;
  const inflated = gunzipBounded(bytes, file, total, () => `inflates to more than the ${total} bytes its IDX header promises (${dims.join(' x ')} after a ${headerBytes}-byte header)`);
  return parseIdx(inflated, file, ndims);
}

/** The sizes in an IDX header (magic number checked) and the data bytes they promise. */
function idxHeader(bytes: Uint8Array, file: string, ndims: 1 | 3): { dims: number[]; payload: number } {
  const expectedMagic = (UNSIGNED_BYTE << 8) | ndims;
  const hex = (n: number) => '0x' + (n >>> 0).toString(16).padStart(8, '0');
  if (bytes.length < 4) throw fileError(file, `is truncated: ${bytes.length} bytes, too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectedMagic) {
    const what = ndims === 3 ? 'an IDX image file (unsigned bytes, 3 dimensions)' : 'an IDX label file (unsigned bytes, 1 dimension)';
    throw fileError(file, `wrong magic number ${hex(magic)}; ${what} starts with ${hex(expectedMagic)}`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw fileError(file, `is truncated: ${bytes.length} bytes, the header alone needs ${headerBytes}`);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const payload = dims.reduce((a, b) => a * b, 1);
  if (payload > MAX_SPLIT_BYTES) {
    throw fileError(file, `its IDX header promises ${dims.join(' x ')} = ${payload} data bytes, more than the ${MAX_SPLIT_BYTES} bytes a dataset file may hold`);
  }
  return { dims, payload };
}

/** Parses an IDX array of unsigned bytes with `ndims` dimensions; `file` names it in errors. */
export function parseIdx(bytes: Uint8Array, file: string, ndims: 1 | 3): IdxArray {
  const headerBytes = 4 + 4 * ndims;
  const { dims, payload } = idxHeader(bytes, file, ndims);
  const found = bytes.length - headerBytes;
  if (found < payload) {
    throw fileError(file, `is truncated: the header promises ${dims.join(' x ')} = ${payload} data bytes but the file holds ${found}`);
  }
  if (found > payload) {
    throw fileError(file, `has ${found - payload} bytes more than the ${payload} data bytes its header promises (${dims.join(' x ')})`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/**
 * One split from an image file and a label file. Checks that the counts agree and every label
 * is below `classes`. Returns the split and its image shape [1, H, W].
 */
export function loadIdxSplit(imagesFile: string, labelsFile: string, classes: number): { split: Split; shape: [number, number, number] } {
  const images = readIdxFile(imagesFile, 3);
  const [count, H, W] = images.dims;
  if (count === 0) throw fileError(imagesFile, 'holds no images; a dataset split needs at least one');
  if (H === 0 || W === 0) throw fileError(imagesFile, `images of ${H}x${W} pixels; an image needs at least one`);
  const labels = readIdxFile(labelsFile, 1);
  if (labels.dims[0] !== count) {
    throw new UserError(`${imagesFile} holds ${count} images but ${labelsFile} holds ${labels.dims[0]} labels; they must match`);
  }
  checkLabels(labels.data, classes, labelsFile);
  return { split: { count, images: images.data, labels: labels.data }, shape: [1, H, W] };
}

/** Throws naming `file` if any label is >= classes. */
export function checkLabels(labels: Uint8Array, classes: number, file: string, recordName = 'index'): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw fileError(file, `label ${labels[i]} at ${recordName} ${i} is out of range (expected 0..${classes - 1})`);
    }
  }
}

/** The four files of an MNIST-style folder. */
export interface IdxFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

const IDX_STEMS: Record<keyof IdxFiles, string[]> = {
  trainImages: ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'],
  trainLabels: ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'],
  testImages: ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'],
  testLabels: ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'],
};

/** The usual file names, for messages. */
export const IDX_FILE_NAMES = Object.values(IDX_STEMS).map((stems) => stems[0]);

/**
 * Finds the four IDX files in `dir` (names as in the original release, '.gz' optional).
 * Returns null when none is there; throws naming the missing ones when only some are.
 */
export function findIdxFiles(dir: string): IdxFiles | null {
  const found: Partial<IdxFiles> = {};
  const missing: string[] = [];
  for (const role of Object.keys(IDX_STEMS) as Array<keyof IdxFiles>) {
    const candidates = IDX_STEMS[role].flatMap((stem) => [stem, stem + '.gz']);
    const hit = candidates.map((name) => join(dir, name)).find((path) => existsSync(path));
    if (hit) found[role] = hit;
    else missing.push(`${IDX_STEMS[role][0]}[.gz]`);
  }
  if (missing.length === 4) return null;
  if (missing.length > 0) throw new UserError(`${dir}: holds some IDX files but not ${missing.join(', ')}`);
  return found as IdxFiles;
}
