/**
 * The run store: one SQLite database per workspace (better-sqlite3, WAL) holding the runs, their
 * levels, per-layer graph metrics, accuracies, Algorithm 1 decisions and an event log. The
 * checkpoints (masks and weights) live beside it as safetensors files (src/experiment/checkpoints.ts);
 * a level's rows are written in one transaction after its checkpoint file, so a level is either
 * complete on disk or absent.
 *
 * Workspace layout:
 *   <workspace>/ramanujan.sqlite (+ -wal, -shm)
 *   <workspace>/runs/<run-id>/rewind.safetensors, level-0003.safetensors, ...
 *
 * Concurrency: several processes may use one workspace (sweeps do). Every write is a short
 * IMMEDIATE transaction; a busy database is waited for (busy timeout). A run is held by one
 * process at a time: claimRun() writes the holder (pid, host, start time, token) into the run's
 * row inside a transaction and refuses while a live process holds it; a holder that died (even by
 * SIGKILL) is detected and replaced.
 *
 * Safety of foreign files: the database file's header is checked (SQLite magic and this
 * project's application_id) before SQLite opens it, so a foreign or corrupt file is reported and
 * left untouched. A new database is built under a temporary name and linked into place, so no
 * other process ever sees it half-made. The tables are checked and the database's integrity is
 * quick-checked before anything (even the journal mode) is changed in an existing file.
 *
 * Reading commands (runs, export, report) open the store read-only, so they work in a workspace
 * they cannot write (a read-only mount, another user's folder); writing ones check first that
 * they can write there. A write that fails for want of space or by an I/O error is a UserError
 * naming the workspace (SQLite rolls the transaction back, so the store stays as it was).
 */
import Database from 'better-sqlite3';
import { accessSync, closeSync, constants, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { isCollapsed, networkRegime } from '../graph/bounds.js';
import type { GraphMetrics, LayerVerdicts } from '../graph/types.js';
import type { Algorithm1Attempt, Algorithm1Decision, LayerLevelRecord, LevelRecord } from '../prune/records.js';
import { currentOwner, ownerAlive, type Owner } from './owner.js';
import { canonicalJson, idJson, readStoredConfig } from './run-id.js';
import type { ExperimentConfig } from './schema.js';

export const DATABASE_FILE = 'ramanujan.sqlite';
export { DEFAULT_WORKSPACE } from './workspace.js';
/** SQLite application_id of this project's databases: "RLTH". */
export const APPLICATION_ID = 0x524c5448;
/**
 * Version of the store's tables, in the header's user_version. 1: the first. 2: `layers.collapsed`
 * (NULL in rows written by version 1; readers derive it from the stored degrees). A store is
 * brought up to date when a writer opens it (`migrate`); readers read every version up to this one.
 */
export const SCHEMA_VERSION = 2;
/** How long a write waits for another process's transaction, in ms. */
const BUSY_TIMEOUT_MS = 60_000;
/** The tables a store must have (SCHEMA). */
const TABLES = ['runs', 'levels', 'noisy_accuracies', 'layers', 'layer_metrics', 'decisions', 'attempts', 'events'];

export type RunStatus = 'running' | 'interrupted' | 'failed' | 'done';

export interface RunSummary {
  id: string;
  label: string;
  preset: string | null;
  config: ExperimentConfig;
  quick: boolean;
  /** 'running' only while a live process holds the run; a dead holder shows as 'interrupted' */
  status: RunStatus;
  /** level records stored (level 0, the dense net, counts as one) */
  levels: number;
  /** density and clean accuracy of the last stored level (null before the first) */
  density: number | null;
  accuracy: number | null;
  stopReason: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** the process holding the run, while one does */
  owner: Owner | null;
}

export type Claim =
  | { kind: 'done'; run: RunSummary }
  | { kind: 'claimed'; token: string; run: RunSummary; created: boolean };

/** What a stored level says about the loop's checkpoint flags. */
export interface StoredLevelState {
  level: number;
  checkpoint: string;
  finished: boolean;
  stopReason: string | null;
}

// GraphMetrics fields in column order; nullable ones read back as null, the others as numbers
// (SQLite stores NaN as NULL, so a NULL in a number column reads back as NaN).
const METRIC_NUMBERS = ['edges', 't1', 't2', 'sigma2', 't1Multiplicity', 'isolatedL', 'isolatedR', 'components', 'largestComponentL', 'largestComponentR'] as const;
const METRIC_NULLABLES = ['dL', 'dR', 'weightedDL', 'weightedDR', 'eb', 'db', 'dbWeighted', 'deltaS', 'deltaR', 'deltaRWeighted'] as const;
const METRIC_SLOTS = ['unweighted', 'weighted', 'score'] as const;
const ATTEMPT_FIELDS = ['dL', 'dR', 'deltaS', 'deltaR', 'scoreDeltaS', 'scoreT1'] as const;
const VERDICTS = ['UE', 'UD', 'WE', 'WD', 'combined'] as const;

const column = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/^t1_multiplicity$/, 't1_multiplicity');

