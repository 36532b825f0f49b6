/**
 * What the CLI prints when a command fails, and its exit code:
 *  - a usage error: commander has printed it already; its exit code.
 *  - a UserError (bad input, see src/errors.ts): "ramanujan: <message>", with control characters
 *    escaped (a message may quote a name from a file), no stack trace; its exit code.
 *  - a system condition that is not a bug (disk full, read-only or failing storage) that escaped
 *    the places that name their file: one line with the path when the error has one; exit 1.
 *  - anything else is a bug: "internal error", the stack trace, and how to report it; exit 70
 *    (EX_SOFTWARE).
 */
import { CommanderError } from 'commander';
import { UserError } from '../errors.js';
import { terminalSafe } from '../terminal.js';

/** Exit code of an internal error (sysexits.h EX_SOFTWARE). */
export const INTERNAL_ERROR_EXIT = 70;

const ENVIRONMENT_CODES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EIO: 'input/output error',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  SQLITE_FULL: 'the disk is full',
};

function environmentProblem(err: unknown): string | null {
  const e = err as { code?: unknown; path?: unknown; message?: unknown } | null;
  if (!e || typeof e.code !== 'string') return null;
  const what = ENVIRONMENT_CODES[e.code] ?? (e.code.startsWith('SQLITE_IOERR') ? 'input/output error in the run store' : null);
  if (what === null) return null;
  const where = typeof e.path === 'string' ? `${e.path}: ` : '';
  return `${where}${what} (${e.code}); nothing was lost: fix that and run the same command again`;
}

/** Prints `err` as described above and returns the exit code. */
export function reportCliError(err: unknown, write: (text: string) => void = (s) => void process.stderr.write(s)): number {
  if (err instanceof CommanderError) return err.exitCode;
  if (err instanceof UserError) {
    write(`ramanujan: ${terminalSafe(err.message, { keepNewlines: true })}\n`);
    return err.exitCode;
  }
  const environment = environmentProblem(err);
  if (environment !== null) {
    write(`ramanujan: ${terminalSafe(environment)}\n`);
    return 1;
  }
  const detail = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  write(
    `ramanujan: internal error (a bug in ramanujan-lth, not a problem with your input): ${terminalSafe(detail, { keepNewlines: true })}\n` +
      'Please report it on the ramanujan-lth issue tracker with the command you ran, the output of `ramanujan --version` and this whole message.\n',
  );
  return INTERNAL_ERROR_EXIT;
}
