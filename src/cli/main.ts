/**
 * The `ramanujan` command. Thin: each sub-command lives in its own module under
 * `src/cli/commands/`, parses its options and calls the library.
 */
import { Command } from 'commander';
import { reportCliError } from './exit.js';
import { packageVersion } from './version.js';
import { register as registerRun } from './commands/run.js';
import { register as registerSweep } from './commands/sweep.js';
import { register as registerRuns } from './commands/runs.js';
import { register as registerExport } from './commands/export.js';
import { register as registerPresets } from './commands/presets.js';
import { register as registerData } from './commands/data.js';
import { register as registerReport } from './commands/report.js';
import { register as registerAnalyze } from './commands/analyze.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerMerge } from './commands/merge.js';
import { register as registerDoctor } from './commands/doctor.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('ramanujan')
    .description('Lottery tickets through a Ramanujan-graph lens: train, prune and analyse networks')
    .version(packageVersion(), '-V, --version')
    // A usage error is one line and a pointer to the help (the full help of `run` is 60 lines).
    .showHelpAfterError('(run the command with --help for its usage)')
    .exitOverride();
  // Sub-commands register themselves here, one line each.
  registerRun(program);
  registerSweep(program);
  registerRuns(program);
  registerExport(program);
  registerPresets(program);
  registerData(program);
  registerReport(program);
  registerAnalyze(program);
  registerDemo(program);
  registerMerge(program);
  registerDoctor(program);
  return program;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    // Help and version exit with 0; usage errors were already printed by commander; user errors
    // are one line; anything else is a bug, reported as an internal error (src/cli/exit.ts).
    return reportCliError(err);
  }
}

export { reportCliError } from './exit.js';
