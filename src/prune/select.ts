/**
 * Choosing which surviving connections to remove, given a score per connection (NOTES section 7).
 *
 * Pure functions over typed arrays; they know nothing about models or training.
 * - Masks are Float32Array of 0/1 in the weight's flat (row-major, PyTorch) layout.
 * - Only surviving connections (mask 1) are candidates; a pruned connection never comes back.
 * - Counts are exact: a layer (or the whole network, for global pruning) loses
 *   round(fraction x remaining) weights, with Math.round (halves round up).
 * - Ties are broken deterministically: lower score first, then lower flat index (for global
 *   pruning: lower layer position in the model, then lower flat index). This is what a stable sort
 *   by score would give, computed with a selection (O(n)) instead of a sort.
 *
 * Hand-written rather than taken from npm: the selection must honour the mask and the tie-breaking
 * rule above, and a k-th-smallest over a Float64Array is a few lines.
 */
import { UserError } from '../errors.js';

export type ScoreArray = Float32Array | Float64Array;

/** The fractions of the remaining weights removed per level, by layer type (the paper's appendix). */
export interface LayerFractions {
  pConv: number;
  pFc: number;
  pOut: number;
}

/** One prunable weight as the selection sees it. */
export interface SelectionLayer {
  /** PyTorch parameter name, e.g. `fc1.weight` */
  name: string;
  kind: 'linear' | 'conv';
  /** true for the network's output layer (it uses pOut) */
  isOutput: boolean;
  /** current 0/1 mask, [numel] */
  mask: Float32Array;
  /** score per connection, [numel]; only entries under mask 1 are read */
  score: ScoreArray;
}

/** New masks and the number of weights each layer lost. Excluded layers keep a copy of their mask. */
export interface Selection {
  masks: Map<string, Float32Array>;
  removed: Map<string, number>;
}

/** Number of mask entries equal to 1. */
export function countRemaining(mask: Float32Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) n++;
  return n;
}

/** Weights removed when a fraction of `remaining` is pruned: round(fraction x remaining). */
export function pruneCount(fraction: number, remaining: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`pruneCount: fraction ${fraction} is not in [0, 1]`);
  return Math.min(remaining, Math.round(fraction * remaining));
}

/** The layer-wise fraction of one layer: pOut for the output layer, else pConv or pFc by kind. */
export function layerFraction(layer: { kind: 'linear' | 'conv'; isOutput: boolean }, fractions: LayerFractions): number {
  if (layer.isOutput) return fractions.pOut;
  return layer.kind === 'conv' ? fractions.pConv : fractions.pFc;
}

function checkScores(name: string, mask: Float32Array, score: ScoreArray): void {
  if (score.length !== mask.length) {
    throw new Error(`pruning: score of ${name} has ${score.length} entries, its mask ${mask.length}`);
  }
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 0 && Number.isNaN(score[i])) {
      throw new UserError(`pruning: the scores of layer ${name} contain NaN (did training diverge? try a lower training.lr)`);
    }
  }
}

/**
 * The value at position k (0-based) of `values` in ascending order. Reorders `values`.
 * Iterative quickselect with a three-way partition (so long runs of equal scores cost O(n)) and a
 * median-of-three pivot (deterministic).
 */
export function kthSmallest(values: Float64Array, k: number): number {
  if (k < 0 || k >= values.length) throw new Error(`kthSmallest: k = ${k} outside [0, ${values.length})`);
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    const a = values[lo], b = values[mid], c = values[hi];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    // Dutch-flag partition of [lo, hi]: < pivot | == pivot | > pivot
    let lt = lo, i = lo, gt = hi;
    while (i <= gt) {
      const v = values[i];
      if (v < pivot) {
        values[i] = values[lt]; values[lt] = v; lt++; i++;
      } else if (v > pivot) {
        values[i] = values[gt]; values[gt] = v; gt--;
      } else {
        i++;
      }
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return values[lo];
}

/**
 * Removes the `count` surviving connections of lowest score from several layers ranked together
 * (a single layer is the case layers.length = 1). Ties: lower score, then earlier layer, then lower
 * flat index. Returns the new masks (fresh arrays) and the count removed per layer.
 */
function removeLowest(layers: Array<{ name: string; mask: Float32Array; score: ScoreArray }>, count: number): Selection {
  const masks = new Map<string, Float32Array>();
  const removed = new Map<string, number>();
  for (const layer of layers) {
    checkScores(layer.name, layer.mask, layer.score);
    masks.set(layer.name, Float32Array.from(layer.mask));
    removed.set(layer.name, 0);
  }
  if (count <= 0) return { masks, removed };

  let total = 0;
  for (const layer of layers) total += countRemaining(layer.mask);
  if (count > total) throw new Error(`pruning: asked to remove ${count} of ${total} remaining weights`);

  // threshold = the count-th smallest surviving score
  const candidates = new Float64Array(total);
  let n = 0;
  for (const { mask, score } of layers) {
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) candidates[n++] = score[i];
  }
  const threshold = kthSmallest(candidates, count - 1);

  // everything strictly below the threshold goes; then entries equal to it, in order, until count
  let below = 0;
  for (const { mask, score } of layers) {
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0 && score[i] < threshold) below++;
  }
  let equalToRemove = count - below;
  for (const layer of layers) {
    const out = masks.get(layer.name)!;
    const { mask, score } = layer;
    let gone = 0;
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 0) continue;
      const s = score[i];
      if (s < threshold || (s === threshold && equalToRemove > 0)) {
        if (s === threshold) equalToRemove--;
        out[i] = 0;
        gone++;
      }
    }
    removed.set(layer.name, gone);
  }
  return { masks, removed };
}