const SCHEMA = `
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  preset TEXT,
  config TEXT NOT NULL,
  quick INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'failed', 'done')),
  stop_reason TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  finished_at TEXT,
  owner_pid INTEGER,
  owner_host TEXT,
  owner_start TEXT,
  owner_token TEXT
);
CREATE TABLE levels (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  level INTEGER NOT NULL,
  density REAL NOT NULL,
  remaining INTEGER NOT NULL,
  total INTEGER NOT NULL,
  train_loss REAL,
  accuracy REAL,
  regime TEXT NOT NULL,
  criterion TEXT NOT NULL,
  has_decisions INTEGER NOT NULL,
  train_ms REAL, eval_ms REAL, analyze_ms REAL, score_ms REAL, prune_ms REAL,
  checkpoint TEXT NOT NULL,
  finished INTEGER NOT NULL,
  stop_reason TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_id, level)
);
CREATE TABLE noisy_accuracies (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, position INTEGER NOT NULL,
  sigma TEXT NOT NULL, accuracy REAL,
  PRIMARY KEY (run_id, level, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE layers (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, position INTEGER NOT NULL,
  name TEXT NOT NULL, kind TEXT NOT NULL, shape TEXT NOT NULL,
  total INTEGER NOT NULL, remaining INTEGER NOT NULL, density REAL NOT NULL, analysed INTEGER NOT NULL,
  ${VERDICTS.map((v) => `verdict_${v.toLowerCase()} INTEGER NOT NULL`).join(', ')},
  collapsed INTEGER,
  PRIMARY KEY (run_id, level, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE layer_metrics (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, layer TEXT NOT NULL,
  slot TEXT NOT NULL CHECK (slot IN ('unweighted', 'weighted', 'score')),
  weighting TEXT NOT NULL,
  ${METRIC_NUMBERS.map((f) => `${column(f)} REAL`).join(', ')},
  ${METRIC_NULLABLES.map((f) => `${column(f)} REAL`).join(', ')},
  collapsed INTEGER NOT NULL,
  PRIMARY KEY (run_id, level, layer, slot),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE decisions (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, position INTEGER NOT NULL,
  layer TEXT NOT NULL, outcome TEXT NOT NULL, fraction REAL NOT NULL, removed INTEGER NOT NULL,
  PRIMARY KEY (run_id, level, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE attempts (
  run_id TEXT NOT NULL, level INTEGER NOT NULL, decision INTEGER NOT NULL, position INTEGER NOT NULL,
  fraction REAL NOT NULL, removed INTEGER NOT NULL, check_name TEXT NOT NULL,
  ${ATTEMPT_FIELDS.map((f) => `${column(f)} REAL`).join(', ')},
  PRIMARY KEY (run_id, level, decision, position),
  FOREIGN KEY (run_id, level) REFERENCES levels(run_id, level) ON DELETE CASCADE
);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT,
  time TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX events_by_run ON events(run_id, id);
`;

interface RunRow {
  id: string;
  label: string;
  preset: string | null;
  config: string;
  quick: number;
  status: RunStatus;
  stop_reason: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  owner_pid: number | null;
  owner_host: string | null;
  owner_start: string | null;
  owner_token: string | null;
  levels: number;
  density: number | null;
  accuracy: number | null;
}

const now = () => new Date().toISOString();

/**
 * Opens the store of a workspace. With `create` (what `ramanujan run` uses) a missing workspace
 * and database are made; without it a missing one is a UserError, so reading never leaves an
 * empty workspace behind. `readonly` (the reading commands) never writes anything, and works in a
 * workspace this process cannot write.
 */
export function openStore(workspace: string, opts: { create?: boolean; readonly?: boolean } = {}): RunStore {
  return RunStore.open(workspace, opts.create ?? false, opts.readonly ?? false);
}

export class RunStore {
  readonly workspace: string;
  readonly databasePath: string;
  private readonly db: Database.Database;

