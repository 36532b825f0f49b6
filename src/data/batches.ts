/**
 * Batches written into the caller's buffers: the training iterator (shuffled per epoch,
 * optional augmentation) and evaluation sources (clean or with seeded Gaussian noise).
 *
 * A batch is x: [batchSize, C, H, W] Float32 normalised pixels and labels: [batchSize] Int32.
 * Nothing is allocated per batch: pixels go through a C x 256 lookup table (normalize.ts)
 * straight into the given arrays.
 *
 * Randomness, all from the project's Rng and derived only from seeds and positions, never from
 * how many calls came before in other objects:
 * - epoch e's order: new Rng(seed).fork('shuffle').fork(e).shuffle([0, 1, ..., count-1]);
 * - augmentation in epoch e: new Rng(seed).fork('augment').fork(e), per example in batch order
 *   int(9) for the vertical offset, int(9) for the horizontal offset, next() < 0.5 for the flip;
 * - noise for example i: sigma * z, with z one normal() per pixel in [C, H, W] order of
 *   new Rng(noiseSeed).fork('noise').fork(i). The same z serves every sigma (common random
 *   numbers: the noise levels differ only in scale, so accuracy against sigma is not blurred by
 *   independent draws), and it is drawn once per split and seed and kept (standardNoise), so a
 *   pruning level's five noisy passes cost no more generator time than a clean one. Every call,
 *   every pruning level and every run with the same noiseSeed sees the same noisy images (the
 *   noise belongs to the position i in the split, so a split's first N see the same noise in
 *   any split that starts with them).
 */
import { Rng } from '../random/rng.js';
import { normalizationTable } from './normalize.js';
import type { Dataset, Split } from './types.js';

/**
 * Our noise levels on the [0,1] pixel scale (NOTES.md section 7): the paper calls sigma a
 * "variance" but prints no values and no pixel scale, so these are ours, read as standard
 * deviations by default (see noiseStd for the variance reading).
 */
export const DEFAULT_NOISE_SIGMAS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5];

/** Padding of the random crop, in pixels on each side (the CIFAR-10 protocol). */
export const CROP_PADDING = 4;

