/** Reading model files: refuse what is not a regular file before opening it. */
import { statSync } from 'node:fs';
import { fileError } from '../errors.js';

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

