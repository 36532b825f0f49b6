/**
 * Issue 12's "works end to end": `ramanujan run conv4-cifar10 --device gpu` through the real CLI
 * on the webgpu backend (a hardware GPU when present, else Mesa's llvmpipe, asked for with
 * RAMANUJAN_WEBGPU_SOFTWARE=1). The preset runs on a generated CIFAR-shaped image folder
 * (10 classes, 32 x 32 RGB PNGs) scaled down so llvmpipe finishes in seconds: batch 4,
 * 2 iterations per level, 2 pruning levels, 10 test images.
 *
 * The run is killed with SIGKILL right after its first level, rerun with the same command (it
 * resumes), and must end with exactly the records and checkpoints of an uninterrupted run of the
 * same config on the same device; then `ramanujan report` writes its page. The engine event
 * names the webgpu backend, so the test cannot pass on the CPU engine by accident.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEvent } from '../../src/experiment/events.js';
import { openStore } from '../../src/experiment/store.js';
import { assertSameCheckpoints, cliNodeArgs, runAndKillAfterFirstLevel, storedRecords } from './kill-after-level.js';
import { tempDir, writePngFolder } from '../data/make-files.js';
import { webgpuForTests } from '../engine/webgpu-setup.js';
import { withoutTimings } from './stand-in.js';

const env = { ...process.env, RAMANUJAN_WEBGPU_SOFTWARE: '1' };

// Probe once in this process (registers the failing or "NOT RUN" test when there is no adapter).
const probe = await webgpuForTests();

if (probe !== null) {
  const adapter = probe.adapter;
  after(async () => {
    await probe.close();
  });

  const images = tempDir('webgpu-run-cifar');
  const classes = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  writePngFolder(images, classes, 2, 1, 32, 32);
  const RUN = [
    'run', 'conv4-cifar10', '--device', 'gpu', '--json',
    '--set', `data.dataset=cifar10:${images}`,
    '--set', 'training.batchSize=4', '--set', 'training.iterations=2', '--set', 'pruning.maxLevels=2',
    '--set', 'evaluation.noiseSigmas=[0.2]',
  ];

  test(`webgpu: run conv4-cifar10 --device gpu on ${adapter.device || adapter.description}, killed and resumed, ends as an uninterrupted run; report works`, { timeout: 600_000 }, async () => {
    const killed = mkdtempSync(join(tmpdir(), 'rlth-webgpu-killed-'));
    const reference = mkdtempSync(join(tmpdir(), 'rlth-webgpu-reference-'));

    // 1. Start, and SIGKILL right after the first level's event.
    const { id, levelsSeen, stderr, exit } = await runAndKillAfterFirstLevel([...RUN, '--workspace', killed], env);
    assert.equal(exit.signal, 'SIGKILL', `the run ended before it was killed: ${stderr}`);
    assert.ok(levelsSeen >= 1);
    assert.match(stderr, /engine: webgpu on /, 'the run says it uses the webgpu backend');
    const mid = openStore(killed);
    const stored = mid.getRun(id)!;
    const engineEvents = mid.events(id).filter((e) => e.event === 'engine');
    mid.close();
    assert.equal(stored.status, 'interrupted');
    assert.ok(stored.levels >= 1 && stored.levels < 3, `${stored.levels} levels stored when killed`);
    assert.equal(engineEvents.length, 1, 'one engine event stored');
    assert.equal((engineEvents[0].data as { backend?: string }).backend, 'webgpu', JSON.stringify(engineEvents[0].data));

    // 2. The same command again: resumes and finishes.
    const rerun = spawnSync(process.execPath, [...cliNodeArgs, ...RUN, '--workspace', killed], { encoding: 'utf8', env });
    assert.equal(rerun.status, 0, rerun.stderr);
    const events = rerun.stdout.trim().split('\n').map(decodeEvent);
    assert.equal(events[0].mode, 'resume');
    assert.equal(events[0].resumeFrom, stored.levels - 1);
    assert.equal(events[events.length - 1].status, 'done');

    // 3. An uninterrupted run of the same config elsewhere, on the same device.
    const full = spawnSync(process.execPath, [...cliNodeArgs, ...RUN, '--workspace', reference], { encoding: 'utf8', env });
    assert.equal(full.status, 0, full.stderr);
    assert.equal(decodeEvent(full.stdout.split('\n')[0]).run, id, 'same config, same run id');

    const resumed = storedRecords(killed, id);
    const uninterrupted = storedRecords(reference, id);
    assert.equal(uninterrupted.length, 3);
    assert.ok(uninterrupted[2].density < 0.7, `it pruned (density ${uninterrupted[2].density})`);
    for (const r of uninterrupted) assert.ok(Number.isFinite(r.trainLoss), `level ${r.level}: finite train loss`);
    assert.deepEqual(withoutTimings(resumed), withoutTimings(uninterrupted));
    assertSameCheckpoints(killed, reference, id, 3);

    // 4. The report of the resumed run.
    const report = spawnSync(process.execPath, [...cliNodeArgs, 'report', id, '--workspace', killed, '--format', 'html,csv'], { encoding: 'utf8', env });
    assert.equal(report.status, 0, report.stderr);
    assert.ok(existsSync(join(killed, 'report', 'report.html')), `no report page: ${report.stdout}`);
  });
}
