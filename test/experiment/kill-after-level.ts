/**
 * Starting the real CLI (real-cli.ts) as a child process and killing it with SIGKILL right after
 * its first `level` event (`--json` output): the shared first step of the kill-and-resume tests.
 * Not a test file itself.
 */
import { spawn } from 'node:child_process';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeEvent } from '../../src/experiment/events.js';

const self = fileURLToPath(import.meta.url);
const entry = join(dirname(self), `real-cli${extname(self)}`);
/** Node arguments that run the real CLI from source (tsx) or from dist. */
export const cliNodeArgs: string[] = entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];

export interface KilledRun {
  /** the run id of the run-start event ('' if none came) */
  id: string;
  /** level events seen before the child exited */
  levelsSeen: number;
  stderr: string;
  exit: { code: number | null; signal: string | null };
}

/** Runs `ramanujan <args>` (args include --json) and SIGKILLs it at its first level event. */
export async function runAndKillAfterFirstLevel(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<KilledRun> {
  const child = spawn(process.execPath, [...cliNodeArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const run: KilledRun = { id: '', levelsSeen: 0, stderr: '', exit: { code: null, signal: null } };
  let buffer = '';
  child.stderr.on('data', (c: Buffer) => (run.stderr += c.toString('utf8')));
  child.stdout.on('data', (c: Buffer) => {
    buffer += c.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const e = decodeEvent(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      if (e.event === 'run-start') run.id = e.run as string;
      if (e.event === 'level') {
        run.levelsSeen++;
        child.kill('SIGKILL');
      }
    }
  });
  run.exit = await new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return run;
}