export interface EvalBatchSource {
  /** examples in the split */
  count: number;
  batchSize: number;
  /**
   * Iterates over the split in order. The yielded arrays are reused by the next step: x holds
   * exactly n examples (the last batch may be shorter), labels likewise.
   */
  batches(): Iterable<{ x: Float32Array; labels: Int32Array; n: number }>;
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a whole number >= 1, got ${batchSize}`);
}

/** Training batches: each epoch visits every training example once, in a seeded order. */
export class TrainBatches {
  readonly batchSize: number;
  /** training examples per epoch */
  readonly count: number;
  private readonly split: Split;
  private readonly shape: [number, number, number];
  private readonly table: Float32Array;
  private readonly seed: number;
  private readonly augment: boolean;
  private readonly order: Int32Array;
  private augmentRng: Rng | null = null;
  private currentEpoch = -1;
  private cursor = 0;

  constructor(dataset: Dataset, opts: { batchSize: number; seed: number; augment?: boolean }) {
    checkBatchSize(opts.batchSize);
    if (dataset.train.count === 0) throw new RangeError(`${dataset.name}: the training split is empty`);
    this.batchSize = opts.batchSize;
    this.split = dataset.train;
    this.count = dataset.train.count;
    this.shape = dataset.shape;
    this.table = normalizationTable(dataset);
    this.seed = opts.seed;
    this.augment = opts.augment ?? false;
    this.order = new Int32Array(this.count);
    this.startEpoch(0);
  }

  /** the epoch the next example comes from (0-based) */
  get epoch(): number {
    return this.currentEpoch;
  }

  private startEpoch(e: number): void {
    const order = this.order;
    for (let i = 0; i < order.length; i++) order[i] = i;
    new Rng(this.seed).fork('shuffle').fork(e).shuffle(order);
    this.augmentRng = this.augment ? new Rng(this.seed).fork('augment').fork(e) : null;
    this.currentEpoch = e;
    this.cursor = 0;
  }

  /**
   * Writes the next batch: x [batchSize, C, H, W], labels [batchSize]. A batch that reaches the
   * end of an epoch continues with the start of the next one (so every batch is full).
   */
  next(x: Float32Array, labels: Int32Array): void {
    const [C, H, W] = this.shape;
    const size = C * H * W;
    if (x.length < this.batchSize * size) throw new RangeError(`x holds ${x.length} floats; a batch of ${this.batchSize} x ${C}x${H}x${W} needs ${this.batchSize * size}`);
    if (labels.length < this.batchSize) throw new RangeError(`labels holds ${labels.length} entries; a batch needs ${this.batchSize}`);
    for (let b = 0; b < this.batchSize; b++) {
      if (this.cursor === this.count) this.startEpoch(this.currentEpoch + 1);
      const i = this.order[this.cursor++];
      labels[b] = this.split.labels[i];
      if (this.augmentRng) {
        const rng = this.augmentRng;
        const dy = rng.int(2 * CROP_PADDING + 1) - CROP_PADDING;
        const dx = rng.int(2 * CROP_PADDING + 1) - CROP_PADDING;
        const flip = rng.next() < 0.5;
        writeAugmented(this.split.images, i, this.shape, this.table, dy, dx, flip, x, b * size);
      } else {
        writeNormalized(this.split.images, i, this.shape, this.table, x, b * size);
      }
    }
  }
}

/** x[out .. out+size) = table lookup of example i. */
function writeNormalized(images: Uint8Array, i: number, shape: [number, number, number], table: Float32Array, x: Float32Array, out: number): void {
  const [C, H, W] = shape;
  const plane = H * W;
  const base = i * C * plane;
  for (let c = 0; c < C; c++) {
    const t = c * 256;
    const src = base + c * plane;
    const dst = out + c * plane;
    for (let p = 0; p < plane; p++) x[dst + p] = table[t + images[src + p]];
  }
}

/**
 * Random crop of the image padded with CROP_PADDING zero (black) pixels on each side, then an
 * optional horizontal flip: out[c, y, x] = img[c, y + dy, x' + dx] with x' = W-1-x when flipped,
 * and a black pixel (normalised byte 0) where that falls outside the image. dy, dx in [-4, 4].
 */
function writeAugmented(
  images: Uint8Array,
  i: number,
  shape: [number, number, number],
  table: Float32Array,
  dy: number,
  dx: number,
  flip: boolean,
  x: Float32Array,
  out: number,
): void {
  const [C, H, W] = shape;
  const plane = H * W;
  const base = i * C * plane;
  for (let c = 0; c < C; c++) {
    const t = c * 256;
    const pad = table[t];
    const src = base + c * plane;
    const dst = out + c * plane;
    for (let y = 0; y < H; y++) {
      const sy = y + dy;
      const row = dst + y * W;
      if (sy < 0 || sy >= H) {
        x.fill(pad, row, row + W);
        continue;
      }
      const srcRow = src + sy * W;
      for (let xo = 0; xo < W; xo++) {
        const sx = (flip ? W - 1 - xo : xo) + dx;
        x[row + xo] = sx < 0 || sx >= W ? pad : table[t + images[srcRow + sx]];
      }
    }
  }
}

/** The fork label of a noise level; rounded so 0.1 * 3 and 0.3 name the same level. */
/** Splits larger than this many pixels draw their noise per pass instead of keeping it (memory). */
const NOISE_CACHE_LIMIT = 2 ** 26;
const noiseCache = new WeakMap<Split, Map<number, Float32Array>>();

/** z for pixel p of example i: normal() number p of new Rng(noiseSeed).fork('noise').fork(i). */
function drawStandardNoise(noiseSeed: number, i: number, out: Float32Array, offset: number, size: number): void {
  const rng = new Rng(noiseSeed).fork('noise').fork(i);
  for (let p = 0; p < size; p++) out[offset + p] = rng.normal();
}

/**
 * The standard-normal noise of a whole split, [count, C, H, W], drawn once per (split, seed) and
 * kept while the split lives; null when the split is too large to keep (then drawn per pass).
 */
function standardNoise(split: Split, size: number, noiseSeed: number): Float32Array | null {
  if (split.count * size > NOISE_CACHE_LIMIT) return null;
  let bySeed = noiseCache.get(split);
  if (bySeed === undefined) noiseCache.set(split, (bySeed = new Map()));
  let z = bySeed.get(noiseSeed);
  if (z === undefined) {
    z = new Float32Array(split.count * size);
    for (let i = 0; i < split.count; i++) drawStandardNoise(noiseSeed, i, z, i * size, size);
    bySeed.set(noiseSeed, z);
  }
  return z;
}

/**
 * The noise's standard deviation for a configured sigma: sigma itself ('std', the default), or
 * sqrt(sigma) when sigma is read as a variance ('variance'; the paper's word, with no values given).
 */
export function noiseStd(sigma: number, scale: 'std' | 'variance' = 'std'): number {
  return scale === 'variance' ? Math.sqrt(sigma) : sigma;
}

/**
 * Evaluation batches over the test split (or 'validation' / 'train'), in order, optionally with
 * zero-mean Gaussian noise added on the [0,1] pixel scale before normalisation, without clipping:
 * x = (byte/255 + std * z - mean[c]) / std[c], std = noiseStd(noiseSigma, noiseScale).
 */
export function testBatches(
  dataset: Dataset,
  opts: { batchSize: number; noiseSigma?: number; noiseScale?: 'std' | 'variance'; noiseSeed?: number; split?: 'test' | 'validation' | 'train' },
): EvalBatchSource {
  checkBatchSize(opts.batchSize);
  const splitName = opts.split ?? 'test';
  const split = splitName === 'test' ? dataset.test : splitName === 'train' ? dataset.train : dataset.validation;
  if (!split) throw new RangeError(`${dataset.name}: has no validation split (load it with validationSize)`);
  const given = opts.noiseSigma ?? 0;
  if (!(given >= 0) || !Number.isFinite(given)) throw new RangeError(`noiseSigma must be a finite number >= 0, got ${opts.noiseSigma}`);
  const sigma = noiseStd(given, opts.noiseScale);
  const noiseSeed = opts.noiseSeed ?? 0;
  const shape = dataset.shape;
  const [C, H, W] = shape;
  const size = C * H * W;
  const plane = H * W;
  const batchSize = opts.batchSize;
  const table = normalizationTable(dataset);
  // noise in normalised units: sigma / std[c] per channel
  const noiseScale = dataset.std.map((s) => sigma / s);
  const x = new Float32Array(batchSize * size);
  const labels = new Int32Array(batchSize);
  const lastN = split.count % batchSize;
  const lastX = x.subarray(0, lastN * size);
  const lastLabels = labels.subarray(0, lastN);
  const kept = sigma > 0 ? standardNoise(split, size, noiseSeed) : null;
  const scratch = sigma > 0 && kept === null ? new Float32Array(size) : null;

  function* batches(): Generator<{ x: Float32Array; labels: Int32Array; n: number }> {
    for (let start = 0; start < split!.count; start += batchSize) {
      const n = Math.min(batchSize, split!.count - start);
      for (let b = 0; b < n; b++) {
        const i = start + b;
        labels[b] = split!.labels[i];
        writeNormalized(split!.images, i, shape, table, x, b * size);
        if (sigma > 0) {
          // z: this example's standard-normal noise, kept or drawn now
          let z: Float32Array;
          let zOffset: number;
          if (kept !== null) {
            z = kept;
            zOffset = i * size;
          } else {
            drawStandardNoise(noiseSeed, i, scratch!, 0, size);
            z = scratch!;
            zOffset = 0;
          }
          for (let c = 0; c < C; c++) {
            const scale = noiseScale[c];
            const dst = b * size + c * plane;
            const src = zOffset + c * plane;
            for (let p = 0; p < plane; p++) x[dst + p] += scale * z[src + p];
          }
        }
      }
      yield n === batchSize ? { x, labels, n } : { x: lastX, labels: lastLabels, n };
    }
  }
  return { count: split.count, batchSize, batches };
}

/** One evaluation source per noise level, in the order given. */
export function noisyTestSets(
  dataset: Dataset,
  opts: { batchSize: number; sigmas?: readonly number[]; noiseSeed?: number },
): Array<{ sigma: number; source: EvalBatchSource }> {
  return (opts.sigmas ?? DEFAULT_NOISE_SIGMAS).map((sigma) => ({
    sigma,
    source: testBatches(dataset, { batchSize: opts.batchSize, noiseSigma: sigma, noiseSeed: opts.noiseSeed }),
  }));
}
