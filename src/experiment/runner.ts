/**
 * One run, start to end, crash-safe: claim the run in the store, replay what is stored, resume
 * the pruning loop from the last stored level's checkpoint, and store every new level (checkpoint
 * file first, then its rows in one transaction) as the loop emits it.
 *
 * Killing the process at any moment loses at most the level in progress: the rerun finds the run
 * by its id, resumes from the last stored level, and ends with the records of an uninterrupted run
 * (the loop draws each level's randomness from rng.fork(level), so no generator state is saved).
 *
 * The loop and what it needs (kernels, dataset) come in through a `RunEnvironment`, so tests and
 * sweeps can run the same code with another loop.
 */
import type { Dataset } from '../data/types.js';
import type { DeviceChoice } from '../engine/device.js';
import type { Kernels } from '../engine/kernels.js';
import type { LotteryConfig } from '../prune/config.js';
import type { LotteryOptions } from '../prune/lottery.js';
import type { LevelRecord } from '../prune/records.js';
import { readCheckpoint, removeStaleTemporaryFiles, writeLevelCheckpoint, type LotteryCheckpoint } from './checkpoints.js';
import { levelEvent, type ProgressUpdate, type RunDoneEvent, type RunStartEvent, type LevelEvent } from './events.js';
import { runId } from './run-id.js';
import { toLotteryConfig, type ExperimentConfig } from './schema.js';
import type { RunStore } from './store.js';

export interface LoopDeps {
  kernels: Kernels;
  dataset: Dataset;
}

/** runLottery's options (src/prune/lottery.ts). */
export type LoopOptions = LotteryOptions;

/** The signature of `runLottery` (src/prune/lottery.ts); tests pass stand-ins. */
export type LotteryLoop = (config: LotteryConfig, deps: LoopDeps, opts: LoopOptions) => Promise<{ stopReason: string }>;

export interface RunEnvironment {
  loop: LotteryLoop;
  /**
   * Loads what the loop needs for a config on the device asked for (the config's `device`);
   * `close` frees it (worker threads, the GPU device). `engine`, when given, describes the backend
   * and adapter chosen; it is stored with the run as an 'engine' event.
   */
  prepare(config: LotteryConfig, opts?: { device?: DeviceChoice }): Promise<{ deps: LoopDeps; close(): Promise<void>; engine?: EngineRecord }>;
}

/** Which engine a run (or a resumed part of it) computed on. */
export interface EngineRecord {
  /** the config's choice */
  device: DeviceChoice;
  backend: 'wasm' | 'webgpu';
  /** the GPU adapter, for webgpu */
  adapter: string | null;
  /** one line, as printed at start */
  description: string;
}

/** Receives a run's events as they happen (terminal, plain lines, JSON lines, a sweep's parent). */
export interface RunReporter {
  runStart(e: RunStartEvent): void;
  level(e: LevelEvent): void;
  progress(p: ProgressUpdate): void;
  runDone(e: RunDoneEvent): void;
}

export interface RunRequest {
  config: ExperimentConfig;
  label: string;
  preset: string | null;
}

export interface RunContext {
  store: RunStore;
  environment: RunEnvironment;
  reporter: RunReporter;
  signal?: AbortSignal;
  /** take the run over even from a holder that looks alive (another host) */
  force?: boolean;
}

/**
 * Runs (or resumes, or reports) one run. Throws a UserError when another live process holds the
 * run; any other failure is stored with the run (status failed) and rethrown.
 */
export async function executeRun(request: RunRequest, ctx: RunContext): Promise<RunDoneEvent> {
  const { store, reporter } = ctx;
  const id = runId(request.config);
  const claim = store.claimRun({ id, config: request.config, label: request.label, preset: request.preset, force: ctx.force });
  const startEvent = (mode: RunStartEvent['mode'], resumeFrom: number | null): RunStartEvent => ({
    event: 'run-start',
    run: id,
    label: request.label,
    preset: request.preset,
    mode,
    resumeFrom,
    maxLevels: request.config.pruning.maxLevels,
    iterations: request.config.training.iterations,
    quick: request.config.quick,
    workspace: store.workspace,
  });
  const stored = store.levelRecords(id);

  if (claim.kind === 'done') {
    reporter.runStart(startEvent('done', null));
    for (const r of stored) reporter.level(levelEvent(id, r, true));
    const done = doneEvent(id, 'done', claim.run.stopReason, stored, true);
    reporter.runDone(done);
    return done;
  }

  const token = claim.token;
  removeStaleTemporaryFiles(store.workspace, id);
  const states = store.levelStates(id);
  const last = states.length > 0 ? states[states.length - 1] : null;
  reporter.runStart(startEvent(last ? 'resume' : 'new', last?.level ?? null));
  store.addEvent(id, last ? 'resume' : 'run-start', { label: request.label, pid: process.pid, resumeFrom: last?.level ?? null });
  for (const r of stored) reporter.level(levelEvent(id, r, true));
  const records = [...stored];

  try {
    let stopReason: string | null;
    if (last && last.finished) {
      // The loop had finished; only the run's final status was not written.
      stopReason = last.stopReason;
    } else {
      const resume: LotteryCheckpoint | null = last ? readCheckpoint(store.workspace, id, last) : null;
      const lottery = toLotteryConfig(request.config);
      const prepared = await ctx.environment.prepare(lottery, { device: request.config.device });
      if (prepared.engine) store.addEvent(id, 'engine', prepared.engine);
      let expected = last ? last.level + 1 : 0;
      try {
        const result = await ctx.environment.loop(lottery, prepared.deps, {
          resume,
          signal: ctx.signal,
          onProgress: (p) => reporter.progress({ run: id, ...p }),
          onLevel: (record, checkpoint) => {
            if (record.level !== expected) throw new Error(`run ${id}: the loop emitted level ${record.level}, expected ${expected}`);
            const rel = writeLevelCheckpoint(store.workspace, id, record, checkpoint);
            store.recordLevel(id, token, record, { checkpoint: rel, finished: checkpoint.finished, stopReason: checkpoint.stopReason });
            expected = record.level + 1;
            records.push(record);
            reporter.level(levelEvent(id, record, false));
          },
        });
        stopReason = result.stopReason;
      } finally {
        await prepared.close();
      }
    }
    if (ctx.signal?.aborted) throw abortError(ctx.signal);
    store.releaseRun(id, token, { status: 'done', stopReason });
    store.addEvent(id, 'run-done', { stopReason, levels: records.length });
    const done = doneEvent(id, 'done', stopReason, records, false);
    reporter.runDone(done);
    return done;
  } catch (err) {
    const interrupted = ctx.signal?.aborted === true;
    const message = err instanceof Error ? err.message : String(err);
    try {
      store.releaseRun(id, token, { status: interrupted ? 'interrupted' : 'failed', error: interrupted ? null : message });
      store.addEvent(id, interrupted ? 'interrupted' : 'failed', { error: message });
    } catch {
      // The original error matters more; a run left 'running' by a dead process reads as interrupted.
    }
    reporter.runDone({ ...doneEvent(id, interrupted ? 'interrupted' : 'failed', null, records, false), ...(interrupted ? {} : { error: message }) });
    throw err;
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('interrupted');
}

function doneEvent(run: string, status: RunDoneEvent['status'], stopReason: string | null, records: LevelRecord[], cached: boolean): RunDoneEvent {
  const last = records.length > 0 ? records[records.length - 1] : null;
  return {
    event: 'run-done',
    run,
    status,
    stopReason,
    levels: records.length,
    density: last?.density ?? null,
    accuracy: last?.accuracy.clean ?? null,
    cached,
  };
}
