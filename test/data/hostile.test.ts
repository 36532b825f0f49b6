// Hostile dataset files (issue 15, items 2, 7, 8): image headers that claim huge sizes, gzip bombs,
// empty splits. Each is refused with one message naming the file, before the claimed size is
// allocated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, gzipSync, crc32 } from 'node:zlib';
import { UserError } from '../../src/errors.js';
import { loadDataset } from '../../src/data/index.js';
import { decodeImage, MAX_IMAGE_SIDE, readImageHeader } from '../../src/data/decode.js';
import { packageRoot } from '../../src/paths.js';
import { idxBytes, jpegBytes, pattern, pngBytes, tempDir, tinyIdx, writeIdxFolder, writePngFolder } from './make-files.js';

const bin = join(packageRoot(), 'bin', 'ramanujan.js');

function expectUserError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err instanceof Error ? err.stack : String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

async function rejectsUser(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err instanceof Error ? err.stack : String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}


function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** A PNG whose IHDR claims width x height (8-bit RGB) with the given IDAT payload; CRCs are right. */
function pngClaiming(width: number, height: number, idat: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

test('image headers: PNG IHDR and JPEG SOF sizes are read without decoding', () => {
  assert.deepEqual(readImageHeader(pngBytes(5, 4, pattern(5, 4, 1)), 'a.png'), { format: 'png', width: 5, height: 4 });
  assert.deepEqual(readImageHeader(jpegBytes(7, 3, pattern(7, 3, 1)), 'a.jpg'), { format: 'jpeg', width: 7, height: 3 });
  expectUserError(() => readImageHeader(Buffer.from('GIF89a'), 'x.gif'), /x\.gif: is neither a JPEG nor a PNG image/);
  const jpegNoFrame = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
  expectUserError(() => readImageHeader(jpegNoFrame, 'n.jpg'), /n\.jpg: is a corrupt JPEG \(no frame header/);
});

test('a PNG claiming 2^31-1 x 2^31-1 pixels is refused by its header (it aborted node in zlib)', async () => {
  const huge = pngClaiming(2 ** 31 - 1, 2 ** 31 - 1, deflateSync(Buffer.alloc(100)));
  expectUserError(() => decodeImage(huge, 'huge.png'), new RegExp(`huge\\.png: is 2147483647x2147483647 pixels; images up to ${MAX_IMAGE_SIDE}x${MAX_IMAGE_SIDE} are supported`));
  // the whole command: one line, exit 1, not a native abort (exit 134)
  const root = tempDir('huge-png');
  writePngFolder(root, ['a'], 1, 1, 3, 3);
  writeFileSync(join(root, 'train', 'a', '000.png'), huge);
  const r = spawnSync(process.execPath, [bin, 'data', 'info', `folder:${root}`, '--cache-dir', tempDir('huge-cache')], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^ramanujan: .*000\.png: is 2147483647x2147483647 pixels/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('a PNG whose compressed data cannot hold its declared pixels (20000x20000 in a few KB) is refused before inflating', () => {
  // 2000 x 2000 x 3 bytes = 12 MB declared, in 2 KB of IDAT: deflate cannot reach that ratio.
  const lying = pngClaiming(2000, 2000, deflateSync(Buffer.alloc(2000 * 6001)).subarray(0, 2000));
  expectUserError(() => decodeImage(lying, 'lying.png'), /lying\.png: declares 2000x2000 pixels \(12002000 bytes once inflated\) but holds only 2000 bytes of compressed data/);
  expectUserError(() => decodeImage(pngClaiming(20000, 20000, new Uint8Array(10)), 'wide.png'), /wide\.png: is 20000x20000 pixels; images up to 4096x4096 are supported/);
});

test('a JPEG whose frame header claims far more blocks than its data can code is refused before decoding', () => {
  const real = jpegBytes(8, 8, pattern(8, 8, 3));
  // patch the SOF0 height and width to 4000 x 4000
  const patched = Buffer.from(real);
  for (let i = 2; i < patched.length - 9; i++) {
    if (patched[i] === 0xff && patched[i + 1] === 0xc0) {
      patched.writeUInt16BE(4000, i + 5);
      patched.writeUInt16BE(4000, i + 7);
      break;
    }
  }
  assert.deepEqual(readImageHeader(patched, 'p.jpg'), { format: 'jpeg', width: 4000, height: 4000 });
  expectUserError(() => decodeImage(patched, 'p.jpg'), /p\.jpg: declares 4000x4000 pixels but holds only \d+ bytes of coded data/);
});

test('an image folder refuses an image whose header differs from the first image, and a folder too large to hold', async () => {
  const root = tempDir('mixed');
  writePngFolder(root, ['a', 'b'], 2, 1, 5, 4);
  writeFileSync(join(root, 'train', 'b', '001.png'), pngBytes(9, 9, pattern(9, 9, 2)));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir: tempDir('mixed-cache') }), /b[/\\]001\.png: is 9x9 but the other images are 5x4/);
});

test('a gzipped IDX file that inflates past what its header promises stops at that size (a gzip bomb)', async () => {
  const dir = tempDir('bomb');
  const data = tinyIdx(4, 2);
  // header: 4 images of 4x3 = 48 bytes, then 64 MB of zeros (about 64 KB gzipped)
  const bomb = gzipSync(Buffer.concat([idxBytes([4, 4, 3], data.trainImages), Buffer.alloc(64 * 2 ** 20)]));
  writeIdxFolder(dir, data, { gzip: true, override: { 'train-images': new Uint8Array(0) } });
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), bomb);
  const before = process.memoryUsage().arrayBuffers;
  await rejectsUser(loadDataset(`mnist:${dir}`), /train-images-idx3-ubyte\.gz: inflates to more than the 64 bytes its IDX header promises \(4 x 4 x 3 after a 16-byte header\)/);
  // nothing near 64 MB was kept (the old reader inflated all of it first)
  assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 2 ** 20);
});

