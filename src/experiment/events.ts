/**
 * The events of a run, as `ramanujan run --json` prints them (one JSON object per line) and as the
 * store's event log keeps them. Other tools read these keys, so they are fixed (issue 6): every
 * event has `event` and `run`; a `level` event has `level` (0 = dense), `density`, `layers`
 * ({name, density, ...graph metrics}), `accuracy` ({clean, noisy: {"0.1": ...}}) and `regime`.
 *
 * Numbers that JSON cannot hold are written as strings: "Infinity" (a Delta with t2 = 0),
 * "-Infinity", "NaN". `null` keeps its meaning of "undefined" (e.g. eb for t1 < 1).
 */
import type { LevelRecord } from '../prune/records.js';

export interface RunStartEvent {
  event: 'run-start';
  run: string;
  label: string;
  preset: string | null;
  /** new: nothing stored yet; resume: continues after `resumeFrom`; done: finished earlier, reported */
  mode: 'new' | 'resume' | 'done';
  resumeFrom: number | null;
  maxLevels: number;
  iterations: number;
  quick: boolean;
  workspace: string;
}

export interface LevelEvent extends Omit<LevelRecord, 'layers'> {
  event: 'level';
  run: string;
  layers: LevelRecord['layers'];
  /** true when the level was computed earlier and is read back from the store */
  replayed: boolean;
}

export interface RunDoneEvent {
  event: 'run-done';
  run: string;
  status: 'done' | 'failed' | 'interrupted';
  stopReason: string | null;
  /** level records stored */
  levels: number;
  density: number | null;
  accuracy: number | null;
  /** the run had finished before and was not recomputed */
  cached: boolean;
  error?: string;
}

export interface ProgressUpdate {
  run: string;
  level: number;
  iteration: number;
  iterations: number;
  loss: number;
}

export type RunEvent = RunStartEvent | LevelEvent | RunDoneEvent;

export function levelEvent(run: string, record: LevelRecord, replayed: boolean): LevelEvent {
  // `event`, `run`, `level` first, so the line reads well.
  const { level, density, ...rest } = record;
  return { event: 'level', run, level, density, ...rest, replayed };
}

/** One JSON line, with non-finite numbers as strings. */
export function encodeEvent(event: object): string {
  return JSON.stringify(event, (_key, value: unknown) => {
    if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
    return value;
  });
}

/** Reads a line written by encodeEvent back, restoring the non-finite numbers. */
export function decodeEvent(line: string): Record<string, unknown> {
  return JSON.parse(line, (_key, value: unknown) => {
    if (value === 'Infinity') return Infinity;
    if (value === '-Infinity') return -Infinity;
    if (value === 'NaN') return Number.NaN;
    return value;
  }) as Record<string, unknown>;
}
