import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { UserError } from '../../src/errors.js';
import { currentOwner, ownerAlive } from '../../src/experiment/owner.js';
import { runId } from '../../src/experiment/run-id.js';
import { parseExperimentConfig } from '../../src/experiment/schema.js';
import { APPLICATION_ID, DATABASE_FILE, openStore } from '../../src/experiment/store.js';
import type { LevelRecord } from '../../src/prune/records.js';
import { standInLoop } from './stand-in.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `rlth-${name}-`));

/** Records from the stand-in loop (with decisions, +Infinity and null metrics). */
async function sampleRecords(levels: number): Promise<LevelRecord[]> {
  const config = parseExperimentConfig({ pruning: { maxLevels: levels, bound: true }, training: { iterations: 10 } }, 'x');
  const records: LevelRecord[] = [];
  await standInLoop()(config, {} as never, { onLevel: (r) => void records.push(r) });
  return records;
}

function expectUserError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UserError && pattern.test(err.message));
}

test('level records round-trip through the store exactly (Infinity, null, decisions, noisy order)', async () => {
  const ws = tmp('store');
  const store = openStore(ws, { create: true });
  const config = parseExperimentConfig({ seed: 4 }, 'x');
  const id = runId(config);
  const claim = store.claimRun({ id, config, label: 'test', preset: null });
  assert.equal(claim.kind, 'claimed');
  const records = await sampleRecords(3);
  assert.ok(records.some((r) => r.layers.some((l) => l.unweighted.deltaS === Infinity)), 'sample has +Infinity');
  assert.ok(records.some((r) => r.layers.some((l) => l.weighted.eb === null)), 'sample has null');
  records[1] = { ...records[1], trainLoss: Number.NaN };
  for (const r of records) {
    store.recordLevel(id, claim.kind === 'claimed' ? claim.token : '', r, { checkpoint: `runs/${id}/level-${r.level}`, finished: false, stopReason: null });
  }
  const back = store.levelRecords(id);
  assert.deepEqual(back, records);
  assert.deepEqual(Object.keys(back[0].accuracy.noisy), ['0.1', '0.2', '0.3', '0.4', '0.5']);
  assert.ok(back[2].decisions && back[2].decisions[0].attempts.length === 1);
  const runs = store.listRuns();
  assert.equal(runs.length, 1);
  assert.equal(runs[0].status, 'running');
  assert.equal(runs[0].levels, 4);
  assert.equal(runs[0].density, records[3].density);
  assert.equal(runs[0].accuracy, records[3].accuracy.clean);
  assert.deepEqual(runs[0].config, config);
  // A level rewritten by a rerun replaces the old rows (and those after it).
  store.recordLevel(id, claim.kind === 'claimed' ? claim.token : '', records[2], { checkpoint: 'x', finished: false, stopReason: null });
  assert.equal(store.levelRecords(id).length, 3);
  store.close();
});

test('a run held by a live process is refused; a dead holder is taken over; done runs are not claimed', async () => {
  const ws = tmp('lock');
  const a = openStore(ws, { create: true });
  const b = openStore(ws);
  const config = parseExperimentConfig({ seed: 9 }, 'x');
  const id = runId(config);
  const first = a.claimRun({ id, config, label: 'l', preset: null });
  assert.equal(first.kind, 'claimed');
  expectUserError(() => b.claimRun({ id, config, label: 'l', preset: null }), new RegExp(`run ${id} is already running in process ${process.pid}`));
  assert.equal(b.getRun(id)!.status, 'running');

  // Pretend the holder was a process that has exited (a SIGKILLed one leaves its row like this).
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(gone.stdout);
  assert.equal(ownerAlive({ ...currentOwner(), pid: deadPid, start: null }), false);
  const raw = new Database(join(ws, DATABASE_FILE));
  raw.prepare('UPDATE runs SET owner_pid = ?, owner_start = ? WHERE id = ?').run(deadPid, null, id);
  raw.close();
  assert.equal(b.getRun(id)!.status, 'interrupted', 'a dead holder shows as interrupted');
  const second = b.claimRun({ id, config, label: 'l', preset: null });
  assert.equal(second.kind, 'claimed');
  assert.equal(second.kind === 'claimed' && second.created, false);
  // The old holder's token no longer works.
  const level0 = (await sampleRecords(0))[0];
  assert.throws(() => a.recordLevel(id, first.kind === 'claimed' ? first.token : '', level0, { checkpoint: 'c', finished: true, stopReason: 's' }), /no longer holds/);
  // A pid reused by another process (different start time) is not the holder either.
  assert.equal(ownerAlive({ ...currentOwner(), start: 'not-my-start-time' }), false);
  assert.equal(ownerAlive(currentOwner()), true);

  b.releaseRun(id, second.kind === 'claimed' ? second.token : '', { status: 'done', stopReason: 'test' });
  const again = a.claimRun({ id, config, label: 'l', preset: null });
  assert.equal(again.kind, 'done');
  assert.equal(a.getRun(id)!.status, 'done');
  assert.equal(a.getRun(id)!.owner, null);
  a.close();
  b.close();
});

