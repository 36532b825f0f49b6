/**
 * The `ramanujan` command. Thin: each sub-command lives in its own module under
 * `src/cli/commands/`, parses its options and calls the library.
 */
import { Command, CommanderError } from 'commander';
import { UserError } from '../errors.js';
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
import { register as registerDoctor } from './commands/doctor.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('ramanujan')
    .description('Lottery tickets through a Ramanujan-graph lens: train, prune and analyse networks')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
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
    if (err instanceof CommanderError) {
      // Help and version exit with 0; usage errors were already printed by commander.
      return err.exitCode;
    }
    if (err instanceof UserError) {
      process.stderr.write(`ramanujan: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
