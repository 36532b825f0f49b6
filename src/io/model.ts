/**
 * The prunable layers of a model file (safetensors or ONNX) with their masks, ready for
 * analyzeLayer (src/graph).
 *
 * safetensors: every tensor of 2 dimensions (Linear [out, in]) or 3-5 dimensions (Conv
 * [c_out, c_in, k...]) except biases and mask tensors; 1-D tensors (biases, batch-norm weights and
 * statistics) and scalars are skipped. PyTorch's pruning re-parametrisation is understood:
 * `X.weight_orig` with `X.weight_mask` is the layer `X.weight` under that mask.
 * ONNX: the initialisers feeding Gemm, MatMul and Conv (src/io/onnx.ts).
 *
 * Masks: with a mask file, the mask of weight `W` is the tensor `W_mask` (for `X.weight` that is
 * PyTorch's `X.weight_mask`) or `W` itself, and its shape must equal the weight's. A weight with no
 * mask (none in the mask file, or no mask file) has its exact zeros as the pruned entries, which
 * is how pruned PyTorch models are saved.
 *
 * Two ways in: readModelLayers gives every layer with its values (the library's call);
 * openModelLayers lists the layers from the file's header and reads one layer's values at a time
 * into memory reused from layer to layer (`ramanujan analyze`, which needs one layer at a time:
 * a model then costs the memory of its largest layer, not of the whole file).
 */
import { extname } from 'node:path';
import { fileError, UserError } from '../errors.js';
import { SafetensorsReader, TensorScratch } from './safetensors.js';

export interface ModelLayer {
  name: string;
  kind: 'linear' | 'conv';
  shape: number[];
  weight: Float32Array | Float64Array;
  /** null: the weight's exact zeros are the pruned entries */
  mask: Float32Array | Float64Array | null;
  /** where the mask came from */
  maskSource: 'mask-file' | 'model-file' | 'zeros';
}

/** A layer as the file's header describes it, before its values are read. */
export type ModelLayerInfo = Omit<ModelLayer, 'weight' | 'mask'>;

/** The layers of a model file; their values are read by `load`. */
export interface ModelLayerSource {
  readonly layers: ModelLayerInfo[];
  /**
   * The layer's weight and mask, checked (finite weights, masks of 0 and 1). With `reuse` (see
   * openModelLayers) they are valid only until the next `load`.
   */
  load(name: string): ModelLayer;
  close(): void;
}

/** A tensor of an open safetensors file. */
type TensorAt = { reader: SafetensorsReader; tensor: string };
/** Where a layer's values are: a tensor of an open safetensors file, or values already read (ONNX). */
type ValuesAt = TensorAt | { values: Float32Array | Float64Array };

interface PlannedLayer {
  info: ModelLayerInfo;
  weight: ValuesAt;
  /** masks come from safetensors files only (the model's own, or the mask file) */
  mask: TensorAt | null;
}

const SKIPPED_SUFFIXES = ['bias', 'running_mean', 'running_var', 'num_batches_tracked'];

