/**
 * `ramanujan sweep <sweep.yaml|preset> [--workers N]`: a grid of runs over worker processes, with
 * a summary table at the end. Finished runs are reported, unfinished ones resume; a failing run
 * does not stop the others (the command exits non-zero if any failed).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { UserError } from '../../errors.js';
import { encodeEvent } from '../../experiment/events.js';
import type { Override } from '../../experiment/overrides.js';
import { formatPercent } from '../../experiment/progress.js';
import type { SweepReporter, SweepResult } from '../../experiment/sweep.js';
import { collectOverride, deviceOption, interruptSignal, loadBeforeParsing, withDevice, workerCount, workspaceOption, type ExperimentCommandDeps } from './run.js';
import { addSlurmOptions, registerSlurmSubcommands, submitIfSlurm, type SlurmCliOptions } from './slurm.js';
import { terminalSafe } from '../../terminal.js';

function parseSeeds(value: string): number[] {
  const seeds = value.split(',').map((s) => Number(s.trim()));
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new InvalidArgumentError(`expected whole numbers >= 0 separated by commas, got "${value}"`);
  }
  return seeds;
}

function textReporter(write: (s: string) => void): SweepReporter {
  return {
    runStart: (index, total, run, e) => write(`[${index + 1}/${total}] ${run.label} (run ${run.id}): ${e.mode === 'done' ? 'finished earlier' : e.mode === 'resume' ? `resuming after level ${e.resumeFrom}` : 'starting'}\n`),
    level: (run, e) => {
      if (!e.replayed) write(`  ${run.label}: level ${e.level} density ${formatPercent(e.density)} accuracy ${formatPercent(e.accuracy.clean)} regime ${e.regime}\n`);
    },
    progress: () => {},
    runDone: (run, r) => write(`  ${run.label}: ${r.status}${r.note ? ` (${r.note})` : ''}\n`),
  };
}

function jsonReporter(write: (s: string) => void): SweepReporter {
  return {
    runStart: (_i, _n, _run, e) => write(`${encodeEvent(e)}\n`),
    level: (_run, e) => write(`${encodeEvent(e)}\n`),
    progress: () => {},
    runDone: (run, r, e) => write(`${encodeEvent(e ?? { event: 'run-done', run: run.id, status: r.status, levels: r.levels, density: r.density, accuracy: r.accuracy, error: r.note })}\n`),
  };
}

export async function summaryTable(results: SweepResult[]): Promise<string> {
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['run', 'label', 'status', 'levels', 'density', 'accuracy', 'note'], style: { head: [], border: [] } });
  for (const r of results) table.push([r.id, r.label, r.status, String(r.levels), formatPercent(r.density), formatPercent(r.accuracy), r.note.slice(0, 80)]);
  return table.toString();
}

export function register(program: Command, deps: ExperimentCommandDeps = {}): void {
  loadBeforeParsing(program, 'sweep');
  const sweep = program
    .command('sweep')
    .description('run a grid of experiments (a sweep file or a preset with its seeds/variants) over worker processes')
    .argument('<sweep|preset>', 'a sweep file (YAML/JSON with base, set, grid, variants, seeds) or a preset name')
    .option('--workers <n>', 'concurrent worker processes, at most four per core (default: the number of cores)', workerCount)
    .option('--seeds <list>', 'seeds to run, e.g. 0,1,2 (replaces the sweep\'s)', parseSeeds)
    .option('--set <key=value>', 'override a config key in every run (repeatable)', collectOverride, [] as Override[])
    .option('--quick', 'scale every run down for a CPU', false)
    .addOption(deviceOption())
    .option('--json', 'print the runs\' JSON events, one per line, then a sweep-done event', false)
    .option('--dry-run', 'list the runs without running them', false)
    .addOption(workspaceOption())
    .action(async (source: string, opts: { workers?: number; seeds?: number[]; set: Override[]; quick: boolean; device?: string; json: boolean; dryRun: boolean; workspace: string } & SlurmCliOptions) => {
      const { planSweep, runSweep } = await import('../../experiment/sweep.js');
      const plan = planSweep(source, { overrides: withDevice(opts.set, opts.device), quick: opts.quick, seeds: opts.seeds });
      if (await submitIfSlurm(plan, opts)) return;
      // Labels come from sweep files and --set values: no control characters on the terminal
      // (JSON lines escape them already).
      const write = (s: string) => void process.stdout.write(opts.json ? s : terminalSafe(s, { keepNewlines: true }));
      if (opts.dryRun) {
        for (const r of plan.runs) write(`${r.id}  ${r.label}\n`);
        return;
      }
      if (!deps.sweepWorker) {
        const { checkDevice } = await import('../../experiment/environment.js');
        for (const d of new Set(plan.runs.map((r) => r.config.device))) await checkDevice(d);
      }
      if (!opts.json) {
        write(`sweep ${plan.name}: ${plan.runs.length} runs${plan.duplicates.length ? ` (${plan.duplicates.length} duplicate combinations skipped)` : ''}\n`);
      }
      const interrupt = interruptSignal();
      let results: SweepResult[];
      try {
        results = await runSweep(plan, {
          workspace: opts.workspace,
          workers: opts.workers,
          reporter: opts.json ? jsonReporter(write) : textReporter(write),
          workerModule: deps.sweepWorker,
          signal: interrupt.signal,
        });
      } finally {
        interrupt.dispose();
      }
      if (opts.json) write(`${encodeEvent({ event: 'sweep-done', sweep: plan.name, runs: results })}\n`);
      else write(`\n${await summaryTable(results)}\n`);
      const failed = results.filter((r) => r.status !== 'done').length;
      if (interrupt.signal.aborted) throw new UserError('sweep interrupted; run the same command again to resume', 130);
      if (failed > 0) throw new UserError(`${failed} of ${results.length} runs did not finish (see the table above)`);
    });
  addSlurmOptions(sweep);
  registerSlurmSubcommands(sweep, deps);
}
