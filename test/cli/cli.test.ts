import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

const bin = join(packageRoot(), 'bin', 'ramanujan.js');

function runCli(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
}

test('ramanujan --help lists the command and exits 0', () => {
  const r = runCli(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: ramanujan/);
});

test('ramanujan --version prints the package version, as the CLI itself does', () => {
  const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  for (const flag of ['--version', '-V']) {
    const r = runCli([flag]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `${version}\n`);
  }
  // bin/ramanujan.js answers alone --version itself; with other arguments commander does, the same
  const r = runCli(['--version', '--help']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `${version}\n`);
});

test('an unknown command fails with a non-zero exit and no stack trace', () => {
  const r = runCli(['no-such-command']);
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
});
