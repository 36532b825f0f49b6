/**
 * The integration test, on the real pruning loop: a real (tiny) run of Lenet on a
 * 600-image MNIST subset, 50 iterations per level, 4 levels, killed with SIGKILL right after its
 * first level, then rerun with the same command, ends with exactly the records and checkpoints of
 * an uninterrupted run of the same config in another workspace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEvent } from '../../src/experiment/events.js';
import { openStore } from '../../src/experiment/store.js';
import { assertSameCheckpoints, cliNodeArgs, runAndKillAfterFirstLevel, storedRecords } from './kill-after-level.js';
import { withoutTimings } from './stand-in.js';

const RUN = [
  'run', 'lenet-mnist', '--json', '--threads', '1',
  '--set', 'data.trainSubset=600', '--set', 'data.testSubset=300',
  '--set', 'training.iterations=50', '--set', 'pruning.maxLevels=3',
  '--set', 'evaluation.noiseSigmas=[0.1, 0.3]',
];

test('a real run killed with SIGKILL and rerun ends exactly as an uninterrupted one', { timeout: 300_000 }, async () => {
  const killed = mkdtempSync(join(tmpdir(), 'rlth-real-killed-'));
  const reference = mkdtempSync(join(tmpdir(), 'rlth-real-reference-'));

  // 1. Start, and SIGKILL right after the first level's event.
  const { id, levelsSeen, stderr, exit } = await runAndKillAfterFirstLevel([...RUN, '--workspace', killed]);
  assert.equal(exit.signal, 'SIGKILL', `the run ended before it was killed: ${stderr}`);
  assert.ok(levelsSeen >= 1);
  const mid = openStore(killed);
  const stored = mid.getRun(id)!;
  mid.close();
  assert.equal(stored.status, 'interrupted');
  assert.ok(stored.levels >= 1 && stored.levels < 4, `${stored.levels} levels stored when killed`);

  // 2. The same command again: resumes and finishes.
  const rerun = spawnSync(process.execPath, [...cliNodeArgs, ...RUN, '--workspace', killed], { encoding: 'utf8' });
  assert.equal(rerun.status, 0, rerun.stderr);
  const events = rerun.stdout.trim().split('\n').map(decodeEvent);
  assert.equal(events[0].mode, 'resume');
  assert.equal(events[0].resumeFrom, stored.levels - 1);
  assert.equal(events[events.length - 1].status, 'done');

  // 3. An uninterrupted run of the same config elsewhere.
  const full = spawnSync(process.execPath, [...cliNodeArgs, ...RUN, '--workspace', reference], { encoding: 'utf8' });
  assert.equal(full.status, 0, full.stderr);
  assert.equal(decodeEvent(full.stdout.split('\n')[0]).run, id, 'same config, same run id');

  const resumed = storedRecords(killed, id);
  const uninterrupted = storedRecords(reference, id);
  assert.equal(uninterrupted.length, 4);
  assert.ok(uninterrupted[3].density < 0.6, 'it pruned');
  assert.ok(uninterrupted[0].accuracy.clean > 0.5, 'it learned');
  assert.deepEqual(withoutTimings(resumed), withoutTimings(uninterrupted));
  // The checkpoints (masks, trained weights, next masks) are byte-identical too.
  assertSameCheckpoints(killed, reference, id, 4);
});
