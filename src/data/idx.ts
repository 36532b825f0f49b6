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
import { gunzipSync } from 'node:zlib';
import { fileError, UserError } from '../errors.js';
import type { Split } from './types.js';

const UNSIGNED_BYTE = 0x08;

export interface IdxArray {
  /** sizes from the header, e.g. [60000, 28, 28] */
  dims: number[];
  /** the payload, exactly product(dims) bytes */
  data: Uint8Array;
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes (whatever its name). */
export function readMaybeGzipped(file: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw fileError(file, `cannot be read (${(err as Error).message})`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (err) {
      throw fileError(file, `is not a valid gzip file (${(err as Error).message})`);
    }
  }
  return bytes;
}

/** Parses an IDX array of unsigned bytes with `ndims` dimensions; `file` names it in errors. */
export function parseIdx(bytes: Uint8Array, file: string, ndims: 1 | 3): IdxArray {
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
  const images = parseIdx(readMaybeGzipped(imagesFile), imagesFile, 3);
  const labels = parseIdx(readMaybeGzipped(labelsFile), labelsFile, 1);
  const [count, H, W] = images.dims;
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
