/**
 * The experiment commands (run, sweep, runs, export, presets) wired to the stand-in loop, as a
 * program the tests spawn (and kill). Error handling as in src/cli/main.ts (src/cli/exit.ts).
 */
import { Command } from 'commander';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportCliError } from '../../src/cli/exit.js';
import { register as registerExport } from '../../src/cli/commands/export.js';
import { register as registerMerge } from '../../src/cli/commands/merge.js';
import { register as registerPresets } from '../../src/cli/commands/presets.js';
import { register as registerRun } from '../../src/cli/commands/run.js';
import { register as registerRuns } from '../../src/cli/commands/runs.js';
import { register as registerSweep } from '../../src/cli/commands/sweep.js';
import { standInEnvironment } from './stand-in.js';
import { standInOptionsFromEnv } from './stand-in-options.js';

const self = fileURLToPath(import.meta.url);
const deps = {
  environment: () => standInEnvironment(standInOptionsFromEnv()),
  sweepWorker: join(dirname(self), `stand-in-worker${extname(self)}`),
};

const program = new Command().name('ramanujan').exitOverride();
registerRun(program, deps);
registerSweep(program, deps);
registerRuns(program);
registerExport(program);
registerPresets(program);
registerMerge(program);

// `node --test dist/test/` also starts every file under test/ with no arguments: nothing to do then.
if (process.argv.length > 2) {
  try {
    await program.parseAsync(process.argv.slice(2), { from: 'user' });
  } catch (err) {
    process.exitCode = reportCliError(err);
  }
}
