/**
 * The data folder: `dataDir` (--data-dir, data.dataDir), else $RAMANUJAN_DATA_DIR, else ./data.
 * Apart from index.ts so that a config can be checked (src/experiment/resolve.ts) without loading
 * the dataset readers.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';

export function resolveDataDir(dataDir?: string | null): string {
  return resolve(dataDir ?? namedByEnvironment() ?? 'data');
}

/** $RAMANUJAN_DATA_DIR, or null where it is unset or empty. */
function namedByEnvironment(): string | null {
  return process.env.RAMANUJAN_DATA_DIR || null;
}

/**
 * A data folder that was named (`dataDir`, or $RAMANUJAN_DATA_DIR) must exist: a typo or an
 * unmounted disk would otherwise send the search on to the other places it looks (for MNIST, the
 * copy bundled with the package) without a word. The default, ./data, may be absent. `label`
 * names where the folder came from in the message (default: the option or the variable).
 */
export function checkNamedDataDir(dataDir: string | null | undefined, label?: string): void {
  const named = dataDir ?? namedByEnvironment();
  if (named === null) return;
  const source = label ?? (dataDir != null ? 'the data folder given (--data-dir or data.dataDir)' : 'RAMANUJAN_DATA_DIR');
  let isFolder: boolean;
  try {
    isFolder = statSync(named).isDirectory();
  } catch {
    throw new UserError(`${source}: ${resolve(named)} does not exist; name the folder that holds the datasets, or leave it unset for the default (./data)`);
  }
  if (!isFolder) throw new UserError(`${source}: ${resolve(named)} is a file, expected the folder that holds the datasets`);
}
