import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import jpeg from 'jpeg-js';
import { UserError } from '../../src/errors.js';
import { CIFAR10_CLASSES, KNOWN_NORMALIZATION, loadDataset } from '../../src/data/index.js';
import { loadImageFolder } from '../../src/data/image-folder.js';
import { jpegBytes, pattern, pngBytes, tempDir, writePngFolder } from './make-files.js';

async function rejectsUser(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

test('a PNG image folder: sorted classes, [C, H, W] pixels, labels, statistics of the training set', async () => {
  const root = tempDir('png');
  const cacheDir = tempDir('cache');
  const given = ['zebra', 'ant', 'mole'];
  writePngFolder(root, given, 3, 2, 5, 4);
  const ds = await loadDataset(`folder:${root}`, { cacheDir });
  assert.equal(ds.name, `folder:${root}`);
  assert.equal(ds.source, resolve(root));
  assert.deepEqual(ds.classes, ['ant', 'mole', 'zebra']);
  assert.deepEqual(ds.shape, [3, 4, 5]);
  assert.equal(ds.train.count, 9);
  assert.equal(ds.test.count, 6);
  assert.deepEqual([...ds.train.labels], [0, 0, 0, 1, 1, 1, 2, 2, 2]);
  assert.deepEqual([...ds.test.labels], [0, 0, 1, 1, 2, 2]);
  // training example 4 is class 'mole' (written as class index 2), file 001.png
  const rgb = pattern(5, 4, 100 * 2 + 1);
  for (let c = 0; c < 3; c++) for (let p = 0; p < 20; p++) assert.equal(ds.train.images[4 * 60 + c * 20 + p], rgb[3 * p + c]);
  // test example 5 is 'zebra' (class index 0), file 001.png, with test offset 50
  const rgbTest = pattern(5, 4, 1 + 50);
  for (let c = 0; c < 3; c++) for (let p = 0; p < 20; p++) assert.equal(ds.test.images[5 * 60 + c * 20 + p], rgbTest[3 * p + c]);
  // mean / std from the training set, computed here directly from the patterns
  for (let c = 0; c < 3; c++) {
    const values: number[] = [];
    for (let k = 0; k < 3; k++) for (let cls = 0; cls < 3; cls++) {
      const img = pattern(5, 4, 100 * cls + k);
      for (let p = 0; p < 20; p++) values.push(img[3 * p + c] / 255);
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(ds.mean[c] - mean) < 1e-12, `mean ${c}`);
    assert.ok(Math.abs(ds.std[c] - std) < 1e-12, `std ${c}`);
  }
});

test('the decode is cached by folder content; a changed, added or damaged file is noticed', async () => {
  const root = tempDir('cached');
  const cacheDir = tempDir('cache');
  writePngFolder(root, ['a', 'b'], 2, 1, 3, 3);
  const first = loadImageFolder(root, { cacheDir });
  assert.equal(first.fromCache, false);
  assert.deepEqual(readdirSync(cacheDir), [first.cacheFile.split('/').pop()]); // no temporary file left
  const second = loadImageFolder(root, { cacheDir });
  assert.equal(second.fromCache, true);
  assert.equal(second.cacheFile, first.cacheFile);
  assert.deepEqual([...second.train.images], [...first.train.images]);
  assert.deepEqual([...second.test.labels], [...first.test.labels]);
  assert.deepEqual(second.mean, first.mean);
  assert.deepEqual(second.classes, first.classes);
  // Replacing an image with a different one (different mtime) gives a new key and new pixels.
  const file = join(root, 'train', 'b', '000.png');
  writeFileSync(file, pngBytes(3, 3, pattern(3, 3, 77)));
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const third = loadImageFolder(root, { cacheDir });
  assert.equal(third.fromCache, false);
  assert.notEqual(third.cacheFile, first.cacheFile);
  assert.equal(third.train.images[2 * 27], pattern(3, 3, 77)[0]);
  // An added image too.
  writeFileSync(join(root, 'test', 'a', '009.png'), pngBytes(3, 3, pattern(3, 3, 5)));
  const fourth = loadImageFolder(root, { cacheDir });
  assert.equal(fourth.fromCache, false);
  assert.equal(fourth.test.count, 3);
  // A damaged cache file is not trusted: it is decoded again and rewritten.
  truncateSync(fourth.cacheFile, 100);
  const fifth = loadImageFolder(root, { cacheDir });
  assert.equal(fifth.fromCache, false);
  assert.deepEqual([...fifth.test.images], [...fourth.test.images]);
  assert.equal(loadImageFolder(root, { cacheDir }).fromCache, true);
});

test('a grey image folder is kept as one channel; JPEG and PNG can be mixed', async () => {
  const root = tempDir('grey');
  writePngFolder(root, ['x', 'y'], 2, 1, 4, 4, true);
  const ds = await loadDataset(`folder:${root}`, { cacheDir: tempDir('cache') });
  assert.deepEqual(ds.shape, [1, 4, 4]);
  const grey = pattern(4, 4, 100 + 1, true);
  for (let p = 0; p < 16; p++) assert.equal(ds.train.images[3 * 16 + p], grey[3 * p]);
  // a flat-colour JPEG decodes to (nearly) that colour
  const flat = new Uint8Array(8 * 8 * 3);
  for (let p = 0; p < 64; p++) flat.set([200, 40, 90], 3 * p);
  const mixed = tempDir('mixed');
  for (const [part, cls, name, bytes] of [
    ['train', 'a', '0.jpg', jpegBytes(8, 8, flat)],
    ['train', 'b', '0.PNG', pngBytes(8, 8, flat)],
    ['test', 'a', '0.jpeg', jpegBytes(8, 8, flat)],
    ['test', 'b', '0.png', pngBytes(8, 8, flat)],
  ] as const) {
    mkdirSync(join(mixed, part, cls), { recursive: true });
    writeFileSync(join(mixed, part, cls, name), bytes);
  }
  writeFileSync(join(mixed, 'train', 'a', '.DS_Store'), 'ignored');
  const m = await loadDataset(`folder:${mixed}`, { cacheDir: tempDir('cache') });
  assert.deepEqual(m.shape, [3, 8, 8]);
  assert.equal(m.train.count, 2);
  for (const [c, v] of [[0, 200], [1, 40], [2, 90]]) {
    assert.ok(Math.abs(m.train.images[c * 64 + 10] - v) <= 3, `jpeg channel ${c}`);
    assert.equal(m.train.images[192 + c * 64 + 10], v, `png channel ${c}`);
  }
});

test('bad image folders: each a UserError naming the file and the fault', async () => {
  const cacheDir = tempDir('cache');
  const fresh = () => {
    const root = tempDir('badfolder');
    writePngFolder(root, ['cat', 'dog'], 2, 1, 4, 4);
    return root;
  };
  // corrupt JPEG: a real JPEG cut short
  let root = fresh();
  let file = join(root, 'train', 'dog', '001.jpg');
  const good = jpegBytes(4, 4, pattern(4, 4, 3));
  writeFileSync(file, good.subarray(0, good.length - 20));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), new RegExp(file + ': is a corrupt JPEG'));
  // corrupt PNG
  root = fresh();
  file = join(root, 'test', 'cat', '000.png');
  const png = readFileSync(file);
  writeFileSync(file, png.subarray(0, 40));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), new RegExp(file + ': is a corrupt PNG'));
  // a file named .png that is not an image
  root = fresh();
  file = join(root, 'train', 'cat', '005.png');
  writeFileSync(file, 'not really a picture');
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), new RegExp(file + ': is neither a JPEG nor a PNG'));
  // an image of another size
  root = fresh();
  file = join(root, 'test', 'dog', '000.png');
  writeFileSync(file, pngBytes(5, 4, pattern(5, 4, 1)));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), new RegExp(file + ': is 5x4 but the other images are 4x4'));
  // a non-image file
  root = fresh();
  file = join(root, 'train', 'dog', 'notes.txt');
  writeFileSync(file, 'hello');
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), new RegExp(file + ': is not an image file'), /\.jpg, \.jpeg and \.png/);
  // a sub-folder inside a class folder
  root = fresh();
  mkdirSync(join(root, 'train', 'dog', 'more'));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), /dog\/more: is not an image file/);
  // a file where class folders are expected
  root = fresh();
  writeFileSync(join(root, 'train', 'labels.csv'), 'x');
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), /train\/labels\.csv: is not a class folder/);
  // test classes differ from train classes
  root = fresh();
  mkdirSync(join(root, 'test', 'emu'));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), /test\/ has class folders \[cat, dog, emu\] but train\/ has \[cat, dog\]/);
  // no test/ folder, no folder at all
  root = tempDir('notest');
  mkdirSync(join(root, 'train', 'a'), { recursive: true });
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), /has no test\/ folder/);
  await rejectsUser(loadDataset(`folder:${join(root, 'nope')}`, { cacheDir }), /nope: no such folder/, /root\/train\/<class>/);
  // a broken symbolic link
  root = fresh();
  symlinkSync(join(root, 'nowhere.png'), join(root, 'train', 'cat', '009.png'));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), /train\/cat\/009\.png: cannot be read/);
  // an empty training class
  root = fresh();
  mkdirSync(join(root, 'train', 'emu'));
  mkdirSync(join(root, 'test', 'emu'));
  await rejectsUser(loadDataset(`folder:${root}`, { cacheDir }), /train\/emu: class folder holds no images/);
  // nothing written to the cache by the failed loads
  assert.deepEqual(readdirSync(cacheDir), []);
});

