/**
 * Worker threads and memory: 1 vs 2 threads agree, repeated runs with the same thread count are bit
 * identical, memory is reused across alloc/free cycles, and close() stops the workers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dGeometry, MaskedWeight as HostMaskedWeight } from '../../src/engine/kernels.js';
import { hostKernels, type HostKernels } from './host-kernels.js';
import { assertClose, assertIdentical, copyOf, randomArray, randomMask, seeded, createHostKernels } from './helpers.js';

let one: HostKernels;
let two: HostKernels;

before(async () => {
  one = await createHostKernels({ threads: 1 });
  two = await createHostKernels({ threads: 2 });
});

after(async () => {
  await one.close();
  await two.close();
});

/** Runs a conv layer forward + backward and a linear layer forward + backward; returns the outputs. */
function trainingKernels(k: HostKernels, density: number): Float32Array[] {
  const rand = seeded(42);
  const g: Conv2dGeometry = { n: 7, cIn: 8, h: 12, w: 12, cOut: 16, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 };
  const K = g.cIn * 9;
  const P = g.h * g.w;
  const mask = randomMask(k, g.cOut * K, density, rand);
  const W = randomArray(k, g.cOut * K, rand);
  for (let i = 0; i < W.length; i++) W[i] *= mask[i];
  const x = randomArray(k, g.n * g.cIn * P, rand);
  const dy = randomArray(k, g.n * g.cOut * P, rand);
  const y = k.alloc(g.n * g.cOut * P);
  const dW = k.alloc(g.cOut * K);
  const dx = k.alloc(g.n * g.cIn * P);
  const bias = randomArray(k, g.cOut, rand);
  const dB = k.alloc(g.cOut);
  const ws = k.alloc(k.conv2dWorkspaceSize(g));
  const mw: HostMaskedWeight = k.createMaskedWeight(W, mask, g.cOut, K);
  k.conv2dForward(mw, x, bias, g, y, ws);
  k.conv2dBackward(mw, x, dy, g, dW, dB, dx, ws);

  const [rows, cols, N] = [100, 300, 60];
  const lmask = randomMask(k, rows * cols, density, rand);
  const LW = randomArray(k, rows * cols, rand);
  for (let i = 0; i < LW.length; i++) LW[i] *= lmask[i];
  const X = randomArray(k, N * cols, rand);
  const dY = randomArray(k, N * rows, rand);
  const lmw = k.createMaskedWeight(LW, lmask, rows, cols);
  const Y = k.alloc(N * rows);
  const dX = k.alloc(N * cols);
  const dLW = k.alloc(rows * cols);
  k.maskedForward(lmw, X, N, null, Y);
  k.maskedBackwardInput(lmw, dY, N, dX);
  k.maskedBackwardWeight(lmw, dY, X, N, dLW);
  const C = k.alloc(60 * 300);
  k.sgemm(false, true, 60, 300, 784, 1, randomArray(k, 60 * 784, rand), randomArray(k, 300 * 784, rand), 0, C);
  return [y, dW, dB, dx, Y, dX, dLW, C].map((a) => Float32Array.from(a));
}

describe('threads', () => {
  for (const density of [1, 0.1]) {
    it(`1 and 2 threads agree within float tolerance (density ${density})`, () => {
      const a = trainingKernels(one, density);
      const b = trainingKernels(two, density);
      const names = ['conv y', 'conv dW', 'conv dBias', 'conv dx', 'linear Y', 'linear dX', 'linear dW', 'sgemm'];
      for (let i = 0; i < a.length; i++) assertClose(b[i], a[i], 2e-5, names[i]);
      // the column split of sgemm and the image split of the forward pass do not change results
      assertIdentical(b[7], a[7], 'sgemm');
      assertIdentical(b[0], a[0], 'conv forward');
    });

    it(`repeated runs on 2 threads are bit-identical (density ${density})`, () => {
      const a = trainingKernels(two, density);
      const b = trainingKernels(two, density);
      for (let i = 0; i < a.length; i++) assertIdentical(b[i], a[i], `output ${i}`);
    });
  }

  it('close() is idempotent and the kernels refuse work afterwards', async () => {
    const k = await createHostKernels({ threads: 2 });
    const A = k.alloc(64 * 64);
    await k.close();
    await k.close();
    assert.throws(() => k.sgemm(false, false, 64, 64, 64, 1, A, A, 0, A), /close/);
  });
});

describe('memory', () => {
  it('alloc returns zeroed engine memory, also when a block is reused', () => {
    const a = one.alloc(1000);
    a.fill(7);
    one.free(a);
    const b = one.alloc(1000);
    assert.ok(b.every((v) => v === 0));
    const c = one.allocInt32(5);
    assert.ok(c instanceof Int32Array && c.length === 5 && c.every((v) => v === 0));
    one.free(b);
    one.free(c);
  });

  it('does not grow over 100k alloc/free cycles of mixed sizes', () => {
    const rand = seeded(7);
    const keep = [one.alloc(1 << 16), one.alloc(123)];
    let highest = 0;
    const live: Float32Array[] = [];
    for (let cycle = 0; cycle < 100_000; cycle++) {
      const a = one.alloc(1 + Math.floor(rand() * 5000));
      highest = Math.max(highest, a.byteOffset + a.byteLength);
      live.push(a);
      // keep a few blocks alive at a time, freed in a shuffled order, to fragment the free list
      if (live.length > 8) {
        const i = Math.floor(rand() * live.length);
        one.free(live[i]);
        live.splice(i, 1);
      }
      if (cycle === 1000) highest = 0; // measure after the first cycles have shaped the free list
    }
    for (const a of live) one.free(a);
    // 9 live blocks of at most 20 KB: the end of the highest block stays within a few MB of the start
    const again = one.alloc(1 << 16);
    assert.ok(again.byteOffset <= keep[1].byteOffset + (1 << 20), 'freed memory is reused');
    assert.ok(highest < keep[1].byteOffset + 4 * 1024 * 1024, `highest byte ${highest} kept rising`);
    for (const a of [...keep, again]) one.free(a);
  });

  it('views made before the memory grows stay valid and usable by the kernels', () => {
    const small = one.alloc(16);
    small.fill(2);
    const big = one.alloc(32 * 1024 * 1024); // forces growth
    const out = one.alloc(16);
    one.sgemm(false, false, 4, 4, 4, 1, small, small, 0, out);
    assert.ok(out.every((v) => v === 16));
    for (const a of [small, big, out]) one.free(a);
  });

  it('rejects foreign arrays, Float64Array, and double free', () => {
    assert.throws(() => one.reluForward(new Float32Array(4), one.alloc(4)), /engine memory/);
    assert.throws(() => one.reluForward(copyOf(two, [1, 2]), one.alloc(4)), /engine memory/);
    assert.throws(() => one.reluForward(new Float64Array(4), one.alloc(4)), /Float64Array/);
    const a = one.alloc(4);
    one.free(a);
    assert.throws(() => one.free(a), /not engine memory/);
    // the same through the tensor contract: a freed handle, another backend's handle, a borrowed one
    const k = one.device;
    const t = k.tensor(4);
    k.free(t);
    assert.throws(() => k.free(t), /was freed/);
    assert.throws(() => k.fill(t, 1), /was freed/);
    assert.throws(() => k.free(two.device.tensor(4)), /another backend/);
    assert.throws(() => k.free(k.wrap(one.alloc(4))), /wrap/);
  });
});
