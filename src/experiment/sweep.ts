/**
 * Sweeps: many runs (algorithms x seeds x criteria ...) from one base config, scheduled over a
 * pool of worker processes. Each run is executed by a child process of its own (src/experiment/
 * sweep-worker.ts), so a run that fails or crashes does not stop the others, and every run keeps
 * the store's crash-safety and resume: rerunning a sweep skips finished runs and resumes the rest.
 *
 * A sweep file (YAML or JSON):
 *
 *   base: lenet-mnist            # a preset, a config file (relative to this file) or a mapping
 *   set:                         # key-path overrides of the base
 *     training.iterations: 5000
 *   grid:                        # crossed: every combination of these values
 *     pruning.algorithm: [imp, snip, synflow]
 *     evaluation.criterion: [UE, combined]
 *   variants:                    # one more axis: named groups of overrides
 *     - { label: alpha-2, set: { pruning.targetAlpha: 2 } }
 *     - { label: bound, set: { pruning.bound: true } }
 *   seeds: [0, 1, 2, 3, 4]       # default: the base preset's seeds, else [the base seed]
 *
 * A preset name works as a sweep too: its seeds (and, for the Table 2 presets, its variants).
 * Order of application: base, sweep `set`, variant, grid values, seed, then the command line's
 * --set; --quick scales the result (the overrides still win over it).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { UserError, fileError } from '../errors.js';
import type { LevelEvent, ProgressUpdate, RunDoneEvent, RunStartEvent } from './events.js';
import type { Override } from './overrides.js';
import { findPreset, PRESETS, type SweepVariant } from './presets.js';
import { buildConfig, fromFileData, readConfigFile, type ConfigSource } from './resolve.js';
import { runId } from './run-id.js';
import type { RunEnvironment, RunRequest } from './runner.js';
import { executeRun } from './runner.js';
import type { ExperimentConfig } from './schema.js';
import { openStore } from './store.js';

const keyPath = z.string().regex(/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/, 'expected a key path such as training.lr');

export const sweepSchema = z.strictObject({
  base: z
    .union([z.string().min(1), z.record(z.string(), z.unknown())])
    .default({})
    .describe('a preset name, a config file (relative to the sweep file) or an inline config'),
  set: z.record(keyPath, z.unknown()).default({}).describe('key-path overrides applied to the base'),
  grid: z.record(keyPath, z.array(z.unknown()).min(1)).default({}).describe('key path -> list of values; every combination is run'),
  variants: z
    .array(z.strictObject({ label: z.string().min(1), set: z.record(keyPath, z.unknown()) }))
    .default([])
    .describe('named groups of overrides, one more axis crossed with the grid'),
  seeds: z.array(z.number().int().min(0)).min(1).optional().describe("seeds every combination runs with (default: the preset's)"),
});

export interface SweepRun extends RunRequest {
  id: string;
}

export interface SweepPlan {
  name: string;
  runs: SweepRun[];
  /** labels of combinations that resolved to a config already in the plan */
  duplicates: string[];
}

/**
 * Expands a sweep file or preset into its runs, validating every config before anything runs.
 * `seeds` from the command line replace the sweep's.
 */
export function planSweep(arg: string, opts: { overrides?: readonly Override[]; quick?: boolean; seeds?: number[] } = {}): SweepPlan {
  const preset = findPreset(arg);
  let base: ConfigSource;
  let spec: z.output<typeof sweepSchema>;
  if (preset) {
    base = { raw: structuredClone(preset.config) as Record<string, unknown>, preset, source: `preset ${arg}`, name: arg };
    spec = { base: arg, set: {}, grid: preset.grid, variants: preset.variants, seeds: preset.seeds };
  } else {
    if (!existsSync(arg)) {
      throw new UserError(`"${arg}" is neither a preset nor a sweep file; presets: ${PRESETS.map((p) => p.name).join(', ')}`);
    }
    const data = readConfigFile(arg);
    const parsed = sweepSchema.safeParse(data);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => {
        const path = i.path.map(String).join('.') || '(sweep)';
        if (i.code === 'unrecognized_keys') return `unknown key ${i.keys.map((k) => `"${k}"`).join(', ')}; a sweep file has base, set, grid, variants, seeds`;
        return `${path}: ${i.message}`;
      });
      throw fileError(arg, lines.join('; '));
    }
    spec = parsed.data;
    base = sweepBase(spec.base, arg);
  }
  const seeds = opts.seeds ?? spec.seeds ?? base.preset?.seeds ?? [null];
  const variants: Array<SweepVariant | null> = spec.variants.length > 0 ? spec.variants : [null];
  const gridKeys = Object.keys(spec.grid);
  const combos = cartesian(gridKeys.map((k) => spec.grid[k]));
  const baseOverrides = toOverrides(spec.set);

  const runs: SweepRun[] = [];
  const duplicates: string[] = [];
  const seen = new Set<string>();
  for (const variant of variants) {
    for (const combo of combos) {
      for (const seed of seeds) {
        const overrides: Override[] = [
          ...baseOverrides,
          ...(variant ? toOverrides(variant.set) : []),
          ...gridKeys.map((key, i) => ({ key, value: combo[i] })),
          ...(seed === null ? [] : [{ key: 'seed', value: seed }]),
          ...(opts.overrides ?? []),
        ];
        const labelParts = [base.name, ...(variant ? [variant.label] : []), ...gridKeys.map((k, i) => `${k.split('.').pop()}=${formatLabelValue(combo[i])}`)];
        if (seed !== null) labelParts.push(`seed=${seed}`);
        if (opts.quick) labelParts.push('quick');
        const label = labelParts.join(' ');
        const config: ExperimentConfig = buildConfig(base.raw, overrides, opts.quick ?? false, `${base.source} [${label}]`);
        const id = runId(config);
        if (seen.has(id)) {
          duplicates.push(label);
          continue;
        }
        seen.add(id);
        runs.push({ id, config, label, preset: base.preset?.name ?? null });
      }
    }
  }
  return { name: preset ? arg : basename(arg, extname(arg)), runs, duplicates };
}