test('symbolic links to class folders and images are followed', async () => {
  const store = tempDir('store');
  writePngFolder(store, ['a', 'b'], 2, 1, 3, 3);
  const root = tempDir('linked');
  mkdirSync(join(root, 'train'));
  mkdirSync(join(root, 'test', 'a'), { recursive: true });
  symlinkSync(join(store, 'train', 'a'), join(root, 'train', 'a'));
  symlinkSync(join(store, 'train', 'b'), join(root, 'train', 'b'));
  symlinkSync(join(store, 'test', 'a', '000.png'), join(root, 'test', 'a', '000.png'));
  symlinkSync(join(store, 'test', 'b'), join(root, 'test', 'b'));
  const linked = await loadDataset(`folder:${root}`, { cacheDir: tempDir('cache') });
  const direct = await loadDataset(`folder:${store}`, { cacheDir: tempDir('cache') });
  assert.equal(linked.train.count, 4);
  assert.deepEqual([...linked.train.images], [...direct.train.images]);
  assert.deepEqual([...linked.test.images], [...direct.test.images]);
});

/**
 * Copies the first `train` / `test` JPEGs per CIFAR-10 class of `source` into a new data folder
 * and checks that it loads as folder:PATH and as cifar10 (pixels against jpeg-js directly).
 * Returns the loaded dataset for source-specific checks.
 */
