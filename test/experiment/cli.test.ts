/**
 * The experiment commands as a user runs them, in child processes (wired to the stand-in loop by
 * stand-in-cli.ts): bad input, JSON events, SIGKILL and resume, a concurrent attempt, Ctrl-C,
 * sweeps with a failing run, listing, presets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeEvent } from '../../src/experiment/events.js';
import { openStore } from '../../src/experiment/store.js';
import { PRESETS } from '../../src/experiment/presets.js';
import { configFields } from '../../src/experiment/schema.js';
import { withoutTimings } from './stand-in.js';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, `stand-in-cli${extname(fileURLToPath(import.meta.url))}`);
const nodeArgs = entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `rlth-cli-${name}-`));

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [...nodeArgs, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** Starts the CLI and calls `onLine` for every stdout line. */
function start(args: string[], env: Record<string, string>, onLine: (line: string, child: ChildProcess) => void) {
  const child = spawn(process.execPath, [...nodeArgs, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line, child);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exited };
}

const RUN = ['run', 'lenet-mnist', '--set', 'pruning.maxLevels=6', '--set', 'training.iterations=10', '--json'];

test('bad input: one clear message, non-zero exit, no stack trace, nothing written', () => {
  const ws = join(tmp('bad'), 'workspace');
  const cases: Array<[string[], RegExp]> = [
    [['run', 'lenet-mnst'], /"lenet-mnst" is neither a preset nor a file; presets: lenet-mnist/],
    [['run', 'lenet-mnist', '--set', 'training.lrr=0.1'], /unknown key "training\.lrr" \(did you mean training\.lr\?\)/],
    [['run', 'lenet-mnist', '--set', 'pruning.pFc=1.5'], /pruning\.pFc: got 1\.5; allowed: number > 0 and < 1/],
    [['run', 'lenet-mnist', '--set', 'training.batchSize=-60'], /training\.batchSize: got -60; allowed: integer > 0/],
    [['run', 'lenet-mnist', '--set', 'model=conv4'], /model conv4 does not run on mnist; allowed: cifar10/],
    [['run', 'lenet-mnist', '--set', 'training.iterations=many'], /training\.iterations: got "many"; allowed: integer > 0/],
    [['run', 'lenet-mnist', '--set', 'nokey'], /expected key\.path=value/],
    [['sweep', 'no-such.yaml'], /"no-such\.yaml" is neither a preset nor a sweep file/],
  ];
  for (const [args, pattern] of cases) {
    const r = cli([...args, '--workspace', ws]);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(ws), false, `${args.join(' ')}: nothing written`);
  }
  const runs = cli(['runs', '--workspace', ws]);
  assert.notEqual(runs.status, 0);
  assert.match(runs.stderr, /no run store/);
  assert.equal(existsSync(ws), false);
});

