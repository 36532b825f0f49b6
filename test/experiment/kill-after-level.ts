/**
 * Starting the real CLI (real-cli.ts) as a child process and killing it with SIGKILL right after
 * its first `level` event (`--json` output), and comparing the resumed run with an uninterrupted
 * one: the shared steps of the kill-and-resume tests.
 * Not a test file itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeEvent } from '../../src/experiment/events.js';
import { openStore } from '../../src/experiment/store.js';
import type { LevelRecord } from '../../src/prune/records.js';

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

/** The level records of run `id` in the store of `workspace` (opened and closed here). */
export function storedRecords(workspace: string, id: string): LevelRecord[] {
  const store = openStore(workspace);
  try {
    return store.levelRecords(id);
  } finally {
    store.close();
  }
}

/** Asserts that levels 0..levels-1 of run `id` have byte-identical checkpoints in both workspaces. */
export function assertSameCheckpoints(a: string, b: string, id: string, levels: number): void {
  for (let level = 0; level < levels; level++) {
    const file = `runs/${id}/level-${String(level).padStart(4, '0')}.safetensors`;
    assert.ok(readFileSync(join(a, file)).equals(readFileSync(join(b, file))), file);
  }
}
