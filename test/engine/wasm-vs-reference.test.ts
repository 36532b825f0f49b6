/**
 * Every wasm kernel against the reference (src/engine/reference.ts) on random inputs, including
 * sizes that are not multiples of the tiles (4x8 micro-tile, 120/512/1024 cache blocks) and sizes
 * of 1, on 1 and 2 threads, dense and sparse masked weights.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SPARSE_BELOW_DENSITY } from '../../src/engine/index.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { convOutputSize, type Conv2dGeometry } from '../../src/engine/kernels.js';
import { hostKernels, type HostKernels } from './host-kernels.js';
import { assertClose, copyOf, randomArray, randomMask, seeded, createHostKernels } from './helpers.js';

const ref = hostKernels(referenceKernels());
const TOL = 2e-5; // relative to the largest expected magnitude

let one: HostKernels; // 1 thread, automatic dense/sparse choice
let two: HostKernels; // 2 threads
let dense: HostKernels; // 2 threads, never sparse
let sparse: HostKernels; // 2 threads, always sparse

before(async () => {
  one = await createHostKernels({ threads: 1 });
  two = await createHostKernels({ threads: 2 });
  dense = await createHostKernels({ threads: 2, sparseBelowDensity: 0 });
  sparse = await createHostKernels({ threads: 2, sparseBelowDensity: 2 });
});

after(async () => {
  await Promise.all([one, two, dense, sparse].map((k) => k.close()));
});

describe('sgemm', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1], [1, 7, 3], [5, 1, 9], [13, 17, 9], [4, 8, 1], [33, 70, 600], [130, 21, 5], [3, 1030, 4], [60, 300, 784],
  ];
  for (const [M, N, K] of shapes) {
    it(`${M}x${N}x${K}, all transpose variants, alpha and beta`, () => {
      const rand = seeded(M * 1000 + N * 10 + K);
      for (const k of [one, two]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const [alpha, beta] of [[1, 0], [0.7, 1], [-1.5, 0.5]]) {
              const A = randomArray(k, M * K, rand);
              const B = randomArray(k, K * N, rand);
              const C = randomArray(k, M * N, rand);
              if (beta === 0) C.fill(NaN); // beta = 0 must ignore C
              const expected = copyOf(ref, C);
              ref.sgemm(transA, transB, M, N, K, alpha, A, B, beta, expected);
              k.sgemm(transA, transB, M, N, K, alpha, A, B, beta, C);
              assertClose(C, expected, TOL, `threads=${k.threads} tA=${transA} tB=${transB} alpha=${alpha} beta=${beta}`);
              for (const a of [A, B, C]) k.free(a);
            }
          }
        }
      }
    });
  }

  it('rejects arrays that are not engine memory and arrays that are too short', () => {
    assert.throws(() => one.sgemm(false, false, 2, 2, 2, 1, new Float32Array(4), one.alloc(4), 0, one.alloc(4)), /engine memory/);
    assert.throws(() => one.sgemm(false, false, 2, 2, 2, 1, one.alloc(3), one.alloc(4), 0, one.alloc(4)), /A has 3 elements/);
  });
});

describe('masked weights (Linear)', () => {
  const shapes: Array<[number, number, number]> = [[7, 13, 1], [5, 3, 17], [1, 1, 1], [300, 784, 60], [10, 100, 33]];
  const densities = [0, 0.01, 0.05, 0.2, 0.5, 1];
  for (const [rows, cols, N] of shapes) {
    it(`${rows}x${cols}, batch ${N}: sparse and dense agree with the reference at every density`, () => {
      const rand = seeded(rows * 7 + cols * 3 + N);
      for (const density of densities) {
        for (const k of [dense, sparse, one]) {
          const mask = randomMask(k, rows * cols, density, rand);
          const W = randomArray(k, rows * cols, rand);
          for (let i = 0; i < W.length; i++) W[i] *= mask[i];
          const bias = randomArray(k, rows, rand);
          const X = randomArray(k, N * cols, rand);
          const dY = randomArray(k, N * rows, rand);
          const mw = k.createMaskedWeight(W, mask, rows, cols);
          const rmw = ref.createMaskedWeight(W, mask, rows, cols);
          assert.equal(mw.sparse, k === sparse || (k === one && mw.density < DEFAULT_SPARSE_BELOW_DENSITY), 'path chosen by the threshold');
          assert.equal(mw.density, rmw.density);
          const what = `${mw.sparse ? 'sparse' : 'dense'} density=${density} threads=${k.threads}`;

          for (const b of [bias, null]) {
            const Y = k.alloc(N * rows);
            Y.fill(NaN);
            const eY = new Float32Array(N * rows);
            k.maskedForward(mw, X, N, b, Y);
            ref.maskedForward(rmw, X, N, b, eY);
            assertClose(Y, eY, TOL, `forward ${what} bias=${b !== null}`);
          }
          const dX = k.alloc(N * cols);
          const eX = new Float32Array(N * cols);
          k.maskedBackwardInput(mw, dY, N, dX);
          ref.maskedBackwardInput(rmw, dY, N, eX);
          assertClose(dX, eX, TOL, `backward input ${what}`);

          const dW = k.alloc(rows * cols);
          dW.fill(NaN);
          const eW = new Float32Array(rows * cols);
          k.maskedBackwardWeight(mw, dY, X, N, dW);
          ref.maskedBackwardWeight(rmw, dY, X, N, eW);
          assertClose(dW, eW, TOL, `backward weight ${what}`);
          for (let i = 0; i < dW.length; i++) {
            if (mask[i] === 0 && !Object.is(dW[i], 0)) assert.fail(`${what}: dW[${i}] = ${dW[i]} under a zero mask`);
          }

          // refreshValues picks up new weight values (the mask stays)
          for (let i = 0; i < W.length; i++) W[i] = mask[i] * (2 * rand() - 1);
          mw.refreshValues();
          const Y2 = k.alloc(N * rows);
          const eY2 = new Float32Array(N * rows);
          k.maskedForward(mw, X, N, bias, Y2);
          ref.maskedForward(rmw, X, N, bias, eY2);
          assertClose(Y2, eY2, TOL, `forward after refreshValues ${what}`);
          mw.dispose();
          for (const a of [mask, W, bias, X, dY, dX, dW, Y2]) k.free(a);
        }
      }
    });
  }

  it('the automatic choice is sparse below the crossover and dense above', () => {
    const rand = seeded(5);
    const lowMask = randomMask(one, 100 * 100, 0.05, rand);
    const highMask = randomMask(one, 100 * 100, 0.9, rand);
    const W = one.alloc(100 * 100);
    assert.equal(one.createMaskedWeight(W, lowMask, 100, 100).sparse, true);
    assert.equal(one.createMaskedWeight(W, highMask, 100, 100).sparse, false);
  });
});

function geometry(n: number, cIn: number, h: number, w: number, cOut: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): Conv2dGeometry {
  return { n, cIn, h, w, cOut, kh, kw, strideH: sh, strideW: sw, padH: ph, padW: pw };
}

const convGeometries: Array<[string, Conv2dGeometry]> = [
  ['3x3 stride 1 pad 1', geometry(3, 3, 8, 8, 5, 3, 3, 1, 1, 1, 1)],
  ['5x5 stride 2 pad 0', geometry(2, 2, 11, 13, 4, 5, 5, 2, 2, 0, 0)],
  ['1x1', geometry(3, 6, 5, 7, 3, 1, 1, 1, 1, 0, 0)],
  ['2x2 stride 2', geometry(2, 3, 6, 6, 2, 2, 2, 2, 2, 0, 0)],
  ['non-square 3x2 stride (2,1) pad (1,0)', geometry(3, 2, 9, 6, 3, 3, 2, 2, 1, 1, 0)],
  ['7x7 stride 2 pad 3, one image, one channel', geometry(1, 1, 9, 10, 1, 7, 7, 2, 2, 3, 3)],
  ['3x3 pad 1 on 32x32, 16 -> 8 channels', geometry(4, 16, 32, 32, 8, 3, 3, 1, 1, 1, 1)],
];

describe('convolution', () => {
  for (const [name, g] of convGeometries) {
    it(`im2col and col2im, ${name}`, () => {
      const rand = seeded(g.h * 31 + g.kw);
      const oh = convOutputSize(g.h, g.kh, g.strideH, g.padH);
      const ow = convOutputSize(g.w, g.kw, g.strideW, g.padW);
      const K = g.cIn * g.kh * g.kw;
      const x = randomArray(one, g.cIn * g.h * g.w, rand);
      const col = one.alloc(K * oh * ow);
      col.fill(NaN);
      const eCol = new Float32Array(K * oh * ow);
      one.im2col(x, g, col);
      ref.im2col(x, g, eCol);
      assertClose(col, eCol, 0, 'im2col');
      const dcol = randomArray(one, K * oh * ow, rand);
      const dx = one.alloc(g.cIn * g.h * g.w);
      dx.fill(NaN);
      const eDx = new Float32Array(g.cIn * g.h * g.w);
      one.col2im(dcol, g, dx);
      ref.col2im(dcol, g, eDx);
      assertClose(dx, eDx, 1e-6, 'col2im');
    });

    it(`forward and backward, dense and sparse, 1 and 2 threads: ${name}`, () => {
      const rand = seeded(g.cIn * 17 + g.kh);
      const oh = convOutputSize(g.h, g.kh, g.strideH, g.padH);
      const ow = convOutputSize(g.w, g.kw, g.strideW, g.padW);
      const K = g.cIn * g.kh * g.kw;
      const P = oh * ow;
      for (const density of [1, 0.3]) {
        for (const k of [one, dense, sparse]) {
          const mask = randomMask(k, g.cOut * K, density, rand);
          const W = randomArray(k, g.cOut * K, rand);
          for (let i = 0; i < W.length; i++) W[i] *= mask[i];
          const bias = randomArray(k, g.cOut, rand);
          const x = randomArray(k, g.n * g.cIn * g.h * g.w, rand);
          const dy = randomArray(k, g.n * g.cOut * P, rand);
          const mw = k.createMaskedWeight(W, mask, g.cOut, K);
          const rmw = ref.createMaskedWeight(W, mask, g.cOut, K);
          const ws = k.alloc(k.conv2dWorkspaceSize(g));
          ws.fill(NaN); // the kernels must not depend on the workspace's old content
          const rws = new Float32Array(ref.conv2dWorkspaceSize(g));
          const what = `${mw.sparse ? 'sparse' : 'dense'} density=${density} threads=${k.threads}`;

          for (const b of [bias, null]) {
            const y = k.alloc(g.n * g.cOut * P);
            const ey = new Float32Array(g.n * g.cOut * P);
            k.conv2dForward(mw, x, b, g, y, ws);
            ref.conv2dForward(rmw, x, b, g, ey, rws);
            assertClose(y, ey, TOL, `forward ${what} bias=${b !== null}`);
          }
          const dW = k.alloc(g.cOut * K);
          const dB = k.alloc(g.cOut);
          const dx = k.alloc(g.n * g.cIn * g.h * g.w);
          for (const arr of [dW, dB, dx]) arr.fill(NaN);
          const eW = new Float32Array(g.cOut * K);
          const eB = new Float32Array(g.cOut);
          const ex = new Float32Array(g.n * g.cIn * g.h * g.w);
          k.conv2dBackward(mw, x, dy, g, dW, dB, dx, ws);
          ref.conv2dBackward(rmw, x, dy, g, eW, eB, ex, rws);
          assertClose(dW, eW, TOL, `dW ${what}`);
          assertClose(dB, eB, TOL, `dBias ${what}`);
          assertClose(dx, ex, TOL, `dx ${what}`);
          for (let i = 0; i < dW.length; i++) {
            if (mask[i] === 0 && !Object.is(dW[i], 0)) assert.fail(`${what}: dW[${i}] = ${dW[i]} under a zero mask`);
          }
          // dBias and dx are optional
          const dW2 = k.alloc(g.cOut * K);
          k.conv2dBackward(mw, x, dy, g, dW2, null, null, ws);
          assertClose(dW2, eW, TOL, `dW without dx ${what}`);
          mw.dispose();
        }
      }
    });
  }
});

describe('pooling', () => {
  const pools: Array<[string, Conv2dGeometry]> = [
    ['max/avg 2x2 stride 2', geometry(2, 3, 8, 8, 3, 2, 2, 2, 2, 0, 0)],
    ['3x3 stride 2 pad 1, odd input', geometry(1, 2, 7, 9, 2, 3, 3, 2, 2, 1, 1)],
    ['3x3 stride 1 pad 1', geometry(2, 1, 5, 5, 1, 3, 3, 1, 1, 1, 1)],
    ['non-square 2x3 stride (1,2)', geometry(1, 2, 4, 7, 2, 2, 3, 1, 2, 0, 0)],
    ['1x1 input', geometry(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0)],
  ];
  for (const [name, g] of pools) {
    it(name, () => {
      const rand = seeded(g.h * 5 + g.w);
      const oh = convOutputSize(g.h, g.kh, g.strideH, g.padH);
      const ow = convOutputSize(g.w, g.kw, g.strideW, g.padW);
      const outLen = g.n * g.cIn * oh * ow;
      const inLen = g.n * g.cIn * g.h * g.w;
      const x = randomArray(one, inLen, rand);
      const dy = randomArray(one, outLen, rand);
      const y = one.alloc(outLen);
      const arg = one.allocInt32(outLen);
      const ey = new Float32Array(outLen);
      const earg = new Int32Array(outLen);
      one.maxPool2dForward(x, g, y, arg);
      ref.maxPool2dForward(x, g, ey, earg);
      assertClose(y, ey, 0, 'max forward');
      assert.deepEqual(Array.from(arg), Array.from(earg), 'argmax');
      const dx = one.alloc(inLen);
      const edx = new Float32Array(inLen);
      one.maxPool2dBackward(dy, arg, g, dx);
      ref.maxPool2dBackward(dy, earg, g, edx);
      assertClose(dx, edx, 1e-6, 'max backward');
      one.avgPool2dForward(x, g, y);
      ref.avgPool2dForward(x, g, ey);
      assertClose(y, ey, 1e-6, 'avg forward');
      one.avgPool2dBackward(dy, g, dx);
      ref.avgPool2dBackward(dy, g, edx);
      assertClose(dx, edx, 1e-6, 'avg backward');
    });
  }
});

describe('elementwise, bias and loss', () => {
  it('ReLU forward/backward (also in place) on lengths 1, 7 and 1001', () => {
    const rand = seeded(11);
    for (const n of [1, 7, 1001]) {
      const x = randomArray(one, n, rand);
      const dy = randomArray(one, n, rand);
      const y = one.alloc(n);
      const ey = new Float32Array(n);
      one.reluForward(x, y);
      ref.reluForward(x, ey);
      assertClose(y, ey, 0, 'relu forward');
      const dx = one.alloc(n);
      const edx = new Float32Array(n);
      one.reluBackward(y, dy, dx);
      ref.reluBackward(ey, dy, edx);
      assertClose(dx, edx, 0, 'relu backward');
      one.reluForward(x, x);
      assertClose(x, ey, 0, 'relu in place');
    }
  });

  it('bias add and bias gradient for S = 1 and S = 9', () => {
    const rand = seeded(12);
    for (const [N, C, S] of [[3, 5, 1], [2, 7, 9], [1, 1, 1], [60, 300, 1]]) {
      const y = randomArray(one, N * C * S, rand);
      const ey = copyOf(ref, y);
      const bias = randomArray(one, C, rand);
      one.addBias(y, bias, N, C, S);
      ref.addBias(ey, bias, N, C, S);
      assertClose(y, ey, 1e-6, 'addBias');
      const dB = one.alloc(C);
      const edB = new Float32Array(C);
      one.biasBackward(y, N, C, S, dB);
      ref.biasBackward(y, N, C, S, edB);
      assertClose(dB, edB, 1e-5, 'biasBackward');
    }
  });

  it('softmax cross-entropy: loss, correct count and gradient', () => {
    const rand = seeded(13);
    for (const [N, C] of [[1, 1], [7, 3], [60, 10]]) {
      const logits = randomArray(one, N * C, rand);
      for (let i = 0; i < logits.length; i++) logits[i] *= 8;
      const labels = one.allocInt32(N);
      for (let n = 0; n < N; n++) labels[n] = Math.floor(rand() * C);
      const d = one.alloc(N * C);
      const ed = new Float32Array(N * C);
      const got = one.softmaxCrossEntropy(logits, labels, N, C, d);
      const want = ref.softmaxCrossEntropy(logits, labels, N, C, ed);
      assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * Math.max(1, want.loss), `loss ${got.loss} vs ${want.loss}`);
      assert.equal(got.correct, want.correct);
      assertClose(d, ed, 1e-6, 'dLogits');
    }
    const labels = one.allocInt32(1);
    labels[0] = 3;
    assert.throws(() => one.softmaxCrossEntropy(one.alloc(3), labels, 1, 3, one.alloc(3)), /label 3/);
  });
});

describe('batch norm', () => {
  for (const [N, C, S] of [[4, 3, 25], [2, 5, 1], [60, 2, 7]]) {
    it(`train, eval and backward on [${N}, ${C}, ${S}]`, () => {
      const rand = seeded(N * C * S);
      const x = randomArray(one, N * C * S, rand);
      for (let i = 0; i < x.length; i++) x[i] = 3 + 2 * x[i];
      const gamma = randomArray(one, C, rand);
      const beta = randomArray(one, C, rand);
      const rm = randomArray(one, C, rand);
      const rv = one.alloc(C);
      rv.fill(1.5);
      const erm = copyOf(ref, rm);
      const erv = copyOf(ref, rv);
      const y = one.alloc(N * C * S);
      const ey = new Float32Array(N * C * S);
      const [sm, si] = [one.alloc(C), one.alloc(C)];
      const [esm, esi] = [new Float32Array(C), new Float32Array(C)];
      one.batchNormForwardTrain(x, N, C, S, gamma, beta, 1e-5, 0.1, rm, rv, y, sm, si);
      ref.batchNormForwardTrain(x, N, C, S, gamma, beta, 1e-5, 0.1, erm, erv, ey, esm, esi);
      assertClose(y, ey, 1e-5, 'train y');
      assertClose(rm, erm, 1e-6, 'running mean');
      assertClose(rv, erv, 1e-6, 'running var');
      assertClose(sm, esm, 1e-6, 'saved mean');
      assertClose(si, esi, 1e-5, 'saved invStd');
      const dy = randomArray(one, N * C * S, rand);
      const dx = one.alloc(N * C * S);
      const edx = new Float32Array(N * C * S);
      const [dg, db] = [one.alloc(C), one.alloc(C)];
      const [edg, edb] = [new Float32Array(C), new Float32Array(C)];
      one.batchNormBackward(x, dy, N, C, S, gamma, sm, si, dx, dg, db);
      ref.batchNormBackward(x, dy, N, C, S, gamma, esm, esi, edx, edg, edb);
      assertClose(dx, edx, 1e-4, 'dx');
      assertClose(dg, edg, 1e-4, 'dGamma');
      assertClose(db, edb, 1e-5, 'dBeta');
      one.batchNormForwardEval(x, N, C, S, gamma, beta, 1e-5, rm, rv, y);
      ref.batchNormForwardEval(x, N, C, S, gamma, beta, 1e-5, erm, erv, ey);
      assertClose(y, ey, 1e-5, 'eval y');
    });
  }
});

describe('optimisers', () => {
  for (const n of [1, 7, 1001]) {
    it(`Adam, with and without mask and weight decay, ${n} elements, 3 steps`, () => {
      const rand = seeded(n + 100);
      for (const withMask of [false, true]) {
        const mask = withMask ? randomMask(one, n, 0.6, rand) : null;
        const p = randomArray(one, n, rand);
        const m = one.alloc(n);
        const v = one.alloc(n);
        const [ep, em, ev] = [copyOf(ref, p), new Float32Array(n), new Float32Array(n)];
        for (let step = 1; step <= 3; step++) {
          const g = randomArray(one, n, rand);
          one.adamStep(p, g, m, v, mask, 1e-2, 0.9, 0.999, 1e-8, 1e-3, step);
          ref.adamStep(ep, g, em, ev, mask, 1e-2, 0.9, 0.999, 1e-8, 1e-3, step);
        }
        assertClose(p, ep, 1e-5, 'param');
        assertClose(m, em, 1e-5, 'm');
        assertClose(v, ev, 1e-5, 'v');
        if (mask) {
          for (let i = 0; i < n; i++) {
            if (mask[i] === 0) assert.ok(p[i] === 0 && m[i] === 0 && v[i] === 0, `masked element ${i} moved`);
          }
        }
      }
    });

    it(`SGD: plain, momentum, Nesterov, dampening, weight decay, mask; ${n} elements`, () => {
      const rand = seeded(n + 200);
      const settings: Array<[number, boolean, number, number]> = [[0, false, 0, 0], [0.9, false, 0, 5e-4], [0.9, true, 0, 1e-3], [0.8, false, 0.3, 0]];
      for (const [momentum, nesterov, dampening, wd] of settings) {
        const mask = randomMask(one, n, 0.7, rand);
        const p = randomArray(one, n, rand);
        // a stale buffer: masked entries must come out 0 (and without momentum the rest untouched)
        const buf = randomArray(one, n, rand);
        const [ep, ebuf] = [copyOf(ref, p), Float32Array.from(buf)];
        for (let step = 1; step <= 3; step++) {
          const g = randomArray(one, n, rand);
          one.sgdStep(p, g, buf, mask, 0.1, momentum, nesterov, wd, dampening, step);
          ref.sgdStep(ep, g, ebuf, mask, 0.1, momentum, nesterov, wd, dampening, step);
        }
        assertClose(p, ep, 1e-5, `param m=${momentum} nesterov=${nesterov} d=${dampening}`);
        assertClose(buf, ebuf, 1e-5, 'buffer');
        for (let i = 0; i < n; i++) if (mask[i] === 0) assert.ok(p[i] === 0 && buf[i] === 0, `masked element ${i} moved`);
      }
    });
  }

  it('large tensors are split across threads with the same result as one thread', () => {
    const rand = seeded(300);
    const n = (1 << 20) + 13;
    const mask = randomMask(one, n, 0.5, rand);
    const p1 = randomArray(one, n, rand);
    const g = randomArray(one, n, rand);
    const p2 = copyOf(two, p1);
    const [m1, v1, m2, v2] = [one.alloc(n), one.alloc(n), two.alloc(n), two.alloc(n)];
    one.adamStep(p1, g, m1, v1, mask, 1e-3, 0.9, 0.999, 1e-8, 0, 1);
    two.adamStep(p2, copyOf(two, g), m2, v2, copyOf(two, mask), 1e-3, 0.9, 0.999, 1e-8, 0, 1);
    assertClose(p2, p1, 0, 'param');
  });
});