test('--json: one event per line with the fixed keys', () => {
  const ws = tmp('json');
  const r = cli([...RUN, '--workspace', ws]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const events = lines.map(decodeEvent);
  assert.deepEqual(events.map((e) => e.event), ['run-start', 'level', 'level', 'level', 'level', 'level', 'level', 'level', 'run-done']);
  const id = events[0].run as string;
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.ok(events.every((e) => e.run === id));
  const level = events[2];
  assert.equal(level.level, 1);
  assert.equal(typeof level.density, 'number');
  assert.ok(['fully', 'partially', 'non'].includes(level.regime as string));
  const accuracy = level.accuracy as { clean: number; noisy: Record<string, number> };
  assert.equal(typeof accuracy.clean, 'number');
  assert.deepEqual(Object.keys(accuracy.noisy), ['0.1', '0.2', '0.3', '0.4', '0.5']);
  const layers = level.layers as Array<Record<string, unknown>>;
  assert.deepEqual(layers.map((l) => l.name), ['fc1.weight', 'fc2.weight', 'fc3.weight']);
  assert.ok(layers.every((l) => typeof l.density === 'number' && typeof (l.unweighted as { t1: number }).t1 === 'number'));
  // +Infinity is written as a string and read back.
  assert.match(lines[2], /"deltaS":"Infinity"/);
  assert.equal((layers[2].unweighted as { deltaS: number }).deltaS, Infinity);
  const done = events[events.length - 1];
  assert.deepEqual([done.status, done.levels, done.cached], ['done', 7, false]);

  const list = cli(['runs', '--workspace', ws, '--json']);
  assert.equal(list.status, 0, list.stderr);
  const runs = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
  assert.equal(runs.length, 1);
  assert.deepEqual(
    { id: runs[0].id, status: runs[0].status, levels: runs[0].levels, density: runs[0].density, accuracy: runs[0].accuracy },
    { id, status: 'done', levels: 7, density: level.density === undefined ? null : done.density, accuracy: done.accuracy },
  );
  const table = cli(['runs', '--workspace', ws]);
  assert.match(table.stdout, new RegExp(`${id}.*done`));
  // `runs <id prefix>`: that run's per-level table, one row per level; --json with the records
  const one = cli(['runs', id.slice(0, 6), '--workspace', ws]);
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, new RegExp(`^run ${id}  .*  done`));
  assert.equal(one.stdout.split('\n').filter((l) => /^│\s+\d+\s+│/.test(l)).length, 7);
  const oneJson = JSON.parse(cli(['runs', id, '--workspace', ws, '--json']).stdout) as { id: string; records: Array<{ level: number }> };
  assert.equal(oneJson.id, id);
  assert.deepEqual(oneJson.records.map((r) => r.level), [0, 1, 2, 3, 4, 5, 6]);
  const unknown = cli(['runs', 'zzzz', '--workspace', ws]);
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /zzzz/);

  // Without --json the finished run ends with its per-level summary table (one row per level).
  const plain = cli(RUN.filter((a) => a !== '--json').concat(['--workspace', ws]));
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /level\s+│\s+density %\s+│\s+clean %\s+│\s+σ=0\.1 %/);
  const rows = plain.stdout.split('\n').filter((l) => /^│\s+\d+\s+│/.test(l));
  assert.equal(rows.length, 7);
  assert.match(rows[0], /100\.00/);
});

test('SIGKILL mid-run, then the same command: resumes and ends with the uninterrupted records', async () => {
  const killed = tmp('killed');
  const reference = tmp('reference');
  const env = { STANDIN_LEVEL_DELAY_MS: '300' };
  let id = '';
  const first = start([...RUN, '--workspace', killed], env, (line, child) => {
    const e = decodeEvent(line);
    if (e.event === 'run-start') id = e.run as string;
    if (e.event === 'level' && e.level === 1) child.kill('SIGKILL');
  });
  const exit = await first.exited;
  assert.equal(exit.signal, 'SIGKILL');
  const mid = openStore(killed);
  const run = mid.getRun(id)!;
  assert.equal(run.status, 'interrupted', 'a dead holder shows as interrupted');
  assert.ok(run.levels >= 2 && run.levels < 7, `killed after ${run.levels} levels`);
  mid.close();

  const rerun = cli([...RUN, '--workspace', killed]);
  assert.equal(rerun.status, 0, rerun.stderr);
  const events = rerun.stdout.trim().split('\n').map(decodeEvent);
  assert.equal(events[0].mode, 'resume');
  assert.equal(events.filter((e) => e.event === 'level' && e.replayed === false).length, 7 - run.levels);

  assert.equal(cli([...RUN, '--workspace', reference]).status, 0);
  const a = openStore(killed);
  const b = openStore(reference);
  assert.deepEqual(withoutTimings(a.levelRecords(id)), withoutTimings(b.levelRecords(id)));
  assert.equal(a.getRun(id)!.status, 'done');
  a.close();
  b.close();
});

test('a concurrent attempt at the same run is refused; Ctrl-C interrupts cleanly and the run resumes', async () => {
  const ws = tmp('concurrent');
  // Slow levels, so the first run is still going while the second attempt starts (a second or
  // two on a loaded machine).
  const env = { STANDIN_LEVEL_DELAY_MS: '1500' };
  let refused: ReturnType<typeof cli> | null = null;
  let pid = 0;
  const first = start([...RUN, '--workspace', ws], env, (line, child) => {
    const e = decodeEvent(line);
    if (e.event === 'level' && e.level === 0 && refused === null) {
      pid = child.pid!;
      refused = cli([...RUN, '--workspace', ws]);
      child.kill('SIGINT');
    }
  });
  const exit = await first.exited;
  assert.ok(refused !== null);
  const second = refused as ReturnType<typeof cli>;
  assert.notEqual(second.status, 0);
  assert.match(second.stderr, new RegExp(`is already running in process ${pid}; wait for it to finish or stop it`));
  assert.equal(exit.code, 130, exit.stderr);
  assert.match(exit.stderr, /interrupted; run the same command again to resume/);
  const store = openStore(ws);
  const [run] = store.listRuns();
  assert.equal(run.status, 'interrupted');
  store.close();
  const rerun = cli([...RUN, '--workspace', ws]);
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.equal(decodeEvent(rerun.stdout.split('\n')[0]).mode, 'resume');
});

