/**
 * Collapsed layers in the store (schema version 2): the flag and the absent verdicts round-trip;
 * a store of version 1 is read as it is (the flag derived from its stored degrees, the regime of a
 * level whose analysed layers collapsed taken again) and is migrated only by a writer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { runId } from '../../src/experiment/run-id.js';
import { parseExperimentConfig } from '../../src/experiment/schema.js';
import { DATABASE_FILE, SCHEMA_VERSION, openStore } from '../../src/experiment/store.js';
import type { LevelRecord } from '../../src/prune/records.js';
import { standInLoop } from './stand-in.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `rlth-${name}-`));
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/stores/v1-standin', import.meta.url));
const INTERRUPTED = '22f5e059ffb2b9f6';

function copyFixture(): string {
  const ws = join(tmp('v1-copy'), 'ws');
  cpSync(FIXTURE, ws, { recursive: true });
  return ws;
}

function columns(ws: string, table: string): string[] {
  const db = new Database(join(ws, DATABASE_FILE), { readonly: true });
  try {
    return (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
  } finally {
    db.close();
  }
}

function userVersion(ws: string): number {
  const db = new Database(join(ws, DATABASE_FILE), { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

test('a collapsed layer round-trips: the flag, no verdicts, its raw metrics, the regime', async () => {
  const config = parseExperimentConfig({ pruning: { maxLevels: 2, bound: true }, training: { iterations: 10 } }, 'x');
  const records: LevelRecord[] = [];
  await standInLoop()(config, {} as never, { onLevel: (r) => void records.push(r) });
  // Level 1: the first layer collapses to 4 isolated edges (every vertex of degree 1, t2 = 0).
  const layer = records[1]!.layers[0]!;
  for (const m of [layer.unweighted, layer.weighted, layer.score!]) Object.assign(m, { edges: 4, dL: 1, dR: 1, t2: 0, deltaS: Infinity, deltaR: Infinity, collapsed: true });
  layer.collapsed = true;
  layer.verdicts = null;
  records[1]!.regime = 'partially';
  const ws = tmp('collapsed');
  const store = openStore(ws, { create: true });
  const id = runId(config);
  const claim = store.claimRun({ id, config, label: 't', preset: null });
  assert.equal(claim.kind, 'claimed');
  for (const r of records) store.recordLevel(id, claim.kind === 'claimed' ? claim.token : '', r, { checkpoint: 'x', finished: false, stopReason: null });
  const back = store.levelRecords(id);
  store.close();
  assert.deepEqual(back, records);
  assert.equal(back[1]!.layers[0]!.verdicts, null);
  assert.equal(back[1]!.layers[0]!.unweighted.deltaS, Infinity);
  assert.equal(back[1]!.layers[1]!.collapsed, false);
  assert.notEqual(back[1]!.layers[1]!.verdicts, null);
  assert.equal(userVersion(ws), SCHEMA_VERSION);
  assert.ok(columns(ws, 'layers').includes('collapsed'));
});

test('a version 1 store is read as it is by readers and migrated by a writer, its records unchanged', () => {
  const ws = copyFixture();
  assert.equal(userVersion(ws), 1);
  assert.ok(!columns(ws, 'layers').includes('collapsed'));
  const reader = openStore(ws);
  const before = reader.levelRecords(INTERRUPTED);
  reader.close();
  assert.equal(before.length, 3);
  assert.equal(userVersion(ws), 1, 'reading does not migrate');
  for (const r of before) for (const l of r.layers) {
    assert.equal(l.collapsed, false);
    assert.notEqual(l.verdicts, null);
  }
  const writer = openStore(ws, { create: true });
  const after = writer.levelRecords(INTERRUPTED);
  writer.close();
  assert.equal(userVersion(ws), SCHEMA_VERSION);
  assert.ok(columns(ws, 'layers').includes('collapsed'));
  assert.deepEqual(after, before);
  // A second writer finds nothing to do.
  openStore(ws, { create: true }).close();
  assert.equal(userVersion(ws), SCHEMA_VERSION);
});

test('version 1 rows of collapsed layers: no verdicts, and the level\'s regime taken again without them', () => {
  const ws = copyFixture();
  // Version 1 counted collapsed layers as Ramanujan: make every layer of level 2 one of 4 isolated
  // edges (as such a store holds them: degree 1, verdicts set, regime 'fully').
  const db = new Database(join(ws, DATABASE_FILE));
  db.prepare('UPDATE layer_metrics SET d_l = 1, d_r = 1, edges = 4, t2 = 0 WHERE run_id = ? AND level = 2').run(INTERRUPTED);
  db.prepare("UPDATE levels SET regime = 'fully' WHERE run_id = ? AND level = 2").run(INTERRUPTED);
  const verdicts = db.prepare('SELECT verdict_combined FROM layers WHERE run_id = ? AND level = 2').all(INTERRUPTED) as Array<{ verdict_combined: number }>;
  db.close();
  assert.ok(verdicts.some((v) => v.verdict_combined === 1), 'the stored rows call some of them Ramanujan');
  for (const create of [false, true]) {
    const store = openStore(ws, { create });
    const [l0, , l2] = store.levelRecords(INTERRUPTED);
    store.close();
    for (const l of l2!.layers) {
      assert.equal(l.collapsed, true);
      assert.equal(l.verdicts, null);
      assert.equal(l.unweighted.collapsed, true);
    }
    assert.equal(l2!.regime, 'collapsed');
    assert.ok(l0!.layers.every((l) => !l.collapsed && l.verdicts !== null));
    assert.equal(l0!.regime, 'fully');
  }
});
