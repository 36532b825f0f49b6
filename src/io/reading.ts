/** Reading model files: what is refused before a file is opened, and the error when it cannot be read. */
import { statSync } from 'node:fs';
import { fileError, type UserError } from '../errors.js';

/**
 * A UserError unless `path` is a regular file (or a link to one): opening a FIFO for reading
 * waits for a writer forever, and a device is not a file of ours. A missing file is left to the
 * read, which names it.
 */
export function checkRegularFile(path: string, expected: string): void {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return;
  }
  if (!stats.isFile()) throw fileError(path, `is not a regular file (${stats.isDirectory() ? 'a folder' : 'a device, FIFO or socket'}), expected ${expected}`);
}


/** "cannot read the file (ENOENT)": a failed open or read, naming the file. */
export function cannotRead(path: string, err: unknown): UserError {
  return fileError(path, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
}