test('sweep: runs over worker processes, a failing run does not stop the others, rerun resumes', () => {
  const ws = tmp('sweep');
  const file = join(ws, 'sweep.yaml');
  writeFileSync(file, ['base: lenet-mnist', 'set: { training.iterations: 10, pruning.maxLevels: 3 }', 'grid:', '  pruning.algorithm: [imp, random]', 'seeds: [0, 1]'].join('\n'));
  const dry = cli(['sweep', file, '--dry-run', '--workspace', ws]);
  assert.equal(dry.status, 0, dry.stderr);
  assert.equal(dry.stdout.trim().split('\n').length, 4);

  const r = cli(['sweep', file, '--workers', '2', '--workspace', ws], { STANDIN_FAIL_SEED: '1', STANDIN_FAIL_AT_LEVEL: '2' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /2 of 4 runs did not finish/);
  assert.match(r.stdout, /sweep sweep: 4 runs/);
  const table = r.stdout.slice(r.stdout.lastIndexOf('┌'));
  assert.equal((table.match(/│ done /g) ?? []).length, 2, table);
  assert.equal((table.match(/│ failed /g) ?? []).length, 2, table);
  assert.match(table, /stand-in failure at level 2/);

  const store = openStore(ws);
  const runs = store.listRuns();
  assert.equal(runs.length, 4);
  assert.deepEqual(runs.map((x) => x.status).sort(), ['done', 'done', 'failed', 'failed']);
  store.close();

  const again = cli(['sweep', file, '--workers', '2', '--workspace', ws, '--json']);
  assert.equal(again.status, 0, again.stderr);
  const events = again.stdout.trim().split('\n').map(decodeEvent);
  const summary = events[events.length - 1] as { event: string; runs: Array<{ status: string; cached: boolean; levels: number }> };
  assert.equal(summary.event, 'sweep-done');
  assert.deepEqual(summary.runs.map((x) => [x.status, x.cached, x.levels]).sort(), [
    ['done', false, 4],
    ['done', false, 4],
    ['done', true, 4],
    ['done', true, 4],
  ]);
  const starts = events.filter((e) => e.event === 'run-start').map((e) => e.mode).sort();
  assert.deepEqual(starts, ['done', 'done', 'resume', 'resume']);
});

test('sweep: killing the sweep process stops its workers at the next level; the rerun resumes', async () => {
  const ws = tmp('sweep-kill');
  const file = join(ws, 'sweep.yaml');
  writeFileSync(file, ['base: lenet-mnist', 'set: { training.iterations: 10, pruning.maxLevels: 400 }', 'grid:', '  pruning.algorithm: [imp, random]', 'seeds: [0]'].join('\n'));
  const env = { STANDIN_LEVEL_DELAY_MS: '50' };
  let levels = 0;
  let workers: number[] = [];
  const { exited } = start(['sweep', file, '--workers', '2', '--workspace', ws, '--json'], env, (line, child) => {
    if (decodeEvent(line).event === 'level' && ++levels === 6) {
      const store = openStore(ws);
      workers = store.listRuns().flatMap((r) => (r.owner ? [r.owner.pid] : []));
      store.close();
      child.kill('SIGKILL');
    }
  });
  const end = await exited;
  assert.equal(end.signal, 'SIGKILL', end.stderr);
  assert.equal(workers.length, 2, 'both runs were held by worker processes');
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  // 400 levels at 50 ms would keep an orphan busy for 20 s; a worker that notices must be gone in
  // 8 (it notices at its next level; a loaded 2-core machine can take seconds to get there)
  const deadline = Date.now() + 8000;
  while (workers.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(workers.filter(alive), [], 'no worker outlives the sweep');
  const store = openStore(ws);
  const runs = store.listRuns();
  assert.deepEqual(runs.map((r) => r.status), ['interrupted', 'interrupted']);
  for (const r of runs) assert.ok(r.levels < 100, `${r.id} stopped early (${r.levels} levels)`);
  store.close();
  const again = cli(['sweep', file, '--workers', '2', '--workspace', ws], { STANDIN_LEVEL_DELAY_MS: '0' });
  assert.equal(again.status, 0, again.stderr);
  const after = openStore(ws);
  assert.deepEqual(after.listRuns().map((r) => [r.status, r.levels]), [['done', 401], ['done', 401]]);
  after.close();
});

test('runs --delete: removes the named runs and their checkpoints; an unknown id deletes nothing', () => {
  const ws = tmp('delete');
  for (const seed of [0, 1]) assert.equal(cli([...RUN, '--set', `seed=${seed}`, '--workspace', ws]).status, 0);
  const store = openStore(ws);
  const [keep, drop] = store.listRuns().map((r) => r.id);
  const dropDir = store.runDir(drop);
  store.close();
  assert.ok(existsSync(dropDir));
  const bad = cli(['runs', '--delete', drop, 'ffffffff', '--workspace', ws]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /run id "ffffffff": no such run/);
  assert.ok(existsSync(dropDir), 'nothing deleted when one id is wrong');
  const r = cli(['runs', '--delete', drop.slice(0, 6), '--workspace', ws]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`deleted ${drop}`));
  assert.ok(!existsSync(dropDir), 'checkpoint folder removed');
  const after = openStore(ws);
  assert.deepEqual(after.listRuns().map((x) => x.id), [keep]);
  after.close();
});

test('presets: one line each', () => {
  const r = cli(['presets']);
  assert.equal(r.status, 0);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, PRESETS.length);
  for (const p of PRESETS) assert.ok(lines.some((l) => l.startsWith(`${p.name} `) && l.includes(`  ${p.reproduces}  `)), p.name);
});

