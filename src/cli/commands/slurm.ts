/**
 * The SLURM side of `ramanujan sweep`:
 *
 *   ramanujan sweep <sweep> --slurm [--partition P] [--time T] [--cpus-per-task N] [--gpus N]
 *                   [--max-parallel N] [--sbatch-arg ARG]... [--dry-run]
 *       submits the runs that are not done (and not queued) as one job array
 *   ramanujan sweep status [workspace] [--json]
 *       each submitted run: pending, running (job and task), done, failed (log tail), interrupted
 *   ramanujan sweep task <workspace> <run-id>        (hidden; what an array task runs)
 *
 * The library side is src/experiment/slurm.ts.
 */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import type { SlurmOptions } from '../../experiment/slurm.js';
import type { SweepPlan } from '../../experiment/sweep.js';
import { DEFAULT_WORKSPACE } from '../../experiment/workspace.js';
import { positiveInteger, type ExperimentCommandDeps } from './run.js';

export interface SlurmCliOptions {
  slurm?: boolean;
  partition?: string;
  time?: string;
  cpusPerTask?: number;
  gpus?: string;
  maxParallel?: number;
  sbatchArg?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Adds --slurm and the sbatch options to the sweep command. */
export function addSlurmOptions(sweep: Command): void {
  sweep
    .option('--slurm', 'submit the runs that are not done as one SLURM job array (sbatch) instead of running them here; with --dry-run, print the batch script')
    .option('--partition <name>', 'SLURM partition (with --slurm)')
    .option('--time <limit>', 'SLURM time limit per run, e.g. 4:00:00 (with --slurm)')
    .option('--cpus-per-task <n>', 'CPUs per run (with --slurm)', positiveInteger)
    .option('--gpus <n>', "GPUs per run, when the runs' device is a GPU (with --slurm; default 1)")
    .option('--max-parallel <n>', 'at most this many runs at once, the array\'s %N (with --slurm)', positiveInteger)
    .option('--sbatch-arg <arg>', 'one more sbatch option, e.g. --sbatch-arg=--account=lab (repeatable, with --slurm)', collect);
}

/** The sweep's action for --slurm; returns false when no SLURM option was given. */
export async function submitIfSlurm(plan: SweepPlan, opts: SlurmCliOptions & { dryRun: boolean; workspace: string }): Promise<boolean> {
  const given = (['partition', 'time', 'cpusPerTask', 'gpus', 'maxParallel', 'sbatchArg'] as const).filter((k) => opts[k] !== undefined);
  if (!opts.slurm) {
    if (given.length > 0) throw new UserError(`--${given[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is an option of --slurm; add --slurm to submit the sweep to SLURM`);
    return false;
  }
  const { gpusFor, submitSweep, SHARDS_DIR } = await import('../../experiment/slurm.js');
  const slurm: SlurmOptions = { partition: opts.partition, time: opts.time, cpusPerTask: opts.cpusPerTask, gpus: opts.gpus, maxParallel: opts.maxParallel, sbatchArgs: opts.sbatchArg ?? [] };
  if (opts.gpus !== undefined && gpusFor(plan.runs, slurm) === null) {
    process.stderr.write(`ramanujan: --gpus ${opts.gpus} not requested: no run of this sweep computes on a GPU (its config's device)\n`);
  }
  const result = submitSweep(plan, { workspace: opts.workspace, slurm, dryRun: opts.dryRun });
  const write = (s: string) => void process.stdout.write(s);
  if (opts.dryRun) {
    if (result.script) write(result.script);
    else write(`# nothing to submit: all ${plan.runs.length} runs are done or queued\n`);
    return true;
  }
  for (const s of result.skipped) write(`${s.run.id}  ${s.run.label}: ${s.why}, not submitted\n`);
  if (!result.job) {
    write(`sweep ${plan.name}: nothing to submit (${plan.runs.length} runs done or queued)\n`);
    return true;
  }
  write(`sweep ${plan.name}: submitted ${result.submitted.length} of ${plan.runs.length} runs as job array ${result.job} (tasks 0-${result.submitted.length - 1})\n`);
  write(`  status: ramanujan sweep status ${opts.workspace}\n`);
  write(`  merge:  ramanujan merge ${opts.workspace}/${SHARDS_DIR}/* --into ${opts.workspace}\n`);
  return true;
}

/** `sweep status` and the hidden `sweep task`. */
export function registerSlurmSubcommands(sweep: Command, deps: ExperimentCommandDeps = {}): void {
  sweep
    .command('status')
    .description('the runs a SLURM sweep submitted from a workspace: pending, running (job and task), done, failed (end of its log), interrupted')
    .argument('[workspace]', 'the sweep\'s workspace (default: --workspace, else ./ramanujan-runs)')
    .option('--json', 'print a JSON list of {id, label, status, job, task, levels, note, log, logTail}', false)
    .action(async (workspaceArg: string | undefined, opts: { json: boolean }, command: Command) => {
      const [{ sweepStatus }, { default: Table }] = await Promise.all([import('../../experiment/slurm.js'), import('cli-table3')]);
      // The sweep command has --json and --workspace too and takes them wherever they stand.
      const parent = command.parent?.opts() as { json?: boolean; workspace?: string } | undefined;
      const workspace = workspaceArg ?? parent?.workspace ?? DEFAULT_WORKSPACE;
      const states = sweepStatus(workspace);
      if (opts.json || parent?.json) {
        process.stdout.write(`${JSON.stringify(states, null, 2)}\n`);
        return;
      }
      const table = new Table({ head: ['run', 'label', 'status', 'job', 'levels', 'note'], style: { head: [], border: [] } });
      for (const s of states) table.push([s.id, s.label, s.status, s.job === null ? '-' : `${s.job}_${s.task}`, String(s.levels), s.note.slice(0, 80)]);
      process.stdout.write(`${table.toString()}\n`);
      for (const s of states.filter((x) => x.logTail.length > 0)) {
        process.stdout.write(`\n${s.id} ${s.status}; the end of ${s.log}:\n${s.logTail.map((l) => `  ${l}`).join('\n')}\n`);
      }
      const counts = new Map<string, number>();
      for (const s of states) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
      process.stdout.write(`${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}\n`);
    });

  sweep
    .command('task', { hidden: true })
    .description('run one run of a submitted sweep in its shard (what a SLURM array task runs)')
    .argument('<workspace>', 'the sweep\'s workspace')
    .argument('<run-id>', 'the run')
    .action(async (workspace: string, id: string) => {
      const controller = new AbortController();
      // scancel and the time limit send SIGTERM (then SIGKILL after SLURM's KillWait): stop at
      // the next safe point and leave the run interrupted.
      const stop = (signal: string) => () => {
        process.stderr.write(`ramanujan: ${signal}: stopping at the next safe point (the run stays resumable)\n`);
        controller.abort(new Error(`interrupted by ${signal}`));
      };
      const onTerm = stop('SIGTERM');
      const onInt = stop('SIGINT');
      process.on('SIGTERM', onTerm);
      process.on('SIGINT', onInt);
      const [{ executeSlurmTask }, { realEnvironment }, { plainReporter }] = await Promise.all([
        import('../../experiment/slurm.js'),
        import('../../experiment/environment.js'),
        import('../../experiment/progress.js'),
      ]);
      try {
        const done = await executeSlurmTask(workspace, id, {
          environment: (opts) => (deps.environment ?? realEnvironment)(opts),
          reporter: plainReporter((s) => void process.stdout.write(s), 30_000),
          signal: controller.signal,
        });
        if (done.status !== 'done') throw new UserError(`run ${id} ${done.status}`);
      } catch (err) {
        if (controller.signal.aborted) throw new UserError(`run ${id} interrupted; submitting the sweep again resumes it`, 130);
        if (err instanceof UserError) throw err;
        // The stack for whoever reads the log, then one line to end it (sweep status shows the end).
        process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
        throw new UserError(`run ${id} failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
      }
    });
}
