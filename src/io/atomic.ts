/**
 * Atomic file writes: the bytes go to a temporary file in the same folder, are fsynced, and the
 * file is renamed over the final name. A crash or a kill at any moment leaves either the old file
 * or the complete new one under that name, never a half-written file.
 *
 * Files a user names (export --out) are checked first (checkOutputFile: no folders, devices,
 * links, files of the workspace, or existing files without --force) and made by publishFile.
 */
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { UserError, fileError } from '../errors.js';

/**
 * Writes `parts` one after another to `path`, atomically. The folder must exist unless
 * `createFolder` is set. Throws the underlying system error (callers turn it into a UserError
 * naming their file).
 */
export function writeFileAtomic(path: string, parts: ReadonlyArray<Uint8Array | string>, opts: { createFolder?: boolean } = {}): void {
  const folder = dirname(path);
  if (opts.createFolder) mkdirSync(folder, { recursive: true });
  const tmp = join(folder, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | null = openSync(tmp, 'w');
  try {
    for (const part of parts) {
      const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file is already gone
    }
    throw err;
  }
}

/** A folder an output file must not be written into, and what it is (for the message). */
export interface ProtectedFolder {
  folder: string;
  what: string;
}

/**
 * Checks, before anything is computed, that `path` may receive a new file: it is not a folder,
 * a device, a FIFO, a socket or a symbolic link; its folder exists; it is not inside a protected
 * folder (symbolic links resolved, so a link into the folder does not get round it); and it does
 * not exist unless `force`. Throws a UserError naming `path`.
 */
export function checkOutputFile(path: string, opts: { force?: boolean; protect?: readonly ProtectedFolder[] } = {}): void {
  const abs = resolve(path);
  if (/[/\\]$/.test(path)) throw fileError(path, 'is a folder, expected a file name');
  const existing = lstatOrNull(abs, path);
  if (existing?.isDirectory()) throw fileError(path, 'is a folder, expected a file name');
  if (existing?.isSymbolicLink()) throw fileError(path, 'is a symbolic link; give the path of a regular file (the link is not followed)');
  if (existing && !existing.isFile()) throw fileError(path, 'is not a regular file (a device, FIFO or socket); only regular files are written');
  const folder = dirname(abs);
  const folderStat = statOrNull(folder, path);
  if (!folderStat) throw fileError(path, `the folder ${folder} does not exist`);
  if (!folderStat.isDirectory()) throw fileError(path, `${folder} is not a folder`);
  const real = join(realpathSync(folder), basename(abs));
  for (const p of opts.protect ?? []) {
    const guarded = existsSync(p.folder) ? realpathSync(p.folder) : resolve(p.folder);
    if (real === guarded || real.startsWith(guarded.endsWith(sep) ? guarded : guarded + sep)) {
      throw fileError(path, `is inside the ${p.what} ${p.folder}, whose files must not be replaced; write it elsewhere`);
    }
  }
  if (existing && !opts.force) throw fileError(path, 'already exists; add --force to replace it');
}

function lstatOrNull(abs: string, shown: string): Stats | null {
  try {
    return lstatSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fileError(shown, `cannot be examined (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function statOrNull(abs: string, shown: string): Stats | null {
  try {
    return statSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw fileError(shown, `cannot be examined (${code ?? String(err)})`);
  }
}

/**
 * Makes the file `path` atomically: `write` writes a temporary file in the same folder, which is
 * then moved into place. Without `overwrite` it is hard-linked into place, which fails if a file
 * appeared there meanwhile (so nothing is ever replaced); with it, it is renamed over the old one.
 */
export function publishFile(path: string, write: (temporary: string) => void, opts: { overwrite: boolean }): void {
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${basename(abs)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    write(tmp);
    if (opts.overwrite) renameSync(tmp, abs);
    else {
      try {
        linkSync(tmp, abs);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw fileError(path, 'already exists; add --force to replace it');
        // File systems without hard links (FAT, some network mounts): check, then rename.
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
        if (existsSync(abs)) throw fileError(path, 'already exists; add --force to replace it');
        renameSync(tmp, abs);
      }
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw fileError(path, `cannot write the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed into place, or never made
    }
  }
}