test('run --help lists every config key with its description, from the schema', () => {
  const r = cli(['run', '--help']);
  assert.equal(r.status, 0);
  for (const group of configFields()) {
    for (const f of group.fields) assert.ok(r.stdout.includes(`${f.key} `) && r.stdout.includes(f.description), f.key);
  }
  assert.match(r.stdout, /training\.lr\s+learning rate \[number > 0; default 0\.0012\]/);
});

test('killed with SIGKILL at many moments (mid-level, mid-write), the run still ends with the uninterrupted records', async () => {
  const ws = tmp('many-kills');
  const reference = tmp('many-kills-reference');
  const args = ['run', 'lenet-mnist', '--set', 'pruning.maxLevels=12', '--set', 'training.iterations=10', '--json', '--workspace', ws];
  const env = { STANDIN_LEVEL_DELAY_MS: '15' };
  let id = '';
  const killAfter = async (delayMs: number) => {
    const { exited } = start(args, env, (line, child) => {
      const e = decodeEvent(line);
      if (e.event !== 'run-start') return;
      id = e.run as string;
      setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    await exited;
  };
  for (const delayMs of [3, 10, 20, 30, 45, 60]) await killAfter(delayMs);
  // On a loaded machine a level can take longer than the last delay: kill later and later until
  // some level has been stored (the resume below must have done work to replay), at most 6 times.
  const storedLevels = () => {
    const s = openStore(ws, { readonly: true });
    try {
      return id === '' ? 0 : s.levelRecords(id).length;
    } finally {
      s.close();
    }
  };
  for (let delayMs = 120; storedLevels() === 0 && delayMs <= 120 * 2 ** 5; delayMs *= 2) await killAfter(delayMs);
  const last = cli(args, env);
  assert.equal(last.status, 0, last.stderr);
  // The kills left work to do, and some of it had been done.
  const lastEvents = last.stdout.trim().split('\n').map(decodeEvent);
  assert.equal(lastEvents[0].mode, 'resume');
  const computed = lastEvents.filter((e) => e.event === 'level' && e.replayed === false).length;
  assert.ok(computed > 0 && computed < 13, `the last attempt computed ${computed} of 13 levels`);
  assert.equal(cli([...args.slice(0, -1), reference]).status, 0);
  const a = openStore(ws);
  const b = openStore(reference);
  assert.equal(a.levelRecords(id).length, 13);
  assert.deepEqual(withoutTimings(a.levelRecords(id)), withoutTimings(b.levelRecords(id)));
  a.close();
  b.close();
});
