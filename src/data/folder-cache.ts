/**
 * The cache file of a decoded image folder.
 *
 * Layout (all in one file, so a load is one read and the pixel arrays are views into it):
 *   8 bytes   ASCII "RLTHIMG1"
 *   4 bytes   header length L, uint32 little-endian
 *   L bytes   JSON header { key, classes, shape, train, test, mean, std }
 *   train images [train, C, H, W] bytes, train labels [train] bytes,
 *   test images [test, C, H, W] bytes, test labels [test] bytes
 *
 * Written atomically (temporary file in the same folder, fsync, rename), so a crash or a
 * concurrent run never leaves a half-written cache that looks valid. A file that does not
 * match this layout or whose key differs is ignored (and later replaced), never trusted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Split } from './types.js';

const MAGIC = 'RLTHIMG1';

export interface DecodedFolder {
  /** the folder listing's hash (see image-folder.ts) */
  key: string;
  classes: string[];
  shape: [number, number, number];
  mean: number[];
  std: number[];
  train: Split;
  test: Split;
}

interface Header {
  key: string;
  classes: string[];
  shape: [number, number, number];
  train: number;
  test: number;
  mean: number[];
  std: number[];
}

/** The cached folder, or null when the file is missing, damaged or for another key. */
export function readFolderCache(file: string, key: string): DecodedFolder | null {
  if (!existsSync(file)) return null;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return null;
  }
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) return null;
  const headerLength = bytes.readUInt32LE(8);
  if (12 + headerLength > bytes.length) return null;
  let header: Header;
  try {
    header = JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)) as Header;
  } catch {
    return null;
  }
  if (header.key !== key || !Array.isArray(header.shape) || header.shape.length !== 3) return null;
  const imageBytes = header.shape[0] * header.shape[1] * header.shape[2];
  const expected = 12 + headerLength + (header.train + header.test) * (imageBytes + 1);
  if (bytes.length !== expected) return null;
  let offset = 12 + headerLength;
  const take = (n: number) => {
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + offset, n);
    offset += n;
    return view;
  };
  const train: Split = { count: header.train, images: take(header.train * imageBytes), labels: take(header.train) };
  const test: Split = { count: header.test, images: take(header.test * imageBytes), labels: take(header.test) };
  return { key, classes: header.classes, shape: header.shape, mean: header.mean, std: header.std, train, test };
}

/** Writes the cache file atomically, creating its folder. */
export function writeFolderCache(file: string, folder: DecodedFolder): void {
  const header: Header = {
    key: folder.key,
    classes: folder.classes,
    shape: folder.shape,
    train: folder.train.count,
    test: folder.test.count,
    mean: folder.mean,
    std: folder.std,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(headerBytes.length, 8);
  try {
    writeFileAtomic(file, [prefix, headerBytes, folder.train.images, folder.train.labels, folder.test.images, folder.test.labels], { createFolder: true });
  } catch (err) {
    throw new UserError(`${file}: cannot write the image-folder cache (${(err as Error).message}); choose another cache folder with --cache-dir or RAMANUJAN_CACHE_DIR`);
  }
}
