/**
 * A model's state as a safetensors file (src/io/safetensors.ts), readable by PyTorch as is.
 *
 * Layout: every parameter and buffer under its PyTorch name and shape (F32), plus, when asked, the
 * mask of each prunable weight as `<weight name>_mask` (the name torch.nn.utils.prune gives the
 * mask buffer, e.g. `fc1.weight_mask`), 0/1 in F32. BatchNorm's `num_batches_tracked` is a
 * scalar (shape []). docs/models.md shows how to load such a file in PyTorch.
 */
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { fileError } from '../errors.js';
import type { Sequential } from './sequential.js';

export const MASK_SUFFIX = '_mask';

/** The tensors `saveModel` writes: state dict (+ masks), with shapes (downloaded from the device). */
export async function modelTensors(model: Sequential, opts: { masks?: boolean } = {}): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const shapes = model.stateShapes();
  for (const [name, data] of await model.stateDict()) out.set(name, { shape: shapes.get(name)!, data });
  if (opts.masks ?? true) {
    for (const [name, mask] of await model.masks()) out.set(name + MASK_SUFFIX, { shape: shapes.get(name)!, data: mask });
  }
  return out;
}

/** Writes the model's parameters, buffers and (by default) masks to `path`, atomically. */
export async function saveModel(model: Sequential, path: string, opts: { masks?: boolean; metadata?: Record<string, string> } = {}): Promise<void> {
  writeSafetensors(path, await modelTensors(model, opts), { model: model.name, ...(opts.metadata ?? {}) });
}

function sameShape(a: number[], b: number[]): boolean {
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  // a scalar may be stored as [] or [1]
  if (size(a) === 1 && size(b) === 1 && a.length <= 1 && b.length <= 1) return true;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Loads parameters, buffers and masks written by saveModel (or by PyTorch with the same names).
 * Everything is checked before anything changes: a file that does not fit leaves the model as it
 * was. Masks: `<name>_mask` tensors are applied when present; weights without one keep their mask.
 */
export function loadModel(model: Sequential, path: string): void {
  const file = readSafetensors(path);
  const shapes = model.stateShapes();
  const state = new Map<string, Float32Array>();
  const masks = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    if (name.endsWith(MASK_SUFFIX) && !shapes.has(name)) {
      const weight = name.slice(0, -MASK_SUFFIX.length);
      const p = model.prunableParams().find((q) => q.name === weight);
      if (p === undefined) throw fileError(path, `mask "${name}" belongs to no prunable weight of ${model.name}`);
      if (!sameShape(t.shape, p.shape)) throw fileError(path, `mask "${name}" has shape [${t.shape}], expected [${p.shape}]`);
      const bad = data.findIndex((v) => v !== 0 && v !== 1);
      if (bad >= 0) throw fileError(path, `mask "${name}" has the value ${data[bad]} at ${bad}; masks hold 0 or 1`);
      masks.set(weight, data);
      continue;
    }
    const want = shapes.get(name);
    if (want === undefined) throw fileError(path, `tensor "${name}" is not part of ${model.name}`);
    if (!sameShape(t.shape, want)) throw fileError(path, `tensor "${name}" has shape [${t.shape}], expected [${want}]`);
    state.set(name, data);
  }
  const required = [...model.params.map((p) => p.name), ...model.buffers.filter((b) => b.required).map((b) => b.name)];
  const missing = required.filter((n) => !state.has(n));
  if (missing.length > 0) throw fileError(path, `has no tensor "${missing[0]}" (${missing.length} of ${model.name}'s tensors missing)`);
  for (const [name, mask] of masks) model.setMask(name, mask);
  model.loadStateDict(state);
}
