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
 * Modules: the tables and their column map are in store-schema.ts, how a level record becomes
 * rows and back in store-levels.ts, the database file's safety (below) in store-file.ts.
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
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { LevelRecord } from '../prune/records.js';
import { currentOwner, ownerAlive, type Owner } from './owner.js';
import { canonicalJson, idJson, readStoredConfig } from './run-id.js';
import type { ExperimentConfig } from './schema.js';
import { BUSY_TIMEOUT_MS, checkHeader, checkWritable, createDatabase, DATABASE_FILE, damaged, guardWrite, openReadOnly, storeError } from './store-file.js';
import { readLevelRecords, writeLevelRows, type LevelCheckpointState } from './store-levels.js';
import { SCHEMA_VERSION, TABLES } from './store-schema.js';

export { DATABASE_FILE, checkHeader, storeError } from './store-file.js';
export { APPLICATION_ID, SCHEMA_VERSION } from './store-schema.js';
export { DEFAULT_WORKSPACE } from './workspace.js';

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
export interface StoredLevelState extends LevelCheckpointState {
  level: number;
}

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
  recordLevel(id: string, token: string, record: LevelRecord, state: LevelCheckpointState): void {
    const write = this.db.transaction(() => {
      this.requireHolder(id, token);
      const t = now();
      writeLevelRows(this.db, id, record, state, t);
      this.db.prepare('UPDATE runs SET updated_at = ? WHERE id = ?').run(t, id);
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
    return readLevelRecords(this.db, id);
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