/** Removes the `count` lowest-scoring surviving connections of one layer; returns the new mask. */
export function pruneLowest(mask: Float32Array, score: ScoreArray, count: number, name = 'layer'): Float32Array {
  return removeLowest([{ name, mask, score }], count).masks.get(name)!;
}

/**
 * The per-layer density floor of Table 2's protocol (NOTES section 6): round(10^-alpha x size),
 * at least 1 so that no layer is cut off entirely (only matters for layers under 10^alpha / 2
 * weights). Lenet at alpha 2: fc1 235,200 -> 2,352, fc2 30,000 -> 300, fc3 1,000 -> 10.
 */
export function layerFloor(size: number, alpha: number): number {
  return Math.min(size, Math.max(1, Math.round(10 ** -alpha * size)));
}

/** Weights a layer at `remaining` loses at `fraction`, never taking it below `floor`. */
export function flooredPruneCount(fraction: number, remaining: number, floor: number): number {
  return Math.max(0, Math.min(pruneCount(fraction, remaining), remaining - floor));
}

/**
 * Layer-wise selection: every layer not in `exclude` loses round(p x remaining) of its surviving
 * weights, p by layer type (see layerFraction). With `floors` (layer name -> weights to keep at
 * least), a layer loses only down to its floor, so the last step lands exactly on it.
 */
export function selectLayerwise(
  layers: SelectionLayer[], fractions: LayerFractions, exclude: Iterable<string> = [], floors: ReadonlyMap<string, number> | null = null,
): Selection {
  const excluded = new Set(exclude);
  const masks = new Map<string, Float32Array>();
  const removed = new Map<string, number>();
  for (const layer of layers) {
    if (excluded.has(layer.name)) {
      masks.set(layer.name, Float32Array.from(layer.mask));
      removed.set(layer.name, 0);
      continue;
    }
    const fraction = layerFraction(layer, fractions);
    const remaining = countRemaining(layer.mask);
    const floor = floors?.get(layer.name);
    const count = floor === undefined ? pruneCount(fraction, remaining) : flooredPruneCount(fraction, remaining, floor);
    const one = removeLowest([layer], count);
    masks.set(layer.name, one.masks.get(layer.name)!);
    removed.set(layer.name, one.removed.get(layer.name)!);
  }
  return { masks, removed };
}

/**
 * Global selection: the surviving weights of all layers not in `exclude` are ranked together and
 * round(fraction x their total) of them are removed. Scores must be comparable across layers.
 */
export function selectGlobal(layers: SelectionLayer[], fraction: number, exclude: Iterable<string> = []): Selection {
  const excluded = new Set(exclude);
  const ranked = layers.filter((l) => !excluded.has(l.name));
  let total = 0;
  for (const layer of ranked) total += countRemaining(layer.mask);
  const result = removeLowest(ranked, pruneCount(fraction, total));
  // keep the model's layer order in the maps, excluded layers included
  const masks = new Map<string, Float32Array>();
  const removed = new Map<string, number>();
  for (const layer of layers) {
    masks.set(layer.name, result.masks.get(layer.name) ?? Float32Array.from(layer.mask));
    removed.set(layer.name, result.removed.get(layer.name) ?? 0);
  }
  return { masks, removed };
}

/**
 * The pruning fractions of one level, shortened when the full fractions would go past a target
 * number of surviving weights, so that a run with a target density (Table 2: 10^-alpha) ends on
 * that density rather than somewhere below it (NOTES section 6: "prune to a fixed density").
 *
 * Layer-wise: every layer's fraction is scaled by the same factor s in (0, 1], the smallest for
 * which the surviving total is at most `targetRemaining` (found by bisection on the exact counts;
 * rounding per layer can leave the total a few weights under the target). Global: the fraction
 * that removes exactly `remaining - targetRemaining` weights. When even the full fractions do not
 * reach the target, they are returned unchanged.
 */
export function fractionsLandingOn(
  layers: SelectionLayer[], scope: 'layerwise' | 'global', fractions: LayerFractions & { pGlobal: number },
  targetRemaining: number, exclude: Iterable<string> = [],
): LayerFractions & { pGlobal: number } {
  const excluded = new Set(exclude);
  const counts = layers.map((l) => ({ remaining: countRemaining(l.mask), fraction: layerFraction(l, fractions), prunable: !excluded.has(l.name) }));
  const totalNow = counts.reduce((s, c) => s + c.remaining, 0);
  if (scope === 'global') {
    const prunableNow = counts.reduce((s, c) => s + (c.prunable ? c.remaining : 0), 0);
    const afterFull = totalNow - pruneCount(fractions.pGlobal, prunableNow);
    if (afterFull >= targetRemaining || prunableNow === 0) return fractions;
    const toRemove = Math.max(0, totalNow - targetRemaining);
    return { ...fractions, pGlobal: toRemove / prunableNow };
  }
  const survivingAt = (s: number) =>
    counts.reduce((sum, c) => sum + c.remaining - (c.prunable ? pruneCount(s * c.fraction, c.remaining) : 0), 0);
  if (survivingAt(1) >= targetRemaining) return fractions;
  let lo = 0; // survivingAt(lo) > targetRemaining
  let hi = 1; // survivingAt(hi) <= targetRemaining
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (survivingAt(mid) <= targetRemaining) hi = mid;
    else lo = mid;
  }
  return { pConv: hi * fractions.pConv, pFc: hi * fractions.pFc, pOut: hi * fractions.pOut, pGlobal: fractions.pGlobal };
}
