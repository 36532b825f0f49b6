/**
 * A workspace written by store version 1 (test/fixtures/stores/v1-standin, see its README) after
 * upgrading: its runs keep their ids, are listed, the interrupted one resumes from its last level
 * and ends with the records of an uninterrupted run, the finished one is reported, and the report
 * builds. The fixture is copied first, never opened in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { RunStartEvent } from '../../src/experiment/events.js';
import { resolveRun } from '../../src/experiment/resolve.js';
import { runId } from '../../src/experiment/run-id.js';
import { executeRun } from '../../src/experiment/runner.js';
import { openStore } from '../../src/experiment/store.js';
import { recorder, standInEnvironment, withoutTimings } from './stand-in.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/stores/v1-standin', import.meta.url));
const DONE = { id: '3d21d5a9fa7b01fa', overrides: [{ key: 'pruning.maxLevels', value: 2 }, { key: 'pruning.bound', value: true }] };
const INTERRUPTED = { id: '22f5e059ffb2b9f6', overrides: [{ key: 'pruning.maxLevels', value: 4 }, { key: 'seed', value: 1 }] };

function copyFixture(): string {
  const ws = join(mkdtempSync(join(tmpdir(), 'rlth-upgrade-')), 'ws');
  cpSync(FIXTURE, ws, { recursive: true });
  return ws;
}

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  process.stdout.write = ((chunk: string | Uint8Array) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

test('the same commands resolve to the run ids version 1 gave, and `runs` lists them', async () => {
  assert.equal(runId(resolveRun('lenet-mnist', DONE.overrides, true).config), DONE.id);
  assert.equal(runId(resolveRun('lenet-mnist', INTERRUPTED.overrides, true).config), INTERRUPTED.id);
  const ws = copyFixture();
  const store = openStore(ws);
  try {
    const runs = new Map(store.listRuns().map((r) => [r.id, r]));
    assert.equal(runs.get(DONE.id)?.status, 'done');
    assert.equal(runs.get(INTERRUPTED.id)?.status, 'interrupted');
    assert.equal(runs.get(INTERRUPTED.id)?.levels, 3);
  } finally {
    store.close();
  }
  const listed = await runCli(['runs', '--workspace', ws]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(DONE.id));
  assert.match(listed.stdout, new RegExp(INTERRUPTED.id));
});

test('after upgrading, the finished run is reported and the interrupted one resumes from its last level', async () => {
  const ws = copyFixture();
  const store = openStore(ws, { create: true });
  try {
    const done = recorder();
    const doneResult = await executeRun({ ...resolveRun('lenet-mnist', DONE.overrides, true) }, { store, environment: standInEnvironment(), reporter: done.reporter });
    assert.equal(doneResult.cached, true);
    assert.equal((done.events[0] as RunStartEvent).mode, 'done');
    assert.equal(doneResult.levels, 3);

    const resumed = recorder();
    const request = resolveRun('lenet-mnist', INTERRUPTED.overrides, true);
    const result = await executeRun(request, { store, environment: standInEnvironment(), reporter: resumed.reporter });
    const start = resumed.events[0] as RunStartEvent;
    assert.equal(start.run, INTERRUPTED.id);
    assert.equal(start.mode, 'resume');
    assert.equal(start.resumeFrom, 2);
    assert.equal(result.status, 'done');
    assert.equal(result.levels, 5);
    assert.equal(store.getRun(INTERRUPTED.id)?.status, 'done');

    // The resumed run ends with the records of the same run made from scratch by this version.
    const fresh = openStore(join(mkdtempSync(join(tmpdir(), 'rlth-upgrade-fresh-')), 'ws'), { create: true });
    try {
      await executeRun(request, { store: fresh, environment: standInEnvironment(), reporter: recorder().reporter });
      assert.deepEqual(withoutTimings(store.levelRecords(INTERRUPTED.id)), withoutTimings(fresh.levelRecords(INTERRUPTED.id)));
    } finally {
      fresh.close();
    }
  } finally {
    store.close();
  }

  const out = join(ws, 'report');
  const report = await runCli(['report', '--all', '--workspace', ws, '--out', out, '--format', 'html,csv']);
  assert.equal(report.code, 0, report.stderr);
  assert.ok(existsSync(join(out, 'report.html')));
  const page = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(page, new RegExp(DONE.id));
  assert.match(page, new RegExp(INTERRUPTED.id));
});