test('an IDX header promising more than the dataset limit is refused before inflating', async () => {
  const dir = tempDir('claims');
  const data = tinyIdx(4, 2);
  writeIdxFolder(dir, data, { gzip: true });
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxBytes([4_000_000, 1000, 1000], data.trainImages)));
  await rejectsUser(loadDataset(`mnist:${dir}`), /train-images-idx3-ubyte\.gz: its IDX header promises 4000000 x 1000 x 1000 = 4000000000000 data bytes, more than the \d+ bytes a dataset file may hold/);
});

test('an empty training or test split, or images of zero size, are refused naming the file', async () => {
  const dir = tempDir('empty-split');
  writeIdxFolder(dir, tinyIdx(0, 3));
  await rejectsUser(loadDataset(`mnist:${dir}`), /train-images-idx3-ubyte: holds no images; a dataset split needs at least one/);
  const dir2 = tempDir('empty-test');
  writeIdxFolder(dir2, tinyIdx(3, 0));
  await rejectsUser(loadDataset(`mnist:${dir2}`), /t10k-images-idx3-ubyte: holds no images/);
  const dir3 = tempDir('zero-size');
  const data = tinyIdx(3, 2);
  writeIdxFolder(dir3, data, { override: { 'train-images': idxBytes([3, 0, 3], new Uint8Array(0)) } });
  await rejectsUser(loadDataset(`mnist:${dir3}`), /train-images-idx3-ubyte: images of 0x3 pixels; an image needs at least one/);
  // an image folder whose test/ classes are all empty
  const root = tempDir('empty-test-folder');
  writePngFolder(root, ['a'], 2, 0, 3, 3);
  mkdirSync(join(root, 'test', 'a'), { recursive: true });
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir: tempDir('etf-cache') }), /test: holds no images; a dataset split needs at least one/);
});

test('a 1-bit PNG declaring 4096x4096 pixels in 2 KB is refused: decoded it would take 10 bytes a pixel', () => {
  // 4096 rows of 1 filter byte + 512 bytes: 2.1 MB inflated, within deflate's ratio of 2 KB
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4096, 0);
  ihdr.writeUInt32BE(4096, 4);
  ihdr[8] = 1; // bit depth 1
  ihdr[9] = 0; // grey
  const idat = deflateSync(Buffer.alloc(4096 * 513), { level: 9 });
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
  expectUserError(() => decodeImage(png, 'bilevel.png'), new RegExp(`bilevel\\.png: declares 4096x4096 pixels in only ${idat.length} bytes of compressed data; images over 1048576 pixels may hold at most 256 pixels per compressed byte`));
  // the same image at 1024 x 1024 (a megapixel) decodes
  const small = Buffer.alloc(13);
  ihdr.copy(small);
  small.writeUInt32BE(1024, 0);
  small.writeUInt32BE(1024, 4);
  const smallPng = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', small), chunk('IDAT', deflateSync(Buffer.alloc(1024 * 129))), chunk('IEND', new Uint8Array(0))]);
  assert.equal(decodeImage(smallPng, 'small.png').width, 1024);
});

test('an image folder loaded as cifar10 must be 32x32: a larger image is refused by its header, before any decoding', async () => {
  const dataDir = tempDir('cifar-size');
  const root = join(dataDir, 'cifar10-jpeg');
  writePngFolder(root, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'], 1, 1, 32, 32);
  writeFileSync(join(root, 'train', 'airplane', '000.png'), pngClaiming(4000, 4000, deflateSync(Buffer.alloc(4000 * 12001))));
  await rejectsUser(
    loadDataset('cifar10', { dataDir, cacheDir: tempDir('cifar-size-cache') }),
    /airplane[/\\]000\.png: is 4000x4000 but cifar10 images are 32x32; load the folder as folder:.*cifar10-jpeg instead/,
  );
});
