/**
 * `ramanujan merge` (src/experiment/merge.ts) on workspaces made by the stand-in loop: copies
 * every run with its checkpoints, is idempotent, takes the copy that got further, refuses two
 * copies with different results (records or checkpoint bytes) with one line naming both, refuses
 * a store with columns it does not know, and leaves the target consistent when it fails or is
 * killed between copying files and committing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { UserError } from '../../src/errors.js';
import { checkWorkspace, mergeWorkspaces } from '../../src/experiment/merge.js';
import { runId } from '../../src/experiment/run-id.js';
import { executeRun } from '../../src/experiment/runner.js';
import { parseExperimentConfig, type ExperimentConfig } from '../../src/experiment/schema.js';
import { DATABASE_FILE, openStore } from '../../src/experiment/store.js';
import { standInEnvironment, withoutTimings } from './stand-in.js';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, `stand-in-cli${extname(fileURLToPath(import.meta.url))}`);
const nodeArgs = entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `rlth-merge-${name}-`));
const quiet = { runStart: () => {}, level: () => {}, progress: () => {}, runDone: () => {} };

function config(seed: number, maxLevels = 4): ExperimentConfig {
  return parseExperimentConfig({ seed, pruning: { maxLevels, bound: true }, training: { iterations: 10 } }, 'test');
}

/** Runs `cfg` in `ws` with the stand-in loop; with `stopAfter`, interrupts it after that level. */
async function makeRun(ws: string, cfg: ExperimentConfig, opts: { stopAfter?: number; failAt?: number } = {}): Promise<string> {
  const store = openStore(ws, { create: true });
  const controller = new AbortController();
  try {
    await executeRun(
      { config: cfg, label: `seed=${cfg.seed}`, preset: null },
      {
        store,
        environment: standInEnvironment({ failAtLevel: opts.failAt ?? null }),
        signal: controller.signal,
        reporter: { ...quiet, level: (e) => (e.level === opts.stopAfter ? controller.abort(new Error('interrupted')) : undefined) },
      },
    );
  } catch {
    // interrupted or failed on purpose
  } finally {
    store.close();
  }
  return runId(cfg);
}

/** Everything of a run that must survive a merge: records, status, and checkpoint bytes. */
function dump(ws: string, id: string) {
  const store = openStore(ws);
  try {
    const run = store.getRun(id);
    assert.ok(run, `run ${id} in ${ws}`);
    const dir = join(ws, 'runs', id);
    const files = Object.fromEntries(
      store.levelStates(id).map((s) => [s.checkpoint, readFileSync(join(ws, s.checkpoint)).toString('base64')]),
    );
    if (run.levels > 0) files.rewind = readFileSync(join(dir, 'rewind.safetensors')).toString('base64');
    return { status: run.status, label: run.label, stopReason: run.stopReason, levels: run.levels, records: withoutTimings(store.levelRecords(id)), files };
  } finally {
    store.close();
  }
}