  private constructor(workspace: string, db: Database.Database) {
    this.workspace = workspace;
    this.databasePath = join(workspace, DATABASE_FILE);
    this.db = db;
  }

  static open(workspace: string, create: boolean, readonly = false): RunStore {
    const store = RunStore.openDatabase(workspace, create, readonly);
    // Writers bring an older store up to date; readers read it as it is.
    if (create && !readonly) store.migrate();
    return store;
  }

  private static openDatabase(workspace: string, create: boolean, readonly: boolean): RunStore {
    const dir = resolve(workspace);
    const dbPath = join(dir, DATABASE_FILE);
    if (existsSync(dir) && !statSync(dir).isDirectory()) {
      throw new UserError(`workspace ${workspace}: is a file, expected a folder`);
    }
    if (existsSync(dbPath) && statSync(dbPath).isDirectory()) {
      throw new UserError(`${dbPath}: is a folder, expected the run store file (a SQLite database); it was left as it is: use another --workspace`);
    }
    // A FIFO would block the header check forever, a device would be read or written.
    if (existsSync(dbPath) && !statSync(dbPath).isFile()) {
      throw new UserError(`${dbPath}: is not a regular file (a device, FIFO or socket), expected the run store; it was left as it is: use another --workspace`);
    }
    if (!existsSync(dbPath)) {
      if (!create || readonly) throw new UserError(`workspace ${workspace}: no run store (${DATABASE_FILE}) there; runs are made by ramanujan run`);
      guardWrite(dir, () => {
        mkdirSync(dir, { recursive: true });
        checkWritable(workspace, dir, null);
        createDatabase(dbPath);
      });
    }
    checkHeader(dbPath);
    if (!readonly) checkWritable(workspace, dir, dbPath);
    let db: Database.Database | null = null;
    try {
      db = readonly ? openReadOnly(dbPath) : new Database(dbPath, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      // Checked before anything is changed (the journal mode below), so a store we refuse is
      // left exactly as it was.
      const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
      const missing = TABLES.filter((t) => !tables.has(t));
      if (missing.length > 0) {
        const what = missing.length === TABLES.length ? 'has no tables' : `is missing tables ${missing.join(', ')}`;
        throw new UserError(`${dbPath}: a run store that ${what} (a half-made or foreign store); it was left as it is: use another --workspace`);
      }
      const problems = (db.pragma('quick_check') as Array<Record<string, unknown>>).map((r) => String(Object.values(r)[0]));
      if (problems.length !== 1 || problems[0] !== 'ok') throw damaged(dbPath, problems);
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
      }
      db.pragma('foreign_keys = ON');
    } catch (err) {
      db?.close();
      if (err instanceof UserError) throw err;
      const code = (err as { code?: string }).code ?? '';
      if (/CORRUPT|NOTADB/.test(code)) throw damaged(dbPath, [(err as Error).message]);
      throw storeError(dir, err) ?? err;
    }
    return new RunStore(dir, db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Brings a store written by an older version up to SCHEMA_VERSION, in one transaction (another
   * process may be doing the same: the columns are checked inside it). Version 1 -> 2 adds
   * `layers.collapsed`; the rows already there keep NULL, and levelRecords derives it.
   */
  private migrate(): void {
    if ((this.db.pragma('user_version', { simple: true }) as number) >= SCHEMA_VERSION) return;
    const upgrade = this.db.transaction(() => {
      const columns = (this.db.prepare('PRAGMA table_info(layers)').all() as Array<{ name: string }>).map((c) => c.name);
      if (!columns.includes('collapsed')) this.db.exec('ALTER TABLE layers ADD COLUMN collapsed INTEGER');
      if ((this.db.pragma('user_version', { simple: true }) as number) < SCHEMA_VERSION) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    });
    guardWrite(this.workspace, () => upgrade.immediate());
  }

  /** Folder of a run's checkpoint files. */
  runDir(id: string): string {
    return join(this.workspace, 'runs', id);
  }

  // -------------------------------------------------------------------------------------------
  // Runs

  private static readonly RUN_SELECT = `
    SELECT r.*,
      (SELECT COUNT(*) FROM levels l WHERE l.run_id = r.id) AS levels,
      (SELECT density FROM levels l WHERE l.run_id = r.id ORDER BY level DESC LIMIT 1) AS density,
      (SELECT accuracy FROM levels l WHERE l.run_id = r.id ORDER BY level DESC LIMIT 1) AS accuracy
    FROM runs r`;

  /** Every run, oldest first. */
  listRuns(): RunSummary[] {
    const rows = this.db.prepare(`${RunStore.RUN_SELECT} ORDER BY r.created_at, r.id`).all() as RunRow[];
    return rows.map(toSummary);
  }

  getRun(id: string): RunSummary | null {
    const row = this.db.prepare(`${RunStore.RUN_SELECT} WHERE r.id = ?`).get(id) as RunRow | undefined;
    return row ? toSummary(row) : null;
  }

  /** A run id from a unique prefix of it (at least 4 characters), as git takes short hashes. */
  resolveRunId(prefix: string): string {
    if (!/^[0-9a-f]{4,}$/.test(prefix)) throw new UserError(`run id "${prefix}": expected at least 4 hex digits (see ramanujan runs)`);
    const rows = this.db.prepare(`SELECT id FROM runs WHERE id LIKE ? ORDER BY id`).all(`${prefix}%`) as Array<{ id: string }>;
    if (rows.length === 0) throw new UserError(`run id "${prefix}": no such run in ${this.workspace} (see ramanujan runs)`);
    if (rows.length > 1) throw new UserError(`run id "${prefix}" is ambiguous: ${rows.map((r) => r.id).join(', ')}`);
    return rows[0].id;
  }

  /**
   * Takes a run for this process: creates its row if new, refuses (UserError) while another live
   * process holds it, takes it over from a dead holder (or any holder with `force`). A finished
   * run is returned as `done` and not taken.
   */
  claimRun(input: { id: string; config: ExperimentConfig; label: string; preset: string | null; force?: boolean }): Claim {
    const me = currentOwner();
    const token = `${me.pid}-${Math.random().toString(36).slice(2)}`;
    const configText = canonicalJson(input.config);
    const claim = this.db
      .transaction((): Claim => {
        const existing = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(input.id) as RunRow | undefined;
        const t = now();
        if (!existing) {
          this.db
            .prepare(
              `INSERT INTO runs (id, label, preset, config, quick, status, created_at, updated_at, owner_pid, owner_host, owner_start, owner_token)
               VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
            )
            .run(input.id, input.label, input.preset, configText, input.config.quick ? 1 : 0, t, t, me.pid, me.host, me.start, token);
          return { kind: 'claimed', token, run: this.getRun(input.id)!, created: true };
        }
        // The same run when what its id hashes is the same: a store written before an option was
        // added holds configs without it (src/experiment/run-id.ts).
        if (existing.config !== configText && idJson(JSON.parse(existing.config)) !== idJson(input.config)) {
          throw new UserError(`run ${input.id}: the stored config differs from this one (an id collision or a store from another version); use another workspace`);
        }
        if (existing.status === 'done') return { kind: 'done', run: this.getRun(input.id)! };
        const holder = rowOwner(existing);
        if (holder && !input.force && ownerAlive(holder)) {
          const where = holder.host === me.host ? `process ${holder.pid}` : `process ${holder.pid} on host ${holder.host} (if it is gone, rerun with --force)`;
          throw new UserError(`run ${input.id} is already running in ${where}; wait for it to finish or stop it`);
        }
        this.db
          .prepare(
            `UPDATE runs SET status = 'running', error = NULL, updated_at = ?, owner_pid = ?, owner_host = ?, owner_start = ?, owner_token = ?
             WHERE id = ?`,
          )
          .run(t, me.pid, me.host, me.start, token, input.id);
        return { kind: 'claimed', token, run: this.getRun(input.id)!, created: false };
      });
    return guardWrite(this.workspace, () => claim.immediate());
  }

  /** Ends this process's hold on a run with its final status. */
  releaseRun(id: string, token: string, outcome: { status: Exclude<RunStatus, 'running'>; stopReason?: string | null; error?: string | null }): void {
    const release = this.db
      .transaction(() => {
        this.requireHolder(id, token);
        const t = now();
        this.db
          .prepare(
            `UPDATE runs SET status = ?, stop_reason = ?, error = ?, updated_at = ?, finished_at = ?,
               owner_pid = NULL, owner_host = NULL, owner_start = NULL, owner_token = NULL
             WHERE id = ?`,
          )
          .run(outcome.status, outcome.stopReason ?? null, outcome.error ?? null, t, outcome.status === 'done' ? t : null, id);
      });
    guardWrite(this.workspace, () => release.immediate());
  }

  private requireHolder(id: string, token: string): void {
    const row = this.db.prepare('SELECT owner_token FROM runs WHERE id = ?').get(id) as { owner_token: string | null } | undefined;
    if (!row || row.owner_token !== token) {
      throw new Error(`run ${id}: this process no longer holds the run (another process took it over)`);
    }
  }

  /**
   * Deletes a run: its rows (levels, layers, decisions... by cascade), its events and its
   * checkpoint folder. Refuses (UserError) while a live process holds it. Rows go first, so a
   * failure while removing files leaves no stored level pointing at a missing checkpoint.
   * Returns false if there was no such run. (`ramanujan demo --fresh`.)
   */
  deleteRun(id: string): boolean {
    const remove = this.db
      .transaction((): boolean => {
        const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
        if (!row) return false;
        const holder = rowOwner(row);
        if (holder && ownerAlive(holder)) {
          throw new UserError(`run ${id} is running in process ${holder.pid}${holder.host === currentOwner().host ? '' : ` on host ${holder.host}`}; stop it before deleting it`);
        }
        this.db.prepare('DELETE FROM events WHERE run_id = ?').run(id);
        this.db.prepare('DELETE FROM runs WHERE id = ?').run(id);
        return true;
      });
    const deleted = guardWrite(this.workspace, () => remove.immediate());
    rmSync(this.runDir(id), { recursive: true, force: true });
    return deleted;
  }

  // -------------------------------------------------------------------------------------------
  // Levels

  /**
   * Stores one level's record, in one transaction, by the process holding the run. `checkpoint`
   * is the level's checkpoint file relative to the workspace (written before this call).
   */
  recordLevel(id: string, token: string, record: LevelRecord, state: { checkpoint: string; finished: boolean; stopReason: string | null }): void {
    const insertLevel = this.db.prepare(
      `INSERT INTO levels (run_id, level, density, remaining, total, train_loss, accuracy, regime, criterion, has_decisions,
         train_ms, eval_ms, analyze_ms, score_ms, prune_ms, checkpoint, finished, stop_reason, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertNoisy = this.db.prepare('INSERT INTO noisy_accuracies (run_id, level, position, sigma, accuracy) VALUES (?, ?, ?, ?, ?)');
    const insertLayer = this.db.prepare(
      `INSERT INTO layers (run_id, level, position, name, kind, shape, total, remaining, density, analysed,
         ${VERDICTS.map((v) => `verdict_${v.toLowerCase()}`).join(', ')}, collapsed)
       VALUES (${new Array(11 + VERDICTS.length).fill('?').join(', ')})`,
    );
    const metricColumns = [...METRIC_NUMBERS, ...METRIC_NULLABLES].map(column);
    const insertMetrics = this.db.prepare(
      `INSERT INTO layer_metrics (run_id, level, layer, slot, weighting, ${metricColumns.join(', ')}, collapsed)
       VALUES (${new Array(6 + metricColumns.length).fill('?').join(', ')})`,
    );
    const insertDecision = this.db.prepare('INSERT INTO decisions (run_id, level, position, layer, outcome, fraction, removed) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const insertAttempt = this.db.prepare(
      `INSERT INTO attempts (run_id, level, decision, position, fraction, removed, check_name, ${ATTEMPT_FIELDS.map(column).join(', ')})
       VALUES (${new Array(7 + ATTEMPT_FIELDS.length).fill('?').join(', ')})`,
    );
    const r = record;
    const write = this.db
      .transaction(() => {
        this.requireHolder(id, token);
        // A level stored by an earlier attempt that died before its run moved on is replaced.
        this.db.prepare('DELETE FROM levels WHERE run_id = ? AND level >= ?').run(id, r.level);
        const tm = r.timings;
        insertLevel.run(id, r.level, r.density, r.remaining, r.total, r.trainLoss, r.accuracy.clean, r.regime, r.criterion, r.decisions ? 1 : 0,
          tm.trainMs, tm.evalMs, tm.analyzeMs, tm.scoreMs, tm.pruneMs, state.checkpoint, state.finished ? 1 : 0, state.stopReason, now());
        Object.entries(r.accuracy.noisy).forEach(([sigma, acc], i) => insertNoisy.run(id, r.level, i, sigma, acc));
        r.layers.forEach((layer, i) => {
          insertLayer.run(id, r.level, i, layer.name, layer.kind, JSON.stringify(layer.shape), layer.total, layer.remaining, layer.density,
            layer.analysed ? 1 : 0, ...VERDICTS.map((v) => (layer.verdicts?.[v] ? 1 : 0)), layer.collapsed ? 1 : 0);
          for (const slot of METRIC_SLOTS) {
            const m = layer[slot];
            if (!m) continue;
            insertMetrics.run(id, r.level, layer.name, slot, m.weighting, ...METRIC_NUMBERS.map((f) => m[f]), ...METRIC_NULLABLES.map((f) => m[f]), m.collapsed ? 1 : 0);
          }
        });
        (r.decisions ?? []).forEach((d, i) => {
          insertDecision.run(id, r.level, i, d.layer, d.outcome, d.fraction, d.removed);
          d.attempts.forEach((a, j) => insertAttempt.run(id, r.level, i, j, a.fraction, a.removed, a.check, ...ATTEMPT_FIELDS.map((f) => a[f])));
        });
        this.db.prepare('UPDATE runs SET updated_at = ? WHERE id = ?').run(now(), id);
      });
    guardWrite(this.workspace, () => write.immediate());
  }

  /** The checkpoint bookkeeping of a run's stored levels, in level order. */
  levelStates(id: string): StoredLevelState[] {
    const rows = this.db.prepare('SELECT level, checkpoint, finished, stop_reason FROM levels WHERE run_id = ? ORDER BY level').all(id) as Array<{
      level: number;
      checkpoint: string;
      finished: number;
      stop_reason: string | null;
    }>;
    return rows.map((r) => ({ level: r.level, checkpoint: r.checkpoint, finished: r.finished === 1, stopReason: r.stop_reason }));
  }

  /** The level records of a run, in level order, as the pruning loop produced them. */
  levelRecords(id: string): LevelRecord[] {
    const levels = this.db.prepare('SELECT * FROM levels WHERE run_id = ? ORDER BY level').all(id) as Array<Record<string, unknown>>;
    if (levels.length === 0) return [];
    const noisy = groupBy(this.db.prepare('SELECT * FROM noisy_accuracies WHERE run_id = ? ORDER BY level, position').all(id) as Array<Record<string, unknown>>);
    const layers = groupBy(this.db.prepare('SELECT * FROM layers WHERE run_id = ? ORDER BY level, position').all(id) as Array<Record<string, unknown>>);
    const metrics = new Map<string, Record<string, unknown>>();
    for (const m of this.db.prepare('SELECT * FROM layer_metrics WHERE run_id = ?').all(id) as Array<Record<string, unknown>>) {
      metrics.set(`${m.level}\u0000${m.layer}\u0000${m.slot}`, m);
    }
    const decisions = groupBy(this.db.prepare('SELECT * FROM decisions WHERE run_id = ? ORDER BY level, position').all(id) as Array<Record<string, unknown>>);
    const attempts = new Map<string, Array<Record<string, unknown>>>();
    for (const a of this.db.prepare('SELECT * FROM attempts WHERE run_id = ? ORDER BY level, decision, position').all(id) as Array<Record<string, unknown>>) {
      const key = `${a.level}\u0000${a.decision}`;
      if (!attempts.has(key)) attempts.set(key, []);
      attempts.get(key)!.push(a);
    }
    return levels.map((l): LevelRecord => {
      const level = l.level as number;
      const readMetrics = (name: string, slot: string): GraphMetrics | null => {
        const m = metrics.get(`${level}\u0000${name}\u0000${slot}`);
        if (!m) return null;
        const out: Record<string, unknown> = { weighting: m.weighting };
        for (const f of METRIC_NUMBERS) out[f] = num(m[column(f)]);
        for (const f of METRIC_NULLABLES) out[f] = m[column(f)] ?? null;
        // Derived, not read: version 1 wrote "no edge left" here, since then the degree test.
        out.collapsed = isCollapsed(out as { dL: number | null; dR: number | null });
        return out as unknown as GraphMetrics;
      };
      let legacyCollapse = false;
      const layerRecords = (layers.get(level) ?? []).map((row): LayerLevelRecord => {
        const name = row.name as string;
        const unweighted = readMetrics(name, 'unweighted')!;
        // A row of version 1 has no `collapsed` (NULL, or no column in a store not yet migrated):
        // it is derived from the stored degrees, and the layer's stored verdicts are dropped.
        const stored = row.collapsed;
        const collapsed = stored === null || stored === undefined ? isCollapsed(unweighted) : stored === 1;
        if (collapsed && (stored === null || stored === undefined) && row.analysed === 1) legacyCollapse = true;
        const verdicts = collapsed
          ? null
          : (Object.fromEntries(VERDICTS.map((v) => [v, row[`verdict_${v.toLowerCase()}`] === 1])) as unknown as LayerVerdicts);
        return {
          name,
          kind: row.kind as LayerLevelRecord['kind'],
          shape: JSON.parse(row.shape as string) as number[],
          total: row.total as number,
          remaining: row.remaining as number,
          density: row.density as number,
          analysed: row.analysed === 1,
          unweighted,
          weighted: readMetrics(name, 'weighted')!,
          score: readMetrics(name, 'score'),
          collapsed,
          verdicts,
        };
      });
      const decisionRecords =
        l.has_decisions === 1
          ? (decisions.get(level) ?? []).map((d): Algorithm1Decision => ({
              layer: d.layer as string,
              attempts: (attempts.get(`${level}\u0000${d.position}`) ?? []).map((a): Algorithm1Attempt => {
                const out: Record<string, unknown> = { fraction: a.fraction, removed: a.removed, check: a.check_name };
                for (const f of ATTEMPT_FIELDS) out[f] = a[column(f)] ?? null;
                return out as unknown as Algorithm1Attempt;
              }),
              outcome: d.outcome as Algorithm1Decision['outcome'],
              fraction: d.fraction as number,
              removed: d.removed as number,
            }))
          : null;
      return {
        level,
        density: l.density as number,
        remaining: l.remaining as number,
        total: l.total as number,
        layers: layerRecords,
        trainLoss: num(l.train_loss),
        accuracy: {
          clean: num(l.accuracy),
          noisy: Object.fromEntries((noisy.get(level) ?? []).map((n) => [n.sigma as string, num(n.accuracy)])),
        },
        // Version 1 counted collapsed layers as Ramanujan: such a level's regime is taken again.
        regime: legacyCollapse
          ? networkRegime(layerRecords.filter((x) => x.analysed).map((x) => x.verdicts), l.criterion as LevelRecord['criterion'])
          : (l.regime as LevelRecord['regime']),
        criterion: l.criterion as LevelRecord['criterion'],
        decisions: decisionRecords,
        timings: {
          trainMs: num(l.train_ms),
          evalMs: num(l.eval_ms),
          analyzeMs: num(l.analyze_ms),
          scoreMs: num(l.score_ms),
          pruneMs: num(l.prune_ms),
        },
      };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Events

  /** Appends one event to the log (run start, resume, level, run done, failure...). */
  addEvent(runId: string | null, event: string, data: unknown): void {
    const insert = this.db.prepare('INSERT INTO events (run_id, time, event, data) VALUES (?, ?, ?, ?)');
    guardWrite(this.workspace, () => insert.run(runId, now(), event, JSON.stringify(data ?? {})));
  }

  events(runId: string): Array<{ time: string; event: string; data: unknown }> {
    const rows = this.db.prepare('SELECT time, event, data FROM events WHERE run_id = ? ORDER BY id').all(runId) as Array<{ time: string; event: string; data: string }>;
    return rows.map((r) => ({ time: r.time, event: r.event, data: JSON.parse(r.data) as unknown }));
  }
}

function num(v: unknown): number {
  return v === null || v === undefined ? Number.NaN : (v as number);
}

function groupBy(rows: Array<Record<string, unknown>>): Map<number, Array<Record<string, unknown>>> {
  const out = new Map<number, Array<Record<string, unknown>>>();
  for (const row of rows) {
    const level = row.level as number;
    if (!out.has(level)) out.set(level, []);
    out.get(level)!.push(row);
  }
  return out;
}

function rowOwner(row: RunRow): Owner | null {
  return row.owner_pid === null ? null : { pid: row.owner_pid, host: row.owner_host ?? '', start: row.owner_start };
}

function toSummary(row: RunRow): RunSummary {
  const owner = rowOwner(row);
  const status: RunStatus = row.status === 'running' && (!owner || !ownerAlive(owner)) ? 'interrupted' : row.status;
  return {
    id: row.id,
    label: row.label,
    preset: row.preset,
    config: readStoredConfig(row.config),
    quick: row.quick === 1,
    status,
    levels: row.levels,
    density: row.density,
    accuracy: row.accuracy,
    stopReason: row.stop_reason,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    owner: status === 'running' ? owner : null,
  };
}

/** "the database is damaged" in one line: the first problem SQLite names and how many more. */
function damaged(dbPath: string, problems: string[]): UserError {
  const lines = problems.flatMap((p) => p.split('\n')).map((l) => l.trim()).filter((l) => l !== '' && !/^\*\*\* in database/.test(l));
  const first = (lines[0] ?? 'unknown problem').slice(0, 160);
  const more = lines.length > 1 ? `, and ${lines.length - 1} more problem${lines.length > 2 ? 's' : ''}` : '';
  return new UserError(`${dbPath}: the database is damaged (${first}${more}); it was left as it is: restore it from a copy or use another --workspace`);
}

/**
 * The UserError for a SQLite or system error that is the storage's fault, not a bug: a full disk,
 * an I/O error, a read-only file or folder. Null for anything else.
 */
export function storeError(workspace: string, err: unknown): UserError | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  const where = `workspace ${workspace}`;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
    return new UserError(`${where}: the disk is full (${code}) while writing the run store; what was stored is intact: free some space and run the same command again to resume`);
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') {
    return new UserError(`${where}: input/output error (${code}) while using the run store; what was stored is intact: check the disk and run the same command again`);
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN' || code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new UserError(`${where}: not writable (${code}); this command writes its run store: make the folder writable or use another --workspace`);
  }
  return null;
}

/** Runs a write, turning storage failures into UserErrors naming the workspace. */
function guardWrite<T>(workspace: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    throw storeError(workspace, err) ?? err;
  }
}

/** A UserError unless this process may write the workspace folder (and its database file). */
function checkWritable(workspace: string, dir: string, dbPath: string | null): void {
  for (const path of dbPath === null ? [dir] : [dir, dbPath]) {
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new UserError(`workspace ${workspace}: not writable (${code}${path === dir ? '' : ` on ${DATABASE_FILE}`}); this command writes its run store: make the folder writable or use another --workspace`);
    }
  }
}

/**
 * Opens a database for reading only. Where this process may write the workspace, a normal
 * connection with `query_only` (so that closing it tidies the -wal and -shm files away, as a
 * read-only connection cannot). Elsewhere a read-only connection; a WAL database needs its -shm
 * file, which SQLite cannot make in a folder it may not write, so if no write-ahead log is pending
 * there the file is read into memory and opened from that copy (marked as a rollback-journal
 * database, header bytes 18-19, which only the copy sees). A pending log (a -wal file with
 * content) cannot be read that way, and the message says so.
 */
function openReadOnly(dbPath: string): Database.Database {
  const writable = [dirname(dbPath), dbPath].every((p) => {
    try {
      accessSync(p, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (writable) {
    const rw = new Database(dbPath, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    rw.pragma('query_only = ON');
    return rw;
  }
  const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
    return db;
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code ?? '';
    if (!code.startsWith('SQLITE_READONLY') && code !== 'SQLITE_CANTOPEN') throw err;
    const wal = `${dbPath}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0) {
      throw new UserError(`${dbPath}: cannot be read without writing its folder: it has a pending write-ahead log (${DATABASE_FILE}-wal); run any ramanujan command on it once with write access`);
    }
    const bytes = readFileSync(dbPath);
    bytes[18] = 1;
    bytes[19] = 1;
    return new Database(bytes, { readonly: true });
  }
}

/**
 * Checks, without SQLite, that a database file is one of ours: the SQLite magic string and our
 * application_id (header offset 68), and a schema version this code knows (offset 60).
 */
export function checkHeader(dbPath: string): void {
  const header = Buffer.alloc(100);
  let read = 0;
  const fd = openSync(dbPath, 'r');
  try {
    read = readSync(fd, header, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  const foreign = `${dbPath}: not a ramanujan-lth run store`;
  if (read < 100 || header.toString('latin1', 0, 16) !== 'SQLite format 3\u0000') {
    throw new UserError(`${foreign} (not a SQLite database); it was left as it is: use another --workspace`);
  }
  const appId = header.readUInt32BE(68);
  if (appId !== APPLICATION_ID) {
    throw new UserError(`${foreign} (a SQLite database of another program); it was left as it is: use another --workspace`);
  }
  const version = header.readUInt32BE(60);
  if (version > SCHEMA_VERSION) {
    throw new UserError(`${dbPath}: made by a newer ramanujan-lth (store version ${version}, this one reads ${SCHEMA_VERSION})`);
  }
}

/**
 * Builds a new database under a temporary name (rollback journal, so the header with our
 * application_id is in the main file), switches it to WAL, then links it into place. If another
 * process created the database meanwhile, theirs is kept.
 */
function createDatabase(dbPath: string): void {
  const tmp = `${dbPath}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const db = new Database(tmp);
    db.pragma('journal_mode = DELETE');
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.pragma('journal_mode = WAL');
    db.close();
    const fd = openSync(tmp, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    try {
      linkSync(tmp, dbPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}