test('a foreign or damaged database file is reported and left untouched', () => {
  const text = tmp('foreign-text');
  writeFileSync(join(text, DATABASE_FILE), 'this is not a database\n'.repeat(10));
  const before = readFileSync(join(text, DATABASE_FILE));
  expectUserError(() => openStore(text, { create: true }), /not a ramanujan-lth run store \(not a SQLite database\); it was left as it is/);
  assert.deepEqual(readFileSync(join(text, DATABASE_FILE)), before);

  const other = tmp('foreign-sqlite');
  const db = new Database(join(other, DATABASE_FILE));
  db.exec('CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES (1)');
  db.close();
  const otherBefore = readFileSync(join(other, DATABASE_FILE));
  expectUserError(() => openStore(other, { create: true }), /a SQLite database of another program/);
  assert.deepEqual(readFileSync(join(other, DATABASE_FILE)), otherBefore);
  assert.equal(existsSync(join(other, `${DATABASE_FILE}-wal`)), false);

  // Our header, damaged pages.
  const damaged = tmp('damaged');
  openStore(damaged, { create: true }).close();
  const bytes = readFileSync(join(damaged, DATABASE_FILE));
  assert.equal(bytes.readUInt32BE(68), APPLICATION_ID);
  for (let i = 100; i < bytes.length; i += 7) bytes[i] = 0xa5;
  writeFileSync(join(damaged, DATABASE_FILE), bytes);
  expectUserError(() => openStore(damaged), /the database is damaged/);
  assert.deepEqual(readFileSync(join(damaged, DATABASE_FILE)), bytes);

  const empty = tmp('empty');
  writeFileSync(join(empty, DATABASE_FILE), '');
  expectUserError(() => openStore(empty), /not a SQLite database/);
});

test('reading a missing workspace creates nothing; a file as workspace is refused', () => {
  const base = tmp('missing');
  const ws = join(base, 'nope');
  expectUserError(() => openStore(ws), /no run store/);
  assert.equal(existsSync(ws), false);
  writeFileSync(join(base, 'file'), 'x');
  expectUserError(() => openStore(join(base, 'file'), { create: true }), /is a file, expected a folder/);
});

test('run ids resolve from unique prefixes', () => {
  const ws = tmp('prefix');
  const store = openStore(ws, { create: true });
  const ids: string[] = [];
  for (let seed = 0; seed < 5; seed++) {
    const config = parseExperimentConfig({ seed }, 'x');
    ids.push(runId(config));
    store.claimRun({ id: runId(config), config, label: `s${seed}`, preset: null });
  }
  assert.equal(store.resolveRunId(ids[3].slice(0, 10)), ids[3]);
  expectUserError(() => store.resolveRunId('zz'), /at least 4 hex digits/);
  expectUserError(() => store.resolveRunId('ffffffffffffffff'), /no such run/);
  // Two ids sharing a prefix (ids are given to claimRun, so any text works here).
  store.claimRun({ id: 'abcd000000000001', config: parseExperimentConfig({ seed: 100 }, 'x'), label: 'a', preset: null });
  store.claimRun({ id: 'abcd000000000002', config: parseExperimentConfig({ seed: 101 }, 'x'), label: 'b', preset: null });
  expectUserError(() => store.resolveRunId('abcd'), /"abcd" is ambiguous: abcd000000000001, abcd000000000002/);
  assert.equal(store.resolveRunId('abcd000000000002'), 'abcd000000000002');
  store.close();
});

test('two processes write to one workspace at once without damage', async () => {
  const ws = tmp('concurrent');
  openStore(ws, { create: true }).close();
  const script = `
    import { openStore } from ${JSON.stringify(new URL('../../src/experiment/store.js', import.meta.url).href.replace(/\.js$/, import.meta.url.endsWith('.ts') ? '.ts' : '.js'))};
    const store = openStore(process.argv[1]);
    for (let i = 0; i < 200; i++) store.addEvent(null, 'ping', { i, pid: process.pid });
    store.close();
  `;
  const { spawn } = await import('node:child_process');
  const tsxArgs = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const children = [0, 1, 2].map(
    () =>
      new Promise<number>((resolve) => {
        const c = spawn(process.execPath, [...tsxArgs, '--input-type=module', '-e', script, ws], { stdio: 'inherit' });
        c.on('exit', (code) => resolve(code ?? -1));
      }),
  );
  assert.deepEqual(await Promise.all(children), [0, 0, 0]);
  const db = new Database(join(ws, DATABASE_FILE), { readonly: true });
  assert.equal((db.prepare("SELECT COUNT(*) AS n FROM events WHERE event = 'ping'").get() as { n: number }).n, 600);
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
});