function tableCounts(ws: string): Record<string, number> {
  const db = new Database(join(ws, DATABASE_FILE), { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>).map((t) => t.name);
    return Object.fromEntries(tables.map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM "${t}"`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

test('merge copies every run with its checkpoints; merging again changes nothing', async () => {
  const a = tmp('a');
  const b = tmp('b');
  const target = join(tmp('target'), 'ws');
  const done = await makeRun(a, config(0));
  const interrupted = await makeRun(a, config(1), { stopAfter: 1 });
  const failed = await makeRun(b, config(2), { failAt: 2 });
  const outcomes = mergeWorkspaces([a, b], target);
  assert.deepEqual(outcomes.map((o) => [o.run, o.action, o.status]), [
    [done, 'added', 'done'],
    [interrupted, 'added', 'interrupted'],
    [failed, 'added', 'failed'],
  ]);
  for (const [ws, id] of [[a, done], [a, interrupted], [b, failed]]) assert.deepEqual(dump(target, id), dump(ws, id));
  assert.equal(dump(target, interrupted).levels, 2);
  assert.deepEqual(checkWorkspace(target), []);

  const before = tableCounts(target);
  const again = mergeWorkspaces([a, b], target);
  assert.deepEqual(again.map((o) => o.action), ['unchanged', 'unchanged', 'unchanged']);
  assert.deepEqual(tableCounts(target), before, 'a second merge adds no rows (no events either)');

  // The merged store resumes like the original: finishing the interrupted run there works.
  await makeRun(target, config(1));
  assert.equal(dump(target, interrupted).status, 'done');
});

test('merge takes the copy that got further, whichever order the copies come in', async () => {
  const partial = tmp('partial');
  const full = tmp('full');
  const id = await makeRun(partial, config(3, 5), { stopAfter: 2 });
  await makeRun(full, config(3, 5));
  const t1 = tmp('t1');
  assert.deepEqual(mergeWorkspaces([partial, full], t1).map((o) => o.action), ['added', 'updated']);
  assert.deepEqual(dump(t1, id), dump(full, id));
  assert.deepEqual(checkWorkspace(t1), []);
  const t2 = tmp('t2');
  assert.deepEqual(mergeWorkspaces([full, partial], t2).map((o) => o.action), ['added', 'unchanged']);
  assert.deepEqual(dump(t2, id), dump(full, id));
  // The event log of the merged run is the source's, plus one 'merged' event naming it.
  const store = openStore(t1);
  const events = store.events(id);
  store.close();
  assert.equal(events.filter((e) => e.event === 'merged').length, 1);
  assert.deepEqual((events.at(-1)!.data as { from: string }).from, full);
});

test('two copies of a run with different results are refused, naming both stores', async () => {
  const a = tmp('ca');
  const id = await makeRun(a, config(4));
  const other = await makeRun(a, config(5));
  const b = tmp('cb');
  cpSync(a, b, { recursive: true });
  // A different accuracy at level 2 in b.
  const db = new Database(join(b, DATABASE_FILE));
  db.prepare('UPDATE levels SET accuracy = accuracy + 0.01 WHERE run_id = ? AND level = 2').run(id);
  db.close();
  const target = tmp('ct');
  mergeWorkspaces([a], target);
  const before = tableCounts(target);
  const outcomes = mergeWorkspaces([b], target);
  const conflict = outcomes.find((o) => o.run === id)!;
  assert.equal(conflict.action, 'conflict');
  assert.ok(conflict.note.includes(b) && conflict.note.includes(target) && conflict.note.includes(`merged from ${a}`), conflict.note);
  assert.match(conflict.note, /levels\.accuracy at level 2/);
  assert.equal(conflict.note.split('\n').length, 1);
  assert.equal(outcomes.find((o) => o.run === other)!.action, 'unchanged', 'the other run is merged all the same');
  assert.deepEqual(tableCounts(target), before);

  // Through the CLI: one line on stderr naming both, exit code 1.
  const r = spawnSync(process.execPath, [...nodeArgs, 'merge', b, '--into', target], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0], new RegExp(`^ramanujan: run ${id}: ${b} and ${target} \\(merged from ${a}\\) hold different results`));
  assert.match(lines[1], /1 run not merged/);

  // Same records, different checkpoint bytes: refused too.
  const c = tmp('cc');
  cpSync(a, c, { recursive: true });
  const file = join(c, 'runs', id, 'level-0001.safetensors');
  const bytes = readFileSync(file);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(file, bytes);
  const fileConflict = mergeWorkspaces([c], target).find((o) => o.run === id)!;
  assert.equal(fileConflict.action, 'conflict');
  assert.match(fileConflict.note, /different checkpoints \(runs\/[0-9a-f]+\/level-0001\.safetensors\)/);
});

test('a failure between copying the files and the commit leaves the target as it was', async () => {
  const src = tmp('fs');
  const first = await makeRun(src, config(6));
  const second = await makeRun(src, config(7));
  const target = tmp('ft');
  await makeRun(target, config(8)); // the target has a run of its own
  const before = tableCounts(target);
  assert.throws(
    () => mergeWorkspaces([src], target, { beforeCommit: (id) => {
      if (id === second) throw new Error('injected failure');
    } }),
    /injected failure/,
  );
  // The first run committed, the second not: its files were copied but no row refers to them.
  assert.deepEqual(checkWorkspace(target), []);
  assert.equal(tableCounts(target).runs, before.runs + 1);
  assert.ok(existsSync(join(target, 'runs', second, 'level-0000.safetensors')), 'files are copied before the commit');
  assert.equal(openStore(target).getRun(second), null);
  const again = mergeWorkspaces([src], target);
  assert.deepEqual(again.map((o) => [o.run, o.action]), [[first, 'unchanged'], [second, 'added']]);
  assert.deepEqual(dump(target, second), dump(src, second));
  assert.deepEqual(checkWorkspace(target), []);
});

test('merge killed with SIGKILL at random moments: the target stays consistent and a rerun completes it', { timeout: 120_000 }, async () => {
  const shards: string[] = [];
  const ids: string[] = [];
  for (let seed = 10; seed < 16; seed++) {
    const ws = tmp(`k${seed}`);
    ids.push(await makeRun(ws, config(seed, 6), seed % 3 === 0 ? { stopAfter: 3 } : {}));
    shards.push(ws);
  }
  const merge = (target: string) => spawn(process.execPath, [...nodeArgs, 'merge', ...shards, '--into', target], { stdio: 'ignore' });
  const exit = (child: ReturnType<typeof spawn>) => new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  // How long an uninterrupted merge takes (process start included), to kill inside that window.
  const t0 = Date.now();
  const full = await exit(merge(tmp('kfull')));
  assert.equal(full.code, 0);
  const window = Date.now() - t0;

  const target = tmp('ktarget');
  const delays: number[] = [];
  let killed = 0;
  for (let i = 0; i < 8; i++) {
    const delay = Math.round(Math.random() * window);
    delays.push(delay);
    const child = merge(target);
    const ended = exit(child);
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    if ((await ended).signal === 'SIGKILL') killed++;
    if (existsSync(join(target, DATABASE_FILE))) assert.deepEqual(checkWorkspace(target), [], `after a kill at ${delay} ms`);
  }
  assert.ok(killed > 0, `no merge was killed mid-way (delays ${delays.join(', ')} ms, window ${window} ms)`);
  const last = await exit(merge(target));
  assert.equal(last.code, 0);
  assert.deepEqual(checkWorkspace(target), []);
  for (let i = 0; i < shards.length; i++) assert.deepEqual(dump(target, ids[i]), dump(shards[i], ids[i]), `run ${ids[i]} (delays ${delays.join(', ')} ms)`);
  // No temporary file is left referenced; those left by a killed copy are only in run folders.
  for (const id of ids) {
    for (const f of readdirSync(join(target, 'runs', id))) assert.ok(/^(rewind|level-\d{4})\.safetensors$/.test(f) || /^\..*\.tmp$/.test(f), f);
  }
});

test('a column the store gains later (added in both stores) is merged too', async () => {
  const src = tmp('xs');
  const id = await makeRun(src, config(40));
  const target = tmp('xt');
  openStore(target, { create: true }).close();
  for (const ws of [src, target]) {
    const db = new Database(join(ws, DATABASE_FILE));
    db.exec('ALTER TABLE layers ADD COLUMN extra REAL');
    if (ws === src) db.prepare('UPDATE layers SET extra = level * 10 + position WHERE run_id = ?').run(id);
    db.close();
  }
  mergeWorkspaces([src], target);
  const db = new Database(join(target, DATABASE_FILE), { readonly: true });
  const rows = db.prepare('SELECT level, position, extra FROM layers WHERE run_id = ? ORDER BY level, position').all(id) as Array<{ level: number; position: number; extra: number }>;
  db.close();
  assert.ok(rows.length > 0);
  for (const r of rows) assert.equal(r.extra, r.level * 10 + r.position);
});

test('merge refuses bad sources with one message: missing, not a store, newer columns, escaping paths', async () => {
  const target = tmp('bt');
  assert.throws(() => mergeWorkspaces([join(target, 'nope')], target), (e: unknown) => e instanceof UserError && /no such workspace folder/.test(e.message));
  const notStore = tmp('bn');
  writeFileSync(join(notStore, DATABASE_FILE), 'hello');
  assert.throws(() => mergeWorkspaces([notStore], target), (e: unknown) => e instanceof UserError && /not a ramanujan-lth run store/.test(e.message));
  assert.throws(() => mergeWorkspaces([target], target), (e: unknown) => e instanceof UserError && /is the merge target itself/.test(e.message));
  const good = tmp('bg');
  await makeRun(good, config(22));
  assert.throws(() => mergeWorkspaces([good, join(good, 'runs')], target), (e: unknown) => e instanceof UserError && /no run store/.test(e.message));
  assert.equal(existsSync(join(target, DATABASE_FILE)), false, 'a bad source given after a good one: nothing merged, no target made');

  const newer = tmp('bw');
  await makeRun(newer, config(20));
  const db = new Database(join(newer, DATABASE_FILE));
  db.exec('ALTER TABLE levels ADD COLUMN sparkle REAL');
  db.close();
  assert.throws(() => mergeWorkspaces([newer], target), (e: unknown) => e instanceof UserError && /newer ramanujan-lth \(column sparkle of table levels/.test(e.message));

  const escaping = tmp('be');
  const id = await makeRun(escaping, config(21));
  const db2 = new Database(join(escaping, DATABASE_FILE));
  db2.prepare("UPDATE levels SET checkpoint = 'runs/' || run_id || '/../../../etc/passwd' WHERE level = 1").run();
  db2.close();
  assert.throws(() => mergeWorkspaces([escaping], target), (e: unknown) => e instanceof UserError && new RegExp(`run ${id} level 1 names the checkpoint`).test(e.message));
  assert.deepEqual(tableCounts(target).runs, 0);
  // (the escaping source was refused after the target was made: its checks need the target's tables)
});

test('a run held by a process on another host is merged as interrupted; one held here is skipped', async () => {
  const remote = tmp('hr');
  const id = await makeRun(remote, config(30), { stopAfter: 1 });
  const db = new Database(join(remote, DATABASE_FILE));
  db.prepare("UPDATE runs SET status = 'running', owner_pid = 4242, owner_host = 'node-17', owner_token = 'x' WHERE id = ?").run(id);
  db.close();
  const target = tmp('ht');
  const [o] = mergeWorkspaces([remote], target);
  assert.equal(o.action, 'added');
  assert.equal(o.status, 'interrupted');
  assert.match(o.note, /held by process 4242 on host node-17/);
  const store = openStore(target);
  assert.equal(store.getRun(id)!.status, 'interrupted');
  assert.equal(store.getRun(id)!.owner, null);
  store.close();

  // Held by this very process (alive, this host): skipped.
  const local = tmp('hl');
  const lid = await makeRun(local, config(31), { stopAfter: 1 });
  const db2 = new Database(join(local, DATABASE_FILE));
  db2.prepare("UPDATE runs SET status = 'running', owner_pid = ?, owner_host = ?, owner_start = NULL, owner_token = 'y' WHERE id = ?").run(process.pid, (await import('node:os')).hostname(), lid);
  db2.close();
  const [s] = mergeWorkspaces([local], target);
  assert.equal(s.action, 'skipped');
  assert.match(s.note, new RegExp(`still running in process ${process.pid}`));
});
