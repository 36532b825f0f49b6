/**
 * Merging run stores: the runs of other workspaces (a SLURM sweep's shards, a workspace made on
 * another machine and copied over) into one target workspace, with their checkpoint files.
 *
 * By run id, and idempotent: a run the target lacks is copied; a run both hold must agree on every
 * level both hold (every stored column but timestamps, timings and the holder; and the checkpoint
 * files both hold, byte for byte), and then the copy that got further wins (more levels, or the
 * same levels and finished). Two copies that disagree are refused with one line naming both
 * stores; the other runs are merged all the same.
 *
 * Crash safety: a run is merged in one SQLite transaction, and its checkpoint files are copied
 * before it, each atomically (temporary file, fsync, rename). Killed at any moment, the target
 * holds either the old copy of the run or the new one; a file copied for a transaction that never
 * committed is referenced by no row and is overwritten by the next merge.
 *
 * The tables and columns come from the target database itself (created by store.ts), not from a
 * list here: every table with a `run_id` column is copied row by row with all its columns, so a
 * column or table added to the store later is merged too. A source with a column the target does
 * not know (a newer store) is refused.
 *
 * Sources are opened read-only: merging never changes a shard.
 */
import Database from 'better-sqlite3';
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { REWIND_FILE } from './checkpoints.js';
import { ownerAlive, type Owner } from './owner.js';
import { checkHeader, DATABASE_FILE, openStore } from './store.js';

const BUSY_TIMEOUT_MS = 60_000;

export type MergeAction = 'added' | 'updated' | 'unchanged' | 'skipped' | 'conflict';

export interface MergeOutcome {
  /** the source workspace, as given */
  source: string;
  run: string;
  action: MergeAction;
  /** levels of the run in the target after the merge */
  levels: number;
  status: string | null;
  /** why a run was skipped or refused, or what was done */
  note: string;
}

export interface MergeOptions {
  /** Test hook: called inside a run's transaction, after its files are copied, before commit. */
  beforeCommit?: (run: string) => void;
  /** Receives each outcome as it happens. */
  onOutcome?: (o: MergeOutcome) => void;
}

interface TableInfo {
  name: string;
  columns: string[];
  /** primary key columns, in key order */
  key: string[];
  /** an INTEGER PRIMARY KEY (a rowid alias such as events.id): left out, the target numbers rows */
  rowid: string | null;
  /** tables this one references */
  references: string[];
}

type Row = Record<string, unknown>;

/** Columns that differ between two copies of the same results: when and how fast, and who held it. */
function volatile(column: string): boolean {
  return /_at$/.test(column) || /_ms$/.test(column) || column.startsWith('owner_') || column === 'time';
}

function tableInfo(db: Database.Database, schema: string): Map<string, TableInfo> {
  const names = db.prepare(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as Array<{ name: string }>;
  const out = new Map<string, TableInfo>();
  for (const { name } of names) {
    const cols = db.prepare(`SELECT name, type, pk FROM pragma_table_info(?, ?) ORDER BY cid`).all(name, schema) as Array<{ name: string; type: string; pk: number }>;
    const key = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    const fks = db.prepare(`SELECT DISTINCT "table" AS t FROM pragma_foreign_key_list(?, ?)`).all(name, schema) as Array<{ t: string }>;
    out.set(name, {
      name,
      columns: cols.map((c) => c.name),
      key: key.map((c) => c.name),
      rowid: key.length === 1 && key[0].type.toUpperCase() === 'INTEGER' ? key[0].name : null,
      references: fks.map((f) => f.t).filter((t) => t !== name),
    });
  }
  return out;
}

/** The run tables in an order where every table comes after the tables it references. */
function runTables(tables: Map<string, TableInfo>): TableInfo[] {
  const perRun = [...tables.values()].filter((t) => t.name === 'runs' || t.columns.includes('run_id'));
  const ordered: TableInfo[] = [];
  const placed = new Set<string>();
  while (ordered.length < perRun.length) {
    const next = perRun.find((t) => !placed.has(t.name) && t.references.every((r) => placed.has(r) || !perRun.some((p) => p.name === r)));
    if (!next) throw new Error('run store: the tables reference each other in a cycle');
    ordered.push(next);
    placed.add(next.name);
  }
  return ordered;
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
}

/** A run's rows in every run table, each table's rows in primary-key order. */
function readRun(db: Database.Database, schema: string, tables: TableInfo[], id: string): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const t of tables) {
    const where = t.name === 'runs' ? 'id' : 'run_id';
    const order = t.key.length > 0 ? ` ORDER BY ${t.key.map(q).join(', ')}` : '';
    out.set(t.name, db.prepare(`SELECT * FROM ${schema}.${q(t.name)} WHERE ${where} = ?${order}`).all(id) as Row[]);
  }
  return out;
}

