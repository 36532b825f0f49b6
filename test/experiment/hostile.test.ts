/**
 * Hostile conditions below the CLI (issue 15): the disk filling up during a database write, a run
 * whose levels no longer prune anything, an empty training split, and how the CLI reports a real
 * bug (internal error) as opposed to a user error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { UserError } from '../../src/errors.js';
import { reportCliError } from '../../src/cli/exit.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { checkDataset } from '../../src/experiment/environment.js';
import { resolveRun } from '../../src/experiment/resolve.js';
import { executeRun, type RunReporter } from '../../src/experiment/runner.js';
import { DATABASE_FILE, openStore } from '../../src/experiment/store.js';
import { runLottery } from '../../src/prune/lottery.js';
import type { LevelRecord } from '../../src/prune/records.js';
import { tinyConfig, tinyDataset, tinyModel } from '../prune/tiny.js';
import { standInEnvironment, withoutTimings } from './stand-in.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `rlth-hostile-${name}-`));
const quiet: RunReporter = { runStart() {}, level() {}, progress() {}, runDone() {} };

test('disk full during a database write: a UserError naming the workspace; the store stays intact and the run resumes', async () => {
  const request = resolveRun('lenet-mnist', [
    { key: 'pruning.maxLevels', value: 12 },
    { key: 'training.iterations', value: 10 },
  ], false);

  // The reference: the same run on a store without a size limit.
  const refWs = tmp('full-ref');
  const refStore = openStore(refWs, { create: true });
  await executeRun(request, { store: refStore, environment: standInEnvironment(), reporter: quiet });
  const reference = withoutTimings(refStore.levelRecords((await import('../../src/experiment/run-id.js')).runId(request.config)));
  refStore.close();

  const ws = tmp('full');
  const store = openStore(ws, { create: true });
  // A real SQLITE_FULL from SQLite: the database may not grow past a few pages more than it has.
  const db = (store as unknown as { db: Database.Database }).db;
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages + 6}`);
  await assert.rejects(
    executeRun(request, { store, environment: standInEnvironment(), reporter: quiet }),
    (err: unknown) => {
      assert.ok(err instanceof UserError, `a UserError, got ${String(err)}`);
      assert.match(err.message, new RegExp(`workspace ${ws.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the disk is full`));
      assert.equal(err.message.includes('\n'), false, 'one line');
      return true;
    },
  );
  store.close();

  const again = openStore(ws, { create: true });
  try {
    const id = (await import('../../src/experiment/run-id.js')).runId(request.config);
    const stored = again.levelRecords(id);
    assert.ok(stored.length > 0 && stored.length < reference.length, `some levels stored before the disk filled (${stored.length})`);
    assert.deepEqual(withoutTimings(stored), reference.slice(0, stored.length), 'the stored levels are intact');
    await executeRun(request, { store: again, environment: standInEnvironment(), reporter: quiet });
    assert.deepEqual(withoutTimings(again.levelRecords(id)), reference, 'the resumed run ends as the uninterrupted one');
  } finally {
    again.close();
  }
});

test("a level that prunes nothing ends the run ('nothing-pruned') instead of repeating itself", async () => {
  const records: LevelRecord[] = [];
  // Every weight excluded from pruning: level 0 prunes nothing, so level 1 would be the same net.
  const config = tinyConfig({ training: { iterations: 5 }, pruning: { maxLevels: 50, excludeFromPruning: ['fc1.weight', 'fc2.weight', 'fc3.weight'] } });
  const stops: Array<string | null> = [];
  const { stopReason } = await runLottery(config, { kernels: referenceKernels(), dataset: tinyDataset(), buildModel: tinyModel }, {
    onLevel: (r, c) => {
      records.push(r);
      stops.push(c.stopReason);
    },
  });
  assert.equal(stopReason, 'nothing-pruned');
  assert.equal(records.length, 1);
  assert.deepEqual(stops, ['nothing-pruned']);

  // A run that prunes keeps going as before.
  const pruning: LevelRecord[] = [];
  const normal = await runLottery(tinyConfig({ training: { iterations: 5 }, pruning: { maxLevels: 2 } }), { kernels: referenceKernels(), dataset: tinyDataset(), buildModel: tinyModel }, {
    onLevel: (r) => void pruning.push(r),
  });
  assert.equal(normal.stopReason, 'max-levels');
  assert.equal(pruning.length, 3);
});

test('an empty training split is refused with the dataset named', () => {
  const ds = tinyDataset();
  assert.doesNotThrow(() => checkDataset(ds));
  const empty = { ...ds, train: { count: 0, images: new Uint8Array(0), labels: new Uint8Array(0) } };
  assert.throws(() => checkDataset(empty), (e: unknown) => e instanceof UserError && /tiny: the training split is empty/.test(e.message));
  const emptyTest = { ...ds, test: { count: 0, images: new Uint8Array(0), labels: new Uint8Array(0) } };
  assert.throws(() => checkDataset(emptyTest), (e: unknown) => e instanceof UserError && /tiny: the test split is empty/.test(e.message));
});

test('the CLI prints a user error as one line and a bug as an internal error with how to report it', () => {
  const out: string[] = [];
  const write = (s: string) => void out.push(s);
  assert.equal(reportCliError(new UserError('x.yaml: bad \u001b[31mred\u001b[0m value'), write), 1);
  assert.equal(out.join(''), 'ramanujan: x.yaml: bad \\x1b[31mred\\x1b[0m value\n');
  out.length = 0;
  assert.equal(reportCliError(new TypeError('boom'), write), 70);
  const text = out.join('');
  assert.match(text, /^ramanujan: internal error \(a bug in ramanujan-lth, not a problem with your input\): TypeError: boom\n/);
  assert.match(text, /please report it/i);
  assert.match(text, /\n\s+at /, 'the stack trace is there for the report');
});

test('a damaged store, whichever page is damaged: opened, or refused in one line naming the file', async () => {
  const ws = tmp('damaged');
  const store = openStore(ws, { create: true });
  const request = resolveRun('lenet-mnist', [{ key: 'pruning.maxLevels', value: 30 }, { key: 'training.iterations', value: 10 }], false);
  await executeRun(request, { store, environment: standInEnvironment(), reporter: quiet });
  store.close();
  const dbPath = join(ws, DATABASE_FILE);
  const original = readFileSync(dbPath);
  const pageSize = original.readUInt16BE(16);
  const copy = tmp('damaged-copy');
  const copyPath = join(copy, DATABASE_FILE);
  let refused = 0;
  let several = 0;
  for (let page = 1; page < original.length / pageSize; page++) {
    // The second half of one page zeroed: cells, free blocks and pointers of that page go wrong.
    const bytes = Buffer.from(original);
    bytes.fill(0, page * pageSize + pageSize / 2, (page + 1) * pageSize);
    writeFileSync(copyPath, bytes);
    try {
      openStore(copy, { readonly: true }).close();
    } catch (err) {
      assert.ok(err instanceof UserError, `page ${page}: a UserError, got ${String(err)}`);
      assert.equal(err.message.includes('\n'), false, `page ${page}: one line, got ${err.message}`);
      assert.match(err.message, new RegExp(`^${copyPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the database is damaged \\(`));
      refused++;
      if (/more problem/.test(err.message)) several++;
    }
    assert.deepEqual(readFileSync(copyPath), bytes, `page ${page}: left as it is`);
  }
  assert.ok(refused > 0 && several > 0, `some damage is found, some with several problems (${refused}, ${several})`);
  copyFileSync(dbPath, copyPath);
  openStore(copy, { readonly: true }).close();
});
