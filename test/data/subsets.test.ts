import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { loadDataset, type Split } from '../../src/data/index.js';
import { tempDir, writeIdxFolder } from './make-files.js';

/** 100 training examples, classes 0..9 in unequal numbers, each image's first byte = its index. */
function writeUnbalanced(dir: string): void {
  const labels: number[] = [];
  for (let c = 0; c < 10; c++) for (let k = 0; k < 4 + c; k++) labels.push(c); // 4..13 per class: 85
  while (labels.length < 100) labels.push(0); // class 0 gets 19
  const H = 2;
  const W = 2;
  const trainImages = Uint8Array.from({ length: 100 * H * W }, (_, k) => (k % 4 === 0 ? k / 4 : 200));
  const testImages = Uint8Array.from({ length: 20 * H * W }, (_, k) => (k % 4 === 0 ? k / 4 : 100));
  writeIdxFolder(dir, { trainImages, trainLabels: Uint8Array.from(labels), testImages, testLabels: Uint8Array.from({ length: 20 }, (_, i) => i % 10) }, { H, W });
}

const ids = (split: Split) => Array.from({ length: split.count }, (_, i) => split.images[i * 4]);
const perClass = (split: Split) => {
  const counts = new Array(10).fill(0);
  for (const l of split.labels) counts[l]++;
  return counts;
};

test('N-example subsets take each class\'s first examples in proportion, not the first N; too many is an error', async () => {
  const dir = tempDir('subset');
  writeUnbalanced(dir);
  const full = await loadDataset(`mnist:${dir}`);
  const ds = await loadDataset(`mnist:${dir}`, { trainSubset: 30, testSubset: 7 });
  assert.equal(ds.train.count, 30);
  assert.equal(ds.test.count, 7);
  // The training set is stored class by class (like an image folder): its first 30 would be
  // classes 0-4 only. Class sizes 19, 5, 6, ..., 13 of 100 give 30 * n_c / 100 = 5.7, 1.5, 1.8,
  // 2.1, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9: floors 25, then the five largest remainders (9, 2, 0, 5, 8).
  assert.deepEqual(perClass(ds.train), [6, 1, 2, 2, 2, 3, 3, 3, 4, 4]);
  const chosen = ids(ds.train);
  assert.deepEqual(chosen, [...chosen].sort((a, b) => a - b), 'original order kept');
  for (let c = 0; c < 10; c++) {
    const ofClass = ids(full.train).filter((_, i) => full.train.labels[i] === c);
    const picked = chosen.filter((_, k) => ds.train.labels[k] === c);
    assert.deepEqual(picked, ofClass.slice(0, picked.length), `class ${c}: its first examples`);
  }
  // test labels 0..9, 0..9: 0.7 of each class, ties by class index: one of each of classes 0..6
  assert.deepEqual(Array.from(ds.test.labels), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(ids((await loadDataset(`mnist:${dir}`, { trainSubset: 100 })).train), ids(full.train), 'all of them: the set as it is');
  await assert.rejects(loadDataset(`mnist:${dir}`, { trainSubset: 101 }), (e: unknown) => e instanceof UserError && /trainSubset: asks for 101 examples but there are only 100/.test(e.message));
  await assert.rejects(loadDataset(`mnist:${dir}`, { testSubset: 0 }), /testSubset: expected a whole number/);
});

test('a seeded class-balanced fraction keeps the share of every class', async () => {
  const dir = tempDir('fraction');
  writeUnbalanced(dir);
  const full = await loadDataset(`mnist:${dir}`);
  const half = await loadDataset(`mnist:${dir}`, { trainFraction: 0.5, subsetSeed: 4 });
  const fullCounts = perClass(full.train);
  assert.deepEqual(perClass(half.train), fullCounts.map((n) => Math.round(n / 2)));
  const chosen = ids(half.train);
  assert.deepEqual(chosen, [...chosen].sort((a, b) => a - b), 'original order kept');
  for (let k = 0; k < half.train.count; k++) assert.equal(half.train.labels[k], full.train.labels[chosen[k]]);
  assert.deepEqual(ids((await loadDataset(`mnist:${dir}`, { trainFraction: 0.5, subsetSeed: 4 })).train), chosen, 'same seed, same subset');
  assert.notDeepEqual(ids((await loadDataset(`mnist:${dir}`, { trainFraction: 0.5, subsetSeed: 5 })).train), chosen, 'other seed, other subset');
  await assert.rejects(loadDataset(`mnist:${dir}`, { trainFraction: 1.5 }), /trainFraction: expected a number in \(0, 1\]/);
  await assert.rejects(loadDataset(`mnist:${dir}`, { trainFraction: 0.5, trainSubset: 3 }), /give one of them/);
});

test('a validation split: held out of training, class-balanced, seeded, disjoint', async () => {
  const dir = tempDir('validation');
  writeUnbalanced(dir);
  const ds = await loadDataset(`mnist:${dir}`, { validationSize: 20, subsetSeed: 1 });
  assert.ok(ds.validation);
  assert.equal(ds.validation.count, 20);
  assert.equal(ds.train.count, 80);
  const v = ids(ds.validation);
  const t = ids(ds.train);
  assert.deepEqual([...v, ...t].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  // proportional to class sizes (19, 5, 6, ..., 13 of 100): each class within one of 20% of its size
  const full = perClass((await loadDataset(`mnist:${dir}`)).train);
  perClass(ds.validation).forEach((n, c) => assert.ok(Math.abs(n - full[c] / 5) <= 1, `class ${c}: ${n} of ${full[c]}`));
  // a subset applies to what is left, so the validation examples never reappear
  const both = await loadDataset(`mnist:${dir}`, { validationSize: 20, subsetSeed: 1, trainSubset: 50 });
  assert.deepEqual(ids(both.validation!), v);
  const rest = await loadDataset(`mnist:${dir}`, { validationSize: 20, subsetSeed: 1 });
  const subsetOfRest = ids(both.train);
  assert.equal(subsetOfRest.length, 50);
  for (const id of subsetOfRest) assert.ok(t.includes(id) && !v.includes(id), `example ${id} is a training example`);
  assert.equal(rest.train.count, 80);
  await assert.rejects(loadDataset(`mnist:${dir}`, { validationSize: 100 }), /validationSize: expected a whole number from 1 to 99/);
});
