/**
 * Atomic file writes: the bytes go to a temporary file in the same folder, are fsynced, and the
 * file is renamed over the final name. A crash or a kill at any moment leaves either the old file
 * or the complete new one under that name, never a half-written file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

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