function isLayerTensor(name: string, shape: number[]): boolean {
  if (shape.length < 2 || shape.length > 5) return false;
  if (name.endsWith('_mask')) return false;
  const last = name.split('.').pop() ?? name;
  return !SKIPPED_SUFFIXES.includes(last);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Reads the Linear and Conv layers of a .safetensors or .onnx model, with masks from `maskPath` if
 * given. Async only to load the ONNX reader (onnx-proto, protobufjs) when an .onnx file is read.
 */
export async function readModelLayers(path: string, maskPath: string | null = null): Promise<ModelLayer[]> {
  const source = await openModelLayers(path, maskPath);
  try {
    return source.layers.map((layer) => source.load(layer.name));
  } finally {
    source.close();
  }
}

/**
 * Opens a model file (and mask file): the layers, their shapes and which masks match them are
 * known and checked from the headers; the values are read by `load`. With `reuse`, each `load`
 * reads into the same memory as the one before (its arrays are then valid only until the next
 * `load`); without, every layer's arrays are its own. Close the source when done.
 */
export async function openModelLayers(path: string, maskPath: string | null = null, opts: { reuse?: boolean } = {}): Promise<ModelLayerSource> {
  const ext = extname(path).toLowerCase();
  const readers: SafetensorsReader[] = [];
  const closeAll = () => readers.forEach((r) => r.close());
  try {
    let planned: PlannedLayer[];
    if (ext === '.safetensors') {
      const reader = SafetensorsReader.open(path);
      readers.push(reader);
      planned = planSafetensorsLayers(reader);
    } else if (ext === '.onnx') {
      const { readOnnxWeights } = await import('./onnx.js');
      planned = readOnnxWeights(path).map((w) => ({
        info: { name: w.name, kind: w.kind, shape: w.shape, maskSource: 'zeros' as const },
        weight: { values: w.data },
        mask: null,
      }));
    } else {
      throw new UserError(`${path}: expected a model file ending in .safetensors or .onnx`);
    }
    if (planned.length === 0) {
      throw fileError(path, 'no Linear or Conv weights found (looked for 2-D [out, in] and 3-D to 5-D [c_out, c_in, k...] tensors)');
    }
    for (const { info } of planned) {
      // A shape such as [0, 3e8] holds no values, yet its graph would have 3e8 vertices: the
      // analysis allocates per vertex, so only layers with values (where outputs + inputs <=
      // values + 1, i.e. memory proportional to the file) are analysed.
      if (info.shape.reduce((a, b) => a * b, 1) === 0) {
        throw fileError(path, `weight "${info.name}" has shape [${info.shape.join(', ')}], which holds no values; a layer needs at least one output and one input`);
      }
    }
    if (maskPath !== null) {
      if (extname(maskPath).toLowerCase() !== '.safetensors') {
        throw new UserError(`${maskPath}: expected a mask file ending in .safetensors`);
      }
      const maskReader = SafetensorsReader.open(maskPath);
      readers.push(maskReader);
      planMaskFile(planned, path, maskReader);
    }
    const byName = new Map(planned.map((p) => [p.info.name, p]));
    // Sized for the largest layer at once: growing layer by layer would touch fresh memory each time.
    const weightScratch = opts.reuse ? new TensorScratch(largestBytes(planned.map((p) => p.weight))) : undefined;
    const maskScratch = opts.reuse ? new TensorScratch(largestBytes(planned.map((p) => p.mask))) : undefined;
    return {
      layers: planned.map((p) => ({ ...p.info })),
      load(name: string): ModelLayer {
        const p = byName.get(name);
        if (!p) throw new Error(`${path}: no layer "${name}"`);
        const weight = valuesOf(p.weight, weightScratch);
        checkWeightValues(weight, path, name);
        let mask: Float32Array | Float64Array | null = null;
        if (p.mask) {
          mask = valuesOf(p.mask, maskScratch);
          checkMaskValues(mask, p.mask.reader.path, p.mask.tensor);
        }
        return { ...p.info, weight, mask };
      },
      close: closeAll,
    };
  } catch (err) {
    closeAll();
    throw err;
  }
}

/** The most bytes one of these tensors of a file holds (0 for values already in memory). */
function largestBytes(places: Array<ValuesAt | null>): number {
  let most = 0;
  for (const at of places) {
    if (at === null || 'values' in at) continue;
    const entry = at.reader.entries.get(at.tensor)!;
    most = Math.max(most, entry.end - entry.begin);
  }
  return most;
}

function valuesOf(at: ValuesAt, scratch: TensorScratch | undefined): Float32Array | Float64Array {
  return 'values' in at ? at.values : at.reader.read(at.tensor, scratch);
}

/**
 * The layers of a safetensors model from its header: every 2-D to 5-D tensor but biases and
 * masks; PyTorch's `X.weight_orig` with `X.weight_mask` is the layer `X.weight` under that mask.
 */
function planSafetensorsLayers(reader: SafetensorsReader): PlannedLayer[] {
  const path = reader.path;
  const planned: PlannedLayer[] = [];
  for (const [name, entry] of reader.entries) {
    if (!isLayerTensor(name, entry.shape)) continue;
    let layerName = name;
    let mask: PlannedLayer['mask'] = null;
    if (name.endsWith('.weight_orig')) {
      layerName = name.slice(0, -'_orig'.length);
      if (reader.entries.has(layerName)) continue; // both saved: the plain weight is the layer
      const m = reader.entries.get(`${layerName}_mask`);
      if (m) {
        if (!sameShape(m.shape, entry.shape)) {
          throw fileError(path, `mask "${layerName}_mask" has shape [${m.shape.join(', ')}] but "${name}" has [${entry.shape.join(', ')}]`);
        }
        mask = { reader, tensor: m.name };
      }
    }
    planned.push({
      info: { name: layerName, kind: entry.shape.length === 2 ? 'linear' : 'conv', shape: entry.shape, maskSource: mask ? 'model-file' : 'zeros' },
      weight: { reader, tensor: name },
      mask,
    });
  }
  return planned;
}

/** Matches the masks of a mask file to the layers by name (`<weight>_mask` or `<weight>`) and shape. */
function planMaskFile(layers: PlannedLayer[], modelPath: string, maskReader: SafetensorsReader): void {
  const maskPath = maskReader.path;
  let matched = 0;
  for (const layer of layers) {
    const { name, shape } = layer.info;
    const key = [`${name}_mask`, name].find((k) => maskReader.entries.has(k));
    if (key === undefined) continue;
    const m = maskReader.entries.get(key)!;
    if (!sameShape(m.shape, shape)) {
      throw fileError(maskPath, `mask "${key}" has shape [${m.shape.join(', ')}] but the weight "${name}" in ${modelPath} has shape [${shape.join(', ')}]`);
    }
    layer.mask = { reader: maskReader, tensor: key };
    layer.info.maskSource = 'mask-file';
    matched++;
  }
  if (matched === 0) {
    throw fileError(maskPath, `no mask matches a weight of ${modelPath} by name (expected "<weight>_mask" or "<weight>", e.g. "${layers[0].info.name}_mask")`);
  }
}

/**
 * Finite weights whose norm is a finite double. One plain pass finds the first non-finite value
 * and the largest |w| (findIndex's callback cost a quarter of a second on vgg19's 20M weights;
 * three passes cost three times one).
 */
function checkWeightValues(w: Float32Array | Float64Array, path: string, name: string): void {
  let bad = -1;
  let max = 0;
  for (let i = 0; i < w.length; i++) {
    const a = Math.abs(w[i]);
    if (!Number.isFinite(a)) {
      bad = i;
      break;
    }
    if (a > max) max = a;
  }
  if (bad >= 0) throw fileError(path, `weight "${name}" holds a non-finite value (${w[bad]}) at flat index ${bad}`);
  // t1 <= the Frobenius norm: with a finite norm every spectral quantity is a finite double (the
  // analysis scales huge and tiny weights by a power of two, src/graph/index.ts). The norm is at
  // most max * sqrt(n), so it is summed only when that bound overflows.
  if (max * Math.sqrt(w.length) > Number.MAX_VALUE && !Number.isFinite(frobeniusNorm(w, max))) {
    throw fileError(path, `weight "${name}" is too large to analyse: its norm exceeds the largest double (${Number.MAX_VALUE.toPrecision(4)}), so t1 could not be represented; scale the weights down`);
  }
}

/** sqrt(sum of squares), computed on values scaled by the largest |w| (`max`) so that squares do not overflow. */
function frobeniusNorm(w: Float32Array | Float64Array, max: number): number {
  if (max === 0) return 0;
  let s = 0;
  for (let k = 0; k < w.length; k++) s += (w[k] / max) ** 2;
  return Math.sqrt(s) * max;
}

/**
 * A mask holds 0 (pruned) and 1 (kept) only: the graph counts every non-zero entry as an edge,
 * so NaN or -3.5 would silently count as kept.
 */
function checkMaskValues(mask: Float32Array | Float64Array, file: string, tensor: string): void {
  for (let k = 0; k < mask.length; k++) {
    const v = mask[k];
    if (v !== 0 && v !== 1) throw fileError(file, `mask "${tensor}" holds ${v} at flat index ${k}; a mask holds only 0 and 1`);
  }
}
