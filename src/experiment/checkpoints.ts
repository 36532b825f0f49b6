/**
 * A run's checkpoint files (safetensors, written atomically by src/io/safetensors.ts):
 *
 *   runs/<id>/rewind.safetensors      every parameter and buffer at the rewind iteration of the
 *                                     first training; the same for every level, so written once
 *   runs/<id>/level-0003.safetensors  level 3: `trained/<name>` every parameter and buffer after
 *                                     training, `next_mask/<weight>` the masks pruning chose for
 *                                     level 4
 *
 * The masks a level trained under are the previous level's `next_mask/` (level 0 is dense), so
 * they are not stored twice.
 *
 * Names after the prefix are the model's PyTorch names (`fc1.weight`, `features.0.bias`). Weights
 * keep their PyTorch shapes (taken from the level record's layers); BatchNorm's
 * num_batches_tracked is a scalar and every other tensor (biases, batch-norm parameters and
 * statistics) is 1-D, as in PyTorch.
 *
 * Together with the stored records, the last level's file and the rewind file are exactly the
 * `LotteryCheckpoint` the pruning loop resumes from.
 */
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileError } from '../errors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { LotteryCheckpoint } from '../prune/lottery.js';
import type { LevelRecord } from '../prune/records.js';

export type { LotteryCheckpoint };

export const REWIND_FILE = 'rewind.safetensors';

export function levelFile(level: number): string {
  return `level-${String(level).padStart(4, '0')}.safetensors`;
}

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

/** PyTorch shapes of the prunable weights, from a level record. */
export function weightShapes(record: LevelRecord): Map<string, number[]> {
  return new Map(record.layers.map((l) => [l.name, l.shape]));
}

/** A tensor's PyTorch shape: a weight's from the record; BatchNorm's num_batches_tracked is a
 *  scalar (as src/nn writes it); biases and the other BatchNorm tensors are 1-D. */
export function tensorShape(name: string, length: number, shapes: Map<string, number[]>): number[] {
  const known = shapes.get(name);
  if (known) return known;
  if (name.endsWith('.num_batches_tracked') && length === 1) return [];
  return [length];
}

function addAll(out: Tensors, prefix: string, state: Map<string, Float32Array>, shapes: Map<string, number[]>): void {
  for (const [name, data] of state) {
    out.set(`${prefix}${name}`, { shape: tensorShape(name, data.length, shapes), data });
  }
}

/**
 * Writes a level's checkpoint (and the rewind file if it is not there yet). Returns the level
 * file's path relative to the workspace.
 */
export function writeLevelCheckpoint(workspace: string, runId: string, record: LevelRecord, checkpoint: LotteryCheckpoint): string {
  const rel = join('runs', runId, levelFile(record.level));
  const dir = join(workspace, 'runs', runId);
  mkdirSync(dir, { recursive: true });
  const shapes = weightShapes(record);
  const rewindPath = join(dir, REWIND_FILE);
  if (!existsSync(rewindPath)) {
    const rewind: Tensors = new Map();
    addAll(rewind, '', checkpoint.rewindState, shapes);
    writeSafetensors(rewindPath, rewind, { run: runId, content: 'rewind state' });
  }
  const tensors: Tensors = new Map();
  addAll(tensors, 'trained/', checkpoint.trainedState, shapes);
  addAll(tensors, 'next_mask/', checkpoint.nextMasks, shapes);
  writeSafetensors(join(workspace, rel), tensors, { run: runId, level: String(record.level) });
  return rel;
}

export interface LevelTensors {
  trained: Map<string, { shape: number[]; data: Float32Array }>;
  nextMasks: Map<string, { shape: number[]; data: Float32Array }>;
}

/** Reads a level's checkpoint file, split by prefix. */
export function readLevelTensors(workspace: string, checkpointRel: string): LevelTensors {
  const path = join(workspace, checkpointRel);
  if (!existsSync(path)) throw fileError(path, 'the checkpoint of this level is missing');
  const file = readSafetensors(path);
  const out: LevelTensors = { trained: new Map(), nextMasks: new Map() };
  for (const [key, t] of file.tensors) {
    const slash = key.indexOf('/');
    const prefix = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const target = prefix === 'trained' ? out.trained : prefix === 'next_mask' ? out.nextMasks : null;
    if (!target || !(t.data instanceof Float32Array)) throw fileError(path, `unexpected tensor "${key}" (${t.dtype})`);
    target.set(name, { shape: t.shape, data: t.data });
  }
  return out;
}

/**
 * The masks level `level` trained under: the previous level's next masks, or all ones for level 0
 * (shaped like level 0's next masks). `checkpointOf` gives a stored level's checkpoint file.
 */
export function levelMasks(
  workspace: string,
  level: number,
  checkpointOf: (level: number) => string,
): Map<string, { shape: number[]; data: Float32Array }> {
  if (level === 0) {
    const first = readLevelTensors(workspace, checkpointOf(0)).nextMasks;
    return new Map([...first].map(([name, m]) => [name, { shape: m.shape, data: new Float32Array(m.data.length).fill(1) }]));
  }
  return readLevelTensors(workspace, checkpointOf(level - 1)).nextMasks;
}

const dataOnly = (m: Map<string, { data: Float32Array }>) => new Map([...m].map(([k, v]) => [k, v.data]));

/** The loop's checkpoint after a stored level, to resume from. */
export function readCheckpoint(
  workspace: string,
  runId: string,
  state: { level: number; checkpoint: string; finished: boolean; stopReason: string | null },
): LotteryCheckpoint {
  const level = readLevelTensors(workspace, state.checkpoint);
  const rewindPath = join(workspace, 'runs', runId, REWIND_FILE);
  if (!existsSync(rewindPath)) throw fileError(rewindPath, 'the rewind checkpoint of this run is missing');
  const rewind = readSafetensors(rewindPath);
  const rewindState = new Map<string, Float32Array>();
  for (const [name, t] of rewind.tensors) {
    if (!(t.data instanceof Float32Array)) throw fileError(rewindPath, `tensor "${name}" is ${t.dtype}, expected F32`);
    rewindState.set(name, t.data);
  }
  return {
    level: state.level,
    nextMasks: dataOnly(level.nextMasks),
    rewindState,
    trainedState: dataOnly(level.trained),
    finished: state.finished,
    stopReason: state.stopReason,
  };
}

/**
 * Removes the temporary files of checkpoint writes that a killed process left in a run's folder
 * (writes go to `.<name>.<pid>.<random>.tmp` and are renamed when complete). Called by the process
 * that holds the run, so no live writer owns them.
 */
export function removeStaleTemporaryFiles(workspace: string, runId: string): number {
  const dir = join(workspace, 'runs', runId);
  if (!existsSync(dir)) return 0;
  let removed = 0;
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      unlinkSync(join(dir, name));
      removed++;
    }
  }
  return removed;
}
