/**
 * `ramanujan run <preset|config> [--set k=v]... [--workspace DIR] [--quick] [--json]`: one
 * lottery run, stored in the workspace; the same config again reports a finished run or resumes
 * an unfinished one.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { UserError } from '../../errors.js';
import type { Override } from '../../experiment/overrides.js';
import type { RunEnvironment } from '../../experiment/runner.js';
import type { configFields } from '../../experiment/schema.js';
import { DEFAULT_WORKSPACE } from '../../experiment/workspace.js';

// Start-up: the command definitions import only commander and small modules; each action loads
// what it uses with import() (the experiment modules, zod, yaml and better-sqlite3 cost over a
// second of start-up together; `ramanujan --version` needs none of them; `npm run bench -- cli`).

/** Loaded by `loadBeforeParsing` for the commands whose option parsing or help needs it. */
let overridesModule: typeof import('../../experiment/overrides.js') | null = null;
let configFieldGroups: ReturnType<typeof configFields> | null = null;

/**
 * Loads, when commander dispatches the sub-command `name` (its preSubcommand hook runs before the
 * sub-command parses its options or prints its help), what parsing needs synchronously: the YAML
 * parser for --set values and the schema for the config keys of the help.
 */
export function loadBeforeParsing(program: Command, name: string): void {
  program.hook('preSubcommand', async (_program, sub) => {
    if (sub.name() !== name) return;
    overridesModule ??= await import('../../experiment/overrides.js');
    configFieldGroups ??= (await import('../../experiment/schema.js')).configFields();
  });
}

/** What the experiment commands can be given instead of the real loop (tests). */
export interface ExperimentCommandDeps {
  environment?: (opts: { threads?: number; workspace: string }) => RunEnvironment;
  /** worker module for sweeps */
  sweepWorker?: string;
}

export function collectOverride(value: string, previous: Override[]): Override[] {
  if (!overridesModule) throw new Error('collectOverride: call loadBeforeParsing for this command first');
  try {
    return [...previous, overridesModule.parseSetOption(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number >= 1, got "${value}"`);
  return n;
}

/**
 * --threads: 1 to the cores of this machine. Compute threads beyond the cores only wait for each
 * other, and each holds its own buffers; `--threads 1000` would start a thousand workers.
 */
export function threadCount(value: string): number {
  const n = positiveInteger(value);
  const cores = availableParallelism();
  if (n > cores) throw new InvalidArgumentError(`at most ${cores} (the cores of this machine), got "${value}"`);
  return n;
}

/**
 * --workers (sweeps): 1 to four per core. Each worker is a process with its own dataset and
 * kernels; more only compete for the cores (and `--workers 1000` would start a thousand).
 */
export function workerCount(value: string): number {
  const n = positiveInteger(value);
  const most = 4 * availableParallelism();
  if (n > most) throw new InvalidArgumentError(`at most ${most} (four per core of this machine), got "${value}"`);
  return n;
}

/** --device: shorthand for --set device=...; the choice is stored in the config, never in the run id. */
export const deviceOption = () =>
  new Option('--device <device>', 'compute device: auto (a hardware GPU when present, else the CPU), cpu or gpu (same as --set device=...)').choices(['auto', 'cpu', 'gpu']);

/** The --set overrides with --device appended (so --device wins). */
export function withDevice(overrides: Override[], device: string | undefined): Override[] {
  return device === undefined ? overrides : [...overrides, { key: 'device', value: device }];
}

export const workspaceOption = () => new Option('--workspace <dir>', 'workspace folder holding the run store').default(DEFAULT_WORKSPACE);

/** The config keys, for the help text: generated from the schema. */
export function configHelp(): string {
  const lines = ['', 'Config keys (set in a YAML/JSON file or with --set key=value):'];
  for (const group of configFieldGroups ?? []) {
    for (const f of group.fields) {
      lines.push(`  ${f.key.padEnd(30)} ${f.description} [${f.allowed}; default ${f.default}]`);
    }
  }
  return lines.join('\n');
}

/** Aborts on the first Ctrl-C (the run stops cleanly and can be resumed); exits on the second. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nramanujan: interrupting (the run can be resumed; Ctrl-C again to quit at once)\n');
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export function register(program: Command, deps: ExperimentCommandDeps = {}): void {
  loadBeforeParsing(program, 'run');
  program
    .command('run')
    .description('run one lottery experiment (a preset or a config file); resumes or reports a run already in the workspace')
    .argument('<preset|config>', 'a preset name (see ramanujan presets) or a YAML/JSON config file')
    .option('--set <key=value>', 'override a config key, e.g. --set training.lr=0.001 (repeatable)', collectOverride, [] as Override[])
    .addOption(workspaceOption())
    .option('--quick', 'scale the experiment down for a CPU (fewer iterations and levels; recorded in the config)', false)
    .option('--json', 'print one JSON event per line (run-start, level, run-done)', false)
    .option('--threads <n>', 'compute threads, at most the cores (default: all cores)', threadCount)
    .addOption(deviceOption())
    .option('--force', 'take the run over even if another host seems to hold it', false)
    .addHelpText('after', () => configHelp())
    .action(async (source: string, opts: { set: Override[]; workspace: string; quick: boolean; json: boolean; threads?: number; device?: string; force: boolean }) => {
      const [{ checkDevice, realEnvironment }, { reporterFor }, { resolveRun }, { executeRun }, { openStore }, { summaryTable }] = await Promise.all([
        import('../../experiment/environment.js'),
        import('../../experiment/progress.js'),
        import('../../experiment/resolve.js'),
        import('../../experiment/runner.js'),
        import('../../experiment/store.js'),
        import('../../report/summary.js'),
      ]);
      // Everything is validated before the workspace is touched, the device included.
      const resolved = resolveRun(source, withDevice(opts.set, opts.device), opts.quick);
      if (!deps.environment) await checkDevice(resolved.config.device);
      const environment = (deps.environment ?? realEnvironment)({ threads: opts.threads, workspace: opts.workspace });
      const store = openStore(opts.workspace, { create: true });
      const interrupt = interruptSignal();
      try {
        const done = await executeRun(resolved, { store, environment, reporter: reporterFor({ json: opts.json }), signal: interrupt.signal, force: opts.force });
        if (done.status !== 'done') throw new UserError(`run ${done.run} ${done.status}`);
        // The per-level summary (density, clean and noisy accuracy, regime); --json has it in its events.
        if (!opts.json) process.stdout.write(`\n${summaryTable(store.levelRecords(done.run))}\n`);
      } catch (err) {
        if (interrupt.signal.aborted) throw new UserError('interrupted; run the same command again to resume', 130);
        throw err;
      } finally {
        interrupt.dispose();
        store.close();
      }
    });
}
