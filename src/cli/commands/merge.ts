/**
 * `ramanujan merge SHARD... --into WS [--json]`: merges the runs of other workspaces (a SLURM
 * sweep's shards, a workspace copied from another machine) into one, with their checkpoints.
 * Idempotent, by run id; two copies of a run with different results are refused, one line each,
 * and the command exits non-zero after merging the rest (src/experiment/merge.ts).
 */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import type { MergeOutcome } from '../../experiment/merge.js';

export function register(program: Command): void {
  program
    .command('merge')
    .description('merge the runs of other workspaces (e.g. a SLURM sweep\'s shards) into one, with their checkpoints; idempotent')
    .argument('<workspaces...>', 'workspace folders to merge from (e.g. ramanujan-runs/shards/*)')
    .requiredOption('--into <workspace>', 'the workspace to merge into (created if missing)')
    .option('--json', 'print a JSON list of {source, run, action, levels, status, note}', false)
    .action(async (sources: string[], opts: { into: string; json: boolean }) => {
      const { mergeWorkspaces } = await import('../../experiment/merge.js');
      const write = (s: string) => void process.stdout.write(s);
      const conflicts: MergeOutcome[] = [];
      const outcomes = mergeWorkspaces(sources, opts.into, {
        onOutcome: (o) => {
          if (o.action === 'conflict') {
            conflicts.push(o);
            process.stderr.write(`ramanujan: ${o.note}\n`);
          } else if (!opts.json) write(`${o.action.padEnd(9)} ${o.run}  from ${o.source}: ${o.note}\n`);
        },
      });
      if (opts.json) write(`${JSON.stringify(outcomes, null, 2)}\n`);
      else {
        const count = (a: string) => outcomes.filter((o) => o.action === a).length;
        write(`merged into ${opts.into}: ${count('added')} added, ${count('updated')} updated, ${count('unchanged')} unchanged, ${count('skipped')} skipped, ${conflicts.length} refused\n`);
      }
      if (conflicts.length > 0) throw new UserError(`${conflicts.length} run${conflicts.length === 1 ? '' : 's'} not merged: their copies hold different results (see above)`);
    });
}
