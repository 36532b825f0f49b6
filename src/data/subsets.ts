/**
 * Smaller views of a split for quick runs, and the validation split.
 *
 * - firstOfEachClass: N examples, the same share of every class: from each class its first
 *   examples in the split's order (class sizes in proportion, largest remainders first), kept in
 *   the split's order. Not simply the first N: an image folder is read class by class, so its first
 *   2,000 test images would be two classes of CIFAR-10.
 * - balancedIndices: a seeded, class-balanced choice of examples: from each class c with n_c
 *   examples, round(fraction * n_c) of them (or an even share of a count), picked by a seeded
 *   shuffle of that class's indices; the picked indices are returned in their original order.
 * - takeExamples: copies the chosen examples into a new split.
 */
import { UserError } from '../errors.js';
import { Rng } from '../random/rng.js';
import type { Split } from './types.js';

export function firstOfEachClass(split: Split, classes: number, n: number, imageBytes: number, what: string): Split {
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${what}: expected a whole number of examples >= 1, got ${n}`);
  if (n > split.count) throw new UserError(`${what}: asks for ${n} examples but there are only ${split.count}`);
  if (n === split.count) return split;
  const byClass = indicesByClass(split, classes);
  const counts = shareOfCount(byClass, n, split.count);
  const chosen = byClass.flatMap((ids, c) => ids.slice(0, counts[c])).sort((a, b) => a - b);
  return takeExamples(split, chosen, imageBytes);
}

/** Indices of the examples of each class, in order. */
function indicesByClass(split: Split, classes: number): number[][] {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < split.count; i++) byClass[split.labels[i]].push(i);
  return byClass;
}

/** How many of `count` examples each class gets: in proportion to its size, largest remainders first. */
function shareOfCount(byClass: number[][], count: number, total: number): number[] {
  const exact = byClass.map((ids) => (count * ids.length) / total);
  const perClass = exact.map(Math.floor);
  let left = count - perClass.reduce((a, b) => a + b, 0);
  const order = exact.map((x, c) => ({ c, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.c - b.c);
  for (const { c } of order) {
    if (left === 0) break;
    if (perClass[c] < byClass[c].length) {
      perClass[c]++;
      left--;
    }
  }
  return perClass;
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
    perClass = shareOfCount(byClass, amount.count, split.count);
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