async function checkCifarSlice(source: string) {
  const dataDir = tempDir('cifar-slice');
  const root = join(dataDir, 'cifar10-jpeg');
  const taken: Record<string, string[]> = {};
  for (const [part, n] of [['train', 3], ['test', 2]] as const) {
    for (const cls of CIFAR10_CLASSES) {
      mkdirSync(join(root, part, cls), { recursive: true });
      const names = readdirSync(join(source, part, cls)).sort().slice(0, n);
      for (const name of names) copyFileSync(join(source, part, cls, name), join(root, part, cls, name));
      taken[`${part}/${cls}`] = names;
    }
  }
  const cacheDir = tempDir('cache');
  const ds = await loadDataset(`folder:${root}`, { cacheDir });
  assert.deepEqual(ds.classes, CIFAR10_CLASSES);
  assert.deepEqual(ds.shape, [3, 32, 32]);
  assert.equal(ds.train.count, 30);
  assert.equal(ds.test.count, 20);
  assert.deepEqual([...ds.train.labels], CIFAR10_CLASSES.flatMap((_, c) => [c, c, c]));
  // example 4 is the second 'automobile' training image; compare with jpeg-js directly ([H, W, 3])
  const direct = jpeg.decode(readFileSync(join(source, 'train', 'automobile', taken['train/automobile'][1])), { useTArray: true, formatAsRGBA: false });
  for (const p of [0, 100, 555, 1023]) for (let c = 0; c < 3; c++) assert.equal(ds.train.images[4 * 3072 + c * 1024 + p], direct.data[3 * p + c]);
  // the same folder, found as cifar10 under the data folder, with CIFAR-10's constants
  const named = await loadDataset('cifar10', { dataDir, cacheDir });
  assert.equal(named.name, 'cifar10');
  assert.equal(named.source, root);
  assert.deepEqual(named.mean, KNOWN_NORMALIZATION.cifar10.mean);
  assert.deepEqual([...named.train.images.subarray(0, 3072)], [...ds.train.images.subarray(0, 3072)]);
  return ds;
}

test('a CIFAR-10-shaped JPEG folder written here (10 classes, 32x32) loads as folder:PATH and as cifar10', async () => {
  // The layout of the CIFAR-10 JPEG folder (train|test/<class>/<n>.jpg), made with jpeg-js, so the
  // test needs nothing beside the repository.
  const source = tempDir('cifar-made');
  CIFAR10_CLASSES.forEach((cls, c) => {
    for (const [part, n] of [['train', 4], ['test', 3]] as const) {
      mkdirSync(join(source, part, cls), { recursive: true });
      for (let k = 0; k < n; k++) writeFileSync(join(source, part, cls, `${k}.jpg`), jpegBytes(32, 32, pattern(32, 32, 10 * c + k + (part === 'test' ? 5 : 0))));
    }
  });
  const ds = await checkCifarSlice(source);
  // the statistics are those of the decoded training pixels
  for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let i = 0; i < 30; i++) for (let p = 0; p < 1024; p++) sum += ds.train.images[i * 3072 + c * 1024 + p] / 255;
    assert.ok(Math.abs(ds.mean[c] - sum / 30 / 1024) < 1e-9, `mean ${c}`);
  }
});