function rowOwner(row: Row): Owner | null {
  return row.owner_pid === null || row.owner_pid === undefined ? null : { pid: row.owner_pid as number, host: (row.owner_host as string) ?? '', start: (row.owner_start as string | null) ?? null };
}

function levelCount(rows: Map<string, Row[]>): number {
  return rows.get('levels')?.length ?? 0;
}

/**
 * The first difference between two copies of a run on the levels both hold, or null. Rows of
 * every run table but `runs` and the event log, restricted to the common levels; a finished run's
 * stop reason too.
 */
function difference(tables: TableInfo[], a: Map<string, Row[]>, b: Map<string, Row[]>): string | null {
  const levelsA = new Set((a.get('levels') ?? []).map((r) => r.level as number));
  const common = (b.get('levels') ?? []).map((r) => r.level as number).filter((l) => levelsA.has(l));
  const inCommon = new Set(common);
  for (const t of tables) {
    if (t.name === 'runs' || t.rowid !== null) continue; // the run row and the event log hold no results
    const pick = (rows: Row[]) => (t.columns.includes('level') ? rows.filter((r) => inCommon.has(r.level as number)) : rows);
    const ra = pick(a.get(t.name) ?? []);
    const rb = pick(b.get(t.name) ?? []);
    if (ra.length !== rb.length) return `${t.name}: ${ra.length} rows against ${rb.length}`;
    for (let i = 0; i < ra.length; i++) {
      for (const c of t.columns) {
        if (volatile(c)) continue;
        if (!sameValue(ra[i][c], rb[i][c])) {
          const where = t.columns.includes('level') ? ` at level ${String(ra[i].level)}` : '';
          return `${t.name}.${c}${where}: ${JSON.stringify(ra[i][c])} against ${JSON.stringify(rb[i][c])}`;
        }
      }
    }
  }
  const runA = a.get('runs')![0];
  const runB = b.get('runs')![0];
  if (runA.status === 'done' && runB.status === 'done' && levelCount(a) === levelCount(b) && !sameValue(runA.stop_reason, runB.stop_reason)) {
    return `stop reason ${JSON.stringify(runA.stop_reason)} against ${JSON.stringify(runB.stop_reason)}`;
  }
  return null;
}

/** The checkpoint files a copy of a run references, relative to its workspace; checked to stay in runs/<id>/. */
function referencedFiles(id: string, rows: Map<string, Row[]>, store: string): string[] {
  const levels = rows.get('levels') ?? [];
  if (levels.length === 0) return [];
  const files = [join('runs', id, REWIND_FILE)];
  for (const l of levels) {
    const rel = String(l.checkpoint);
    if (!/^runs[/\\][0-9a-f]+[/\\][\w.-]+$/.test(rel) || rel.split(/[/\\]/)[1] !== id || rel.includes('..')) {
      throw new UserError(`${store}: run ${id} level ${String(l.level)} names the checkpoint "${rel}", expected runs/${id}/<file>`);
    }
    files.push(rel);
  }
  return files;
}

function sameFile(a: string, b: string): boolean {
  if (statSync(a).size !== statSync(b).size) return false;
  return readFileSync(a).equals(readFileSync(b));
}

/** Copies a file atomically: a temporary file beside the target, fsynced, renamed over it. */
function copyFileAtomic(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`.replace(/([^/\\]+)$/, '.$1');
  try {
    copyFileSync(from, tmp);
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, to);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // not made
    }
    throw err;
  }
}

/** Opens a workspace's database read-only, after checking it is a run store of this project. */
export function openStoreReadOnly(workspace: string): Database.Database {
  const dir = resolve(workspace);
  const path = join(dir, DATABASE_FILE);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${workspace}: no such workspace folder`);
  if (!existsSync(path)) throw new UserError(`${workspace}: no run store (${DATABASE_FILE}) there`);
  checkHeader(path);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    throw new UserError(`${path}: cannot open the run store read-only (${(err as Error).message})`);
  }
  const check = db.pragma('quick_check', { simple: true });
  if (check !== 'ok') {
    db.close();
    throw new UserError(`${path}: the database is damaged (${String(check)}); not merged`);
  }
  return db;
}

/**
 * Merges the runs of `sources` (workspace folders) into `target` (created if missing). Returns one
 * outcome per run of every source, in order. A source that is missing, not a run store or
 * damaged stops the merge with a UserError before anything is merged; one with columns this
 * version does not know stops it before anything of its own is written.
 */
