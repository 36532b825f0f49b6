/**
 * `ramanujan runs [--workspace DIR] [--json]`: the runs of a workspace with their status.
 * `ramanujan runs <id>`: that run (an id or a unique prefix) and its per-level table (density,
 * clean and noisy accuracy, regime), as `run` prints it at the end; --json gives the run with its
 * level records.
 * `--delete ID...` removes runs (rows and checkpoints), e.g. one made with data that has since
 * changed; every id is resolved before anything is deleted, so a typo deletes nothing.
 */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { formatPercent } from '../../experiment/progress.js';
import { terminalSafe } from '../../terminal.js';
import { workspaceOption } from './run.js';

export function register(program: Command): void {
  program
    .command('runs')
    .description('list the runs of a workspace: status, levels done, final density and accuracy; with a run id, that run\'s per-level table')
    .argument('[run-id]', 'show this run (an id or a unique prefix of one) level by level')
    .addOption(workspaceOption())
    .option('--json', 'print a JSON list of {id, status, levels, density, accuracy, ...}', false)
    .option('--delete <run-ids...>', 'delete these runs (ids or unique prefixes): their records and checkpoints')
    .action(async (runId: string | undefined, opts: { workspace: string; json: boolean; delete?: string[] }) => {
      const { openStore } = await import('../../experiment/store.js');
      // Listing only reads (so it works in a read-only workspace); --delete writes.
      const store = openStore(opts.workspace, { readonly: !opts.delete });
      try {
        if (runId !== undefined) {
          if (opts.delete) throw new UserError('runs: give a run id to show or --delete, not both');
          const id = store.resolveRunId(runId);
          const run = store.getRun(id)!;
          const records = store.levelRecords(id);
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ ...run, records }, null, 2)}\n`);
            return;
          }
          process.stdout.write(`run ${run.id}  ${run.label}  ${run.status}${run.stopReason ? ` (${run.stopReason})` : ''}${run.error ? `: ${run.error}` : ''}\n`);
          if (records.length === 0) {
            process.stdout.write('no level stored yet\n');
            return;
          }
          const { summaryTable } = await import('../../report/summary.js');
          process.stdout.write(`${summaryTable(records)}\n`);
          return;
        }
        if (opts.delete) {
          const ids = [...new Set(opts.delete.map((prefix) => store.resolveRunId(prefix)))];
          for (const id of ids) {
            const label = store.getRun(id)?.label ?? '';
            store.deleteRun(id);
            process.stdout.write(`deleted ${id}  ${terminalSafe(label)}\n`);
          }
          return;
        }
        const runs = store.listRuns();
        if (opts.json) {
          const list = runs.map((r) => ({
            id: r.id,
            status: r.status,
            levels: r.levels,
            density: r.density,
            accuracy: r.accuracy,
            label: r.label,
            preset: r.preset,
            quick: r.quick,
            stopReason: r.stopReason,
            error: r.error,
            createdAt: r.createdAt,
            updatedAt: r.updatedAt,
          }));
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        if (runs.length === 0) {
          process.stdout.write(`no runs in ${terminalSafe(opts.workspace)}\n`);
          return;
        }
        const { default: Table } = await import('cli-table3');
        const table = new Table({ head: ['id', 'status', 'levels', 'density', 'accuracy', 'label', 'updated'], style: { head: [], border: [] } });
        for (const r of runs) {
          // Labels come from file names and --set values: no control characters on the terminal.
          table.push([r.id, r.status, String(r.levels), formatPercent(r.density), formatPercent(r.accuracy), r.label, r.updatedAt.replace('T', ' ').slice(0, 19)].map((c) => terminalSafe(c)));
        }
        process.stdout.write(`${table.toString()}\n`);
      } finally {
        store.close();
      }
    });
}
