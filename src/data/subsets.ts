/**
 * Smaller views of a split for quick runs, and the validation split.
 *
 * - firstExamples: the first N examples, as views (no copy).
 * - balancedIndices: a seeded, class-balanced choice of examples: from each class c with n_c
 *   examples, round(fraction * n_c) of them (or an even share of a count), picked by a seeded
 *   shuffle of that class's indices; the picked indices are returned in their original order.
 * - takeExamples: copies the chosen examples into a new split.
 */
import { UserError } from '../errors.js';
import { Rng } from '../nn/rng.js';
import type { Split } from './types.js';

export function firstExamples(split: Split, n: number, imageBytes: number, what: string): Split {
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${what}: expected a whole number of examples >= 1, got ${n}`);
  if (n > split.count) throw new UserError(`${what}: asks for ${n} examples but there are only ${split.count}`);
  return { count: n, images: split.images.subarray(0, n * imageBytes), labels: split.labels.subarray(0, n) };
}

/** Indices of the examples of each class, in order. */
function indicesByClass(split: Split, classes: number): number[][] {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < split.count; i++) byClass[split.labels[i]].push(i);
  return byClass;
}

/**
 * Class-balanced seeded choice of `amount` examples: a fraction in (0, 1] of every class, or a
 * total count split across classes in proportion to their sizes (largest remainders first).
 * Returns the sorted chosen indices and the sorted rest.
 */
export function balancedIndices(
  split: Split,
  classes: number,
  amount: { fraction: number } | { count: number },
  seed: number,
  label: string,
): { chosen: number[]; rest: number[] } {
  const byClass = indicesByClass(split, classes);
  let perClass: number[];
  if ('fraction' in amount) {
    perClass = byClass.map((ids) => Math.round(amount.fraction * ids.length));
  } else {
    const exact = byClass.map((ids) => (amount.count * ids.length) / split.count);
    perClass = exact.map(Math.floor);
    let left = amount.count - perClass.reduce((a, b) => a + b, 0);
    const order = exact.map((x, c) => ({ c, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.c - b.c);
    for (const { c } of order) {
      if (left === 0) break;
      if (perClass[c] < byClass[c].length) {
        perClass[c]++;
        left--;
      }
    }
  }
  const rng = new Rng(seed).fork(label);
  const chosenFlags = new Uint8Array(split.count);
  byClass.forEach((ids, c) => {
    const shuffled = rng.fork(c).shuffle([...ids]);
    for (let k = 0; k < perClass[c]; k++) chosenFlags[shuffled[k]] = 1;
  });
  const chosen: number[] = [];
  const rest: number[] = [];
  for (let i = 0; i < split.count; i++) (chosenFlags[i] ? chosen : rest).push(i);
  return { chosen, rest };
}

/** A new split holding copies of the examples at `indices`, in that order. */
export function takeExamples(split: Split, indices: number[], imageBytes: number): Split {
  const images = new Uint8Array(indices.length * imageBytes);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, dst) => {
    images.set(split.images.subarray(src * imageBytes, (src + 1) * imageBytes), dst * imageBytes);
    labels[dst] = split.labels[src];
  });
  return { count: indices.length, images, labels };
}
