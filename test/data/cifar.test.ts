import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { CIFAR10_CLASSES, KNOWN_NORMALIZATION, loadDataset } from '../../src/data/index.js';
import { INPUT_SHAPES, TRAIN_SIZES } from '../../src/data/builtin.js';
import { tempDir } from './make-files.js';

const RECORD = 3073;
const BATCH_BYTES = 10000 * RECORD;
const FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];

/**
 * Writes the six batch files as sparse files of the real size (zeros: label 0, black images),
 * with a few records filled in: record r of file f gets label (f + r) % 10 and pixel bytes
 * (f * 31 + r + p) % 256 for r in `filled`.
 */
function writeBatches(dir: string, filled: number[], sizes: Record<string, number> = {}): void {
  mkdirSync(dir, { recursive: true });
  FILES.forEach((name, f) => {
    const fd = openSync(join(dir, name), 'w');
    ftruncateSync(fd, sizes[name] ?? BATCH_BYTES);
    for (const r of filled) {
      const record = Buffer.alloc(RECORD);
      record[0] = (f + r) % 10;
      for (let p = 0; p < 3072; p++) record[1 + p] = (f * 31 + r + p) % 256;
      writeSync(fd, record, 0, RECORD, r * RECORD);
    }
    closeSync(fd);
  });
}

async function rejectsUser(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

test('CIFAR-10 binary batches: 50,000 / 10,000 images [3, 32, 32] with labels and pixels in record order', async () => {
  const dataDir = tempDir('cifar');
  const dir = join(dataDir, 'cifar-10-batches-bin');
  writeBatches(dir, [0, 1, 9999]);
  const ds = await loadDataset('cifar10', { dataDir });
  assert.equal(ds.source, dir);
  assert.equal(ds.train.count, 50000);
  assert.equal(ds.test.count, 10000);
  assert.deepEqual(ds.shape, [3, 32, 32]);
  // what configs are checked against before anything is loaded
  assert.deepEqual(ds.shape, INPUT_SHAPES.cifar10);
  assert.equal(ds.train.count, TRAIN_SIZES.cifar10);
  assert.deepEqual(ds.classes, CIFAR10_CLASSES);
  assert.deepEqual(ds.mean, KNOWN_NORMALIZATION.cifar10.mean);
  // training example 10000 * f + r is record r of batch f
  for (const [f, r] of [[0, 0], [0, 1], [2, 9999], [4, 1]]) {
    const i = 10000 * f + r;
    assert.equal(ds.train.labels[i], (f + r) % 10);
    for (const p of [0, 1, 1023, 1024, 3071]) assert.equal(ds.train.images[i * 3072 + p], (f * 31 + r + p) % 256);
  }
  assert.equal(ds.train.labels[2], 0);
  assert.equal(ds.test.labels[1], (5 + 1) % 10);
  assert.equal(ds.test.images[9999 * 3072 + 5], (5 * 31 + 9999 + 5) % 256);
  // cifar10:PATH reads that folder
  assert.equal((await loadDataset(`cifar10:${dir}`)).train.count, 50000);
});

test('CIFAR-10 batch of the wrong size, label out of range, missing batch: UserErrors naming the file', async () => {
  let dir = tempDir('cifar-size');
  writeBatches(dir, [], { 'data_batch_3.bin': BATCH_BYTES - RECORD });
  await rejectsUser(loadDataset(`cifar10:${dir}`), new RegExp(join(dir, 'data_batch_3.bin') + ': is 30726927 bytes; a CIFAR-10 batch is 30730000 bytes'));
  dir = tempDir('cifar-label');
  writeBatches(dir, []);
  const fd = openSync(join(dir, 'test_batch.bin'), 'r+');
  writeSync(fd, Buffer.from([10]), 0, 1, 7 * RECORD);
  closeSync(fd);
  await rejectsUser(loadDataset(`cifar10:${dir}`), /test_batch\.bin: label 10 at record 7 is out of range \(expected 0\.\.9\)/);
  dir = tempDir('cifar-missing');
  writeBatches(dir, []);
  unlinkSync(join(dir, 'data_batch_5.bin'));
  await rejectsUser(loadDataset(`cifar10:${dir}`), /holds some CIFAR-10 batch files but not data_batch_5\.bin/);
});

test('CIFAR-10 missing: one message naming the files, where to put them and how to point elsewhere', async () => {
  const dataDir = tempDir('cifar-none');
  await rejectsUser(
    loadDataset('cifar10', { dataDir }),
    /cifar10: not found/,
    /cifar-10-batches-bin/,
    /data_batch_1\.bin/,
    /test_batch\.bin/,
    new RegExp(`in ${dataDir}`),
    /--data-dir or RAMANUJAN_DATA_DIR/,
  );
});