function sweepBase(base: string | Record<string, unknown>, sweepFile: string): ConfigSource {
  if (typeof base !== 'string') return fromFileData(base, sweepFile);
  const preset = findPreset(base);
  if (preset) return { raw: structuredClone(preset.config) as Record<string, unknown>, preset, source: `preset ${base}`, name: base };
  const path = isAbsolute(base) ? base : join(dirname(sweepFile), base);
  return fromFileData(readConfigFile(path), path);
}

function toOverrides(set: Record<string, unknown>): Override[] {
  return Object.entries(set).map(([key, value]) => ({ key, value }));
}

function formatLabelValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function cartesian(axes: unknown[][]): unknown[][] {
  return axes.reduce<unknown[][]>((acc, values) => acc.flatMap((prefix) => values.map((v) => [...prefix, v])), [[]]);
}

// ---------------------------------------------------------------------------------------------
// Running a plan over worker processes.

export interface SweepResult {
  id: string;
  label: string;
  status: 'done' | 'failed' | 'interrupted';
  levels: number;
  density: number | null;
  accuracy: number | null;
  /** the stop reason of a finished run, or what went wrong */
  note: string;
  cached: boolean;
}

export interface SweepReporter {
  runStart(index: number, total: number, run: SweepRun, e: RunStartEvent): void;
  level(run: SweepRun, e: LevelEvent): void;
  progress(run: SweepRun, p: ProgressUpdate): void;
  runDone(run: SweepRun, result: SweepResult, e: RunDoneEvent | null): void;
}

export interface SweepOptions {
  workspace: string;
  /** concurrent worker processes (default: the number of cores) */
  workers?: number;
  reporter: SweepReporter;
  /** the worker module (default: sweep-worker next to this file); tests pass their own */
  workerModule?: string;
  signal?: AbortSignal;
}

/** Messages from a worker process. */
type WorkerMessage =
  | { type: 'start'; event: RunStartEvent }
  | { type: 'level'; event: LevelEvent }
  | { type: 'progress'; update: ProgressUpdate }
  | { type: 'done'; event: RunDoneEvent }
  | { type: 'error'; message: string; event: RunDoneEvent | null };

/** Messages to a worker process. */
export interface WorkerRequest {
  type: 'run';
  request: RunRequest;
  workspace: string;
  threads: number;
}

export function defaultWorkerModule(): string {
  // Same extension as this module: .ts when run from source (tsx), .js from dist.
  const self = fileURLToPath(import.meta.url);
  return join(dirname(self), `sweep-worker${extname(self)}`);
}

