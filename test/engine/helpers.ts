/** Shared helpers of the engine tests: seeded random data and tolerant comparison. */
import assert from 'node:assert/strict';
import { createKernels, type CreateKernelsOptions } from '../../src/engine/index.js';
import { hasHostAccess } from '../../src/engine/kernels.js';
import { hostKernels, type HostKernels } from './host-kernels.js';

/** A wasm (or reference) backend behind the host-array test adapter (./host-kernels.ts). */
export async function createHostKernels(opts: CreateKernelsOptions = {}): Promise<HostKernels> {
  const k = await createKernels(opts);
  if (!hasHostAccess(k)) throw new Error(`the ${k.name} backend has no host access`);
  return hostKernels(k);
}

/** A small seeded generator (mulberry32), so failures reproduce. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An engine array of `length` uniform values in [-1, 1). */
export function randomArray(k: HostKernels, length: number, rand: () => number): Float32Array {
  const a = k.alloc(length);
  for (let i = 0; i < length; i++) a[i] = 2 * rand() - 1;
  return a;
}

/** A 0/1 mask with about `density` ones. */
export function randomMask(k: HostKernels, length: number, density: number, rand: () => number): Float32Array {
  const m = k.alloc(length);
  for (let i = 0; i < length; i++) m[i] = rand() < density ? 1 : 0;
  return m;
}

/** An engine copy of `source`. */
export function copyOf(k: HostKernels, source: ArrayLike<number>): Float32Array {
  const a = k.alloc(source.length);
  a.set(source);
  return a;
}

/**
 * Asserts |actual - expected| <= tol * max(1, max|expected|) elementwise over the first
 * `length` elements (float32 sums in a different order differ by a few ulps of the largest term).
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string, length = expected.length): void {
  let scale = 1;
  for (let i = 0; i < length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol * scale, `${what}: element ${at} is ${actual[at]}, expected ${expected[at]} (error ${worst}, allowed ${tol * scale})`);
}

/** Asserts two arrays are equal bit for bit. */
export function assertIdentical(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}