export function mergeWorkspaces(sources: readonly string[], target: string, opts: MergeOptions = {}): MergeOutcome[] {
  const targetDir = resolve(target);
  // Every source is checked before anything is merged, so a mistyped one merges nothing.
  for (const s of sources) {
    if (resolve(s) === targetDir) throw new UserError(`${s}: is the merge target itself`);
    openStoreReadOnly(s).close();
  }
  openStore(target, { create: true }).close(); // creates the target, or checks it is a run store
  const db = new Database(join(targetDir, DATABASE_FILE), { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  const outcomes: MergeOutcome[] = [];
  try {
    const targetTables = tableInfo(db, 'main');
    const tables = runTables(targetTables);
    for (const source of sources) {
      const src = openStoreReadOnly(source);
      try {
        const srcTables = tableInfo(src, 'main');
        for (const t of srcTables.values()) {
          const mine = targetTables.get(t.name);
          const unknown = mine ? t.columns.filter((c) => !mine.columns.includes(c)) : [];
          if ((!mine && (t.name === 'runs' || t.columns.includes('run_id'))) || unknown.length > 0) {
            throw new UserError(`${source}: made by a newer ramanujan-lth (${mine ? `column ${unknown.join(', ')} of table ${t.name}` : `table ${t.name}`} unknown here); merge with that version`);
          }
        }
        const srcRunTables = tables.filter((t) => srcTables.has(t.name));
        const ids = (src.prepare('SELECT id FROM runs ORDER BY created_at, id').all() as Array<{ id: string }>).map((r) => r.id);
        for (const id of ids) {
          const outcome = mergeRun(db, src, source, targetDir, tables, srcRunTables, id, opts);
          outcomes.push(outcome);
          opts.onOutcome?.(outcome);
        }
      } finally {
        src.close();
      }
    }
  } finally {
    db.close();
  }
  return outcomes;
}

function mergeRun(
  db: Database.Database,
  src: Database.Database,
  source: string,
  targetDir: string,
  tables: TableInfo[],
  srcTables: TableInfo[],
  id: string,
  opts: MergeOptions,
): MergeOutcome {
  const sourceDir = resolve(source);
  // One read transaction: a consistent snapshot even while the source's run still writes levels.
  const incoming = src.transaction(() => readRun(src, 'main', srcTables, id))();
  const srcRun = incoming.get('runs')![0];
  const result = (action: MergeAction, note: string, rows?: Map<string, Row[]>): MergeOutcome => {
    const run = rows?.get('runs')?.[0];
    return { source, run: id, action, levels: rows ? levelCount(rows) : 0, status: (run?.status as string | undefined) ?? null, note };
  };
  let status = srcRun.status as string;
  let note = '';
  if (status === 'running') {
    const holder = rowOwner(srcRun);
    if (holder && holder.host === hostname() && ownerAlive(holder)) {
      return result('skipped', `still running in process ${holder.pid}; merge it again when it has finished`);
    }
    status = 'interrupted';
    if (holder && holder.host !== hostname()) note = ` (held by process ${holder.pid} on host ${holder.host} when merged)`;
  }
  const files = referencedFiles(id, incoming, source);
  for (const f of files) {
    if (!existsSync(join(sourceDir, f))) throw new UserError(`${join(source, f)}: missing, but run ${id} of ${source} refers to it; not merged`);
  }

  // Decide, copy the files, then write in one transaction that first checks the target's copy of
  // the run is still the one the decision was made on (another merge may have run meanwhile).
  for (let attempt = 0; ; attempt++) {
    const current = readRun(db, 'main', tables, id);
    const existing = current.get('runs')![0] as Row | undefined;
    if (existing) {
      const holder = rowOwner(existing);
      if (existing.status === 'running' && holder && ownerAlive(holder)) {
        return result('skipped', `running in the target (process ${holder.pid}${holder.host === hostname() ? '' : ` on host ${holder.host}`}); not merged`, current);
      }
      const diff = difference(tables, incoming, current);
      if (diff) {
        const origin = mergedFrom(db, id);
        return result('conflict', `run ${id}: ${source} and ${targetDir}${origin ? ` (merged from ${origin})` : ''} hold different results (${diff}); not merged`, current);
      }
      const further = levelCount(incoming) > levelCount(current) || (levelCount(incoming) === levelCount(current) && status === 'done' && existing.status !== 'done');
      if (!further) {
        // The target's copy is as far or further; its checkpoint files must agree where both have one.
        const clash = fileClash(sourceDir, targetDir, files, referencedFiles(id, current, targetDir));
        if (clash) return result('conflict', `run ${id}: ${source} and ${targetDir} hold different checkpoints (${clash}); not merged`, current);
        return result('unchanged', `the target already holds ${levelCount(current)} levels${existing.status === 'done' ? ', done' : ''}`, current);
      }
      const clash = fileClash(sourceDir, targetDir, files, referencedFiles(id, current, targetDir));
      if (clash) return result('conflict', `run ${id}: ${source} and ${targetDir} hold different checkpoints (${clash}); not merged`, current);
    }
    copyFiles(sourceDir, targetDir, files);
    const fingerprint = stateOf(current);
    const written = db
      .transaction((): boolean => {
        if (stateOf(readRun(db, 'main', tables, id)) !== fingerprint) return false;
        for (const t of [...tables].reverse()) {
          db.prepare(`DELETE FROM main.${q(t.name)} WHERE ${t.name === 'runs' ? 'id' : 'run_id'} = ?`).run(id);
        }
        for (const t of tables) {
          const rows = incoming.get(t.name) ?? [];
          if (rows.length === 0) continue;
          const cols = Object.keys(rows[0]).filter((c) => c !== t.rowid);
          const insert = db.prepare(`INSERT INTO main.${q(t.name)} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
          for (const row of rows) {
            const values = cols.map((c) => row[c]);
            if (t.name === 'runs') {
              cols.forEach((c, i) => {
                if (c === 'status') values[i] = status;
                else if (c.startsWith('owner_')) values[i] = null;
              });
            }
            insert.run(...values);
          }
        }
        db.prepare('INSERT INTO main.events (run_id, time, event, data) VALUES (?, ?, ?, ?)').run(
          id,
          new Date().toISOString(),
          'merged',
          JSON.stringify({ from: sourceDir, host: hostname(), levels: levelCount(incoming), status }),
        );
        opts.beforeCommit?.(id);
        return true;
      })
      .immediate();
    if (written) {
      const action = existing ? 'updated' : 'added';
      const out = result(action, `${levelCount(incoming)} levels, ${status}${note}`, incoming);
      return { ...out, status };
    }
    if (attempt >= 3) return result('skipped', 'the target kept changing while merging; merge again', current);
  }
}

/** Where the target's copy of a run was last merged from, if it was. */
function mergedFrom(db: Database.Database, id: string): string | null {
  const row = db.prepare(`SELECT data FROM main.events WHERE run_id = ? AND event = 'merged' ORDER BY id DESC LIMIT 1`).get(id) as { data: string } | undefined;
  if (!row) return null;
  try {
    const data = JSON.parse(row.data) as { from?: string; host?: string };
    return data.from ? `${data.from}${data.host && data.host !== hostname() ? ` on ${data.host}` : ''}` : null;
  } catch {
    return null;
  }
}

/** What a transaction must find unchanged: the run's status, holder and levels. */
function stateOf(rows: Map<string, Row[]>): string {
  const run = rows.get('runs')![0];
  if (!run) return 'absent';
  return JSON.stringify([run.status, run.owner_token ?? null, run.updated_at, levelCount(rows)]);
}

/** The first file both copies reference that differs, or null. */
function fileClash(sourceDir: string, targetDir: string, sourceFiles: string[], targetFiles: string[]): string | null {
  const theirs = new Set(targetFiles);
  for (const f of sourceFiles) {
    if (!theirs.has(f)) continue;
    const t = join(targetDir, f);
    if (existsSync(t) && !sameFile(join(sourceDir, f), t)) return f;
  }
  return null;
}

function copyFiles(sourceDir: string, targetDir: string, files: string[]): void {
  for (const f of files) {
    const from = join(sourceDir, f);
    const to = join(targetDir, f);
    if (existsSync(to) && sameFile(from, to)) continue;
    mkdirSync(join(to, '..'), { recursive: true });
    copyFileAtomic(from, to);
  }
}

/**
 * Checks a workspace is consistent: the database passes SQLite's integrity check and every
 * stored level's checkpoint file (and its run's rewind file) exists. Returns the problems found.
 */
export function checkWorkspace(workspace: string): string[] {
  const db = openStoreReadOnly(workspace);
  const problems: string[] = [];
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') problems.push(`integrity check: ${String(integrity)}`);
    const fk = db.prepare('PRAGMA foreign_key_check').all();
    if (fk.length > 0) problems.push(`${fk.length} rows reference missing rows`);
    const levels = db.prepare('SELECT run_id, level, checkpoint FROM levels ORDER BY run_id, level').all() as Array<{ run_id: string; level: number; checkpoint: string }>;
    const runs = new Set<string>();
    for (const l of levels) {
      runs.add(l.run_id);
      if (!existsSync(join(workspace, l.checkpoint))) problems.push(`run ${l.run_id} level ${l.level}: ${l.checkpoint} is missing`);
    }
    for (const r of runs) {
      if (!existsSync(join(workspace, 'runs', r, REWIND_FILE))) problems.push(`run ${r}: ${REWIND_FILE} is missing`);
    }
  } finally {
    db.close();
  }
  return problems;
}