/** Runs every run of a plan, `workers` at a time; resolves with one result per run, in plan order. */
export async function runSweep(plan: SweepPlan, opts: SweepOptions): Promise<SweepResult[]> {
  const workers = Math.max(1, Math.min(opts.workers ?? availableParallelism(), plan.runs.length || 1));
  const threads = Math.max(1, Math.floor(availableParallelism() / workers));
  // Create the store once here, so the workers only open it.
  openStore(opts.workspace, { create: true }).close();
  const results: SweepResult[] = new Array(plan.runs.length);
  let next = 0;
  const children = new Set<ChildProcess>();
  const onAbort = () => {
    for (const child of children) child.kill('SIGINT');
  };
  opts.signal?.addEventListener('abort', onAbort);

  const runOne = (index: number): Promise<void> =>
    new Promise((resolvePromise) => {
      const run = plan.runs[index];
      const child = fork(opts.workerModule ?? defaultWorkerModule(), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      children.add(child);
      let stderr = '';
      let done: RunDoneEvent | null = null;
      let error: string | null = null;
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-4000);
      });
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'start') opts.reporter.runStart(index, plan.runs.length, run, m.event);
        else if (m.type === 'level') opts.reporter.level(run, m.event);
        else if (m.type === 'progress') opts.reporter.progress(run, m.update);
        else if (m.type === 'done') done = m.event;
        else if (m.type === 'error') {
          error = m.message;
          done = m.event;
        }
      });
      // 'close', not 'exit': it comes after the child's IPC messages and stderr are all in.
      child.on('close', (code, signal) => {
        children.delete(child);
        const finished = done as RunDoneEvent | null;
        let result: SweepResult;
        if (finished && !error && finished.status === 'done') {
          result = {
            id: run.id,
            label: run.label,
            status: 'done',
            levels: finished.levels,
            density: finished.density,
            accuracy: finished.accuracy,
            note: finished.cached ? `finished earlier${finished.stopReason ? `: ${finished.stopReason}` : ''}` : (finished.stopReason ?? ''),
            cached: finished.cached,
          };
        } else {
          const why = error ?? (signal ? `worker killed by ${signal}` : `worker exited with code ${code}`) + (stderr.trim() ? `: ${lastLine(stderr)}` : '');
          result = {
            id: run.id,
            label: run.label,
            status: finished?.status === 'interrupted' || opts.signal?.aborted ? 'interrupted' : 'failed',
            levels: finished?.levels ?? 0,
            density: finished?.density ?? null,
            accuracy: finished?.accuracy ?? null,
            note: why,
            cached: false,
          };
        }
        results[index] = result;
        opts.reporter.runDone(run, result, finished);
        resolvePromise();
      });
      const message: WorkerRequest = { type: 'run', request: { config: run.config, label: run.label, preset: run.preset }, workspace: opts.workspace, threads };
      child.send(message);
    });

  const lane = async (): Promise<void> => {
    while (next < plan.runs.length && !opts.signal?.aborted) {
      const index = next++;
      await runOne(index);
    }
  };
  await Promise.all(Array.from({ length: workers }, lane));
  opts.signal?.removeEventListener('abort', onAbort);
  // Runs never started because of an interrupt.
  for (let i = 0; i < plan.runs.length; i++) {
    if (!results[i]) {
      const run = plan.runs[i];
      results[i] = { id: run.id, label: run.label, status: 'interrupted', levels: 0, density: null, accuracy: null, note: 'not started', cached: false };
    }
  }
  return results;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1].slice(0, 300);
}

/**
 * The body of a worker process: waits for one run request from the parent, executes it with the
 * given environment, reports its events over IPC, and exits.
 */
export function serveSweepWorker(makeEnvironment: (opts: { threads: number; workspace: string }) => RunEnvironment): void {
  const controller = new AbortController();
  process.on('SIGINT', () => controller.abort(new Error('interrupted')));
  // The IPC channel closes when the sweep process is gone (killed, crashed): stop at the next
  // safe point, leaving the run interrupted and resumable, instead of running on as an orphan
  // that still holds the run.
  process.on('disconnect', () => controller.abort(new Error('interrupted: the sweep process is gone')));
  process.once('message', (m: WorkerRequest) => {
    void (async () => {
      const send = (msg: WorkerMessage) => new Promise<void>((res) => process.send!(msg, () => res()));
      let last: RunDoneEvent | null = null;
      let lastProgress = 0;
      let store: ReturnType<typeof openStore> | null = null;
      try {
        store = openStore(m.workspace, { create: true });
        await executeRun(m.request, {
          store,
          environment: makeEnvironment({ threads: m.threads, workspace: m.workspace }),
          signal: controller.signal,
          reporter: {
            runStart: (event) => void send({ type: 'start', event }),
            level: (event) => void send({ type: 'level', event }),
            progress: (update) => {
              const t = Date.now();
              if (t - lastProgress < 500) return;
              lastProgress = t;
              void send({ type: 'progress', update });
            },
            runDone: (event) => {
              last = event;
            },
          },
        });
        await send({ type: 'done', event: last! });
      } catch (err) {
        await send({ type: 'error', message: err instanceof Error ? err.message : String(err), event: last });
      } finally {
        store?.close();
        if (process.connected) process.disconnect();
      }
    })();
  });
}

