/**
 * The run store's database file, apart from what is stored in it: making a new one atomically,
 * checking that an existing file is one of ours before SQLite touches it, opening it for reading
 * where the workspace cannot be written, and turning storage failures (full disk, I/O error,
 * read-only folder) into UserErrors that name the workspace. RunStore (store.ts) uses these.
 */
import Database from 'better-sqlite3';
import { accessSync, closeSync, constants, existsSync, fsyncSync, linkSync, openSync, readFileSync, readSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import { APPLICATION_ID, SCHEMA, SCHEMA_VERSION } from './store-schema.js';

export const DATABASE_FILE = 'ramanujan.sqlite';
/** How long a write waits for another process's transaction, in ms. */
export const BUSY_TIMEOUT_MS = 60_000;

/** "the database is damaged" in one line: the first problem SQLite names and how many more. */
export function damaged(dbPath: string, problems: string[]): UserError {
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
export function guardWrite<T>(workspace: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    throw storeError(workspace, err) ?? err;
  }
}

/** A UserError unless this process may write the workspace folder (and its database file). */
export function checkWritable(workspace: string, dir: string, dbPath: string | null): void {
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
export function openReadOnly(dbPath: string): Database.Database {
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
export function createDatabase(dbPath: string): void {
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
