/**
 * Every WGSL kernel of the webgpu backend against the reference backend (src/engine/reference.ts)
 * on small odd shapes (not multiples of the 64x64 or 128x128 GEMM tiles or the 256-thread workgroups), through
 * the engine contract (Tensor handles, upload, download). Runs on a hardware GPU when present and
 * otherwise on Mesa's llvmpipe (about 2 GFLOPS, so shapes stay small); see webgpu-setup.ts for what
 * happens where there is no adapter at all.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../../src/engine/reference.js';
import { convOutputSize, type Conv2dGeometry, type Tensor } from '../../src/engine/kernels.js';
import { assertClose, seeded } from './helpers.js';
import { randomFloats, randomMaskArray, webgpuForTests } from './webgpu-setup.js';
import { splitKCount } from '../../src/engine/webgpu/ops.js';
import { gemmTileFor } from '../../src/engine/webgpu/wgsl.js';
import { createWebGpuKernels } from '../../src/engine/webgpu/index.js';

const ref = referenceKernels();
/** A reference tensor over a host array (the reference computes in place on it). */
const w = (a: Float32Array | Int32Array): Tensor => ref.wrap(a);
const TOL = 3e-5; // relative to the largest expected magnitude (float32 sums in another order)

const gpu = await webgpuForTests();

if (gpu !== null) {
  after(async () => {
    await gpu.close();
  });

  const k = gpu;
  /** A tensor of `kernels` holding `data`. */
  const putOn = (kernels: typeof gpu, data: ArrayLike<number>, dtype: 'f32' | 'i32' = 'f32'): Tensor => {
    const t = kernels.tensor(data.length, dtype);
    kernels.upload(t, data);
    return t;
  };
  const put = (data: ArrayLike<number>, dtype: 'f32' | 'i32' = 'f32'): Tensor => putOn(k, data, dtype);
  const get = (t: Tensor): Promise<Float32Array> => k.download(t);

  /** sgemm on `kernels` against the reference for every shape, transpose variant and (alpha, beta). */
  const checkSgemm = async (kernels: typeof gpu, shapes: Array<[number, number, number]>): Promise<void> => {
    for (const [M, N, K] of shapes) {
      const rand = seeded(M * 1000 + N * 10 + K);
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const [alpha, beta] of [[1, 0], [0.7, 1], [-1.5, 0.5]]) {
            const A = randomFloats(M * K, rand);
            const B = randomFloats(K * N, rand);
            const C = randomFloats(M * N, rand);
            if (beta === 0) C.fill(NaN);
            const expected = C.slice();
            ref.sgemm(transA, transB, M, N, K, alpha, w(A), w(B), beta, w(expected));
            const tA = putOn(kernels, A), tB = putOn(kernels, B), tC = putOn(kernels, C);
            kernels.sgemm(transA, transB, M, N, K, alpha, tA, tB, beta, tC);
            assertClose(await kernels.download(tC), expected, TOL, `${M}x${N}x${K} tA=${transA} tB=${transB} alpha=${alpha} beta=${beta}`);
            for (const t of [tA, tB, tC]) kernels.free(t);
          }
        }
      }
    }
  };

  /** masked Linear (forward with and without bias, both backward products) on `kernels` against the reference */
  const checkMaskedLinear = async (kernels: typeof gpu, shapes: Array<[number, number, number]>): Promise<void> => {
    for (const [rows, cols, N] of shapes) {
      const rand = seeded(rows * 7 + cols * 3 + N);
      const mask = randomMaskArray(rows * cols, 0.4, rand);
      const W = randomFloats(rows * cols, rand).map((v, i) => v * mask[i]);
      const bias = randomFloats(rows, rand);
      const X = randomFloats(N * cols, rand);
      const dY = randomFloats(N * rows, rand);
      const rmw = ref.createMaskedWeight(w(W), w(mask), rows, cols);
      const tW = putOn(kernels, W), tMask = putOn(kernels, mask), tX = putOn(kernels, X), tdY = putOn(kernels, dY), tBias = putOn(kernels, bias);
      const mw = kernels.createMaskedWeight(tW, tMask, rows, cols);
      for (const b of [null, bias]) {
        const Y = new Float32Array(N * rows);
        ref.maskedForward(rmw, w(X), N, b === null ? null : w(b), w(Y));
        const tY = kernels.tensor(N * rows);
        kernels.maskedForward(mw, tX, N, b === null ? null : tBias, tY);
        assertClose(await kernels.download(tY), Y, TOL, `forward ${rows}x${cols} N=${N} bias=${b !== null}`);
      }
      const dX = new Float32Array(N * cols);
      ref.maskedBackwardInput(rmw, w(dY), N, w(dX));
      const tdX = kernels.tensor(N * cols);
      kernels.maskedBackwardInput(mw, tdY, N, tdX);
      assertClose(await kernels.download(tdX), dX, TOL, `backward input ${rows}x${cols}`);
      const dW = new Float32Array(rows * cols);
      ref.maskedBackwardWeight(rmw, w(dY), w(X), N, w(dW));
      const tdW = putOn(kernels, new Float32Array(rows * cols).fill(NaN));
      kernels.maskedBackwardWeight(mw, tdY, tX, N, tdW);
      const gotDW = await kernels.download(tdW);
      assertClose(gotDW, dW, TOL, `backward weight ${rows}x${cols}`);
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.ok(Object.is(gotDW[i], 0), `dW[${i}] under the mask is ${gotDW[i]}`);
    }
  };

  /** conv2d forward and backward on `kernels` against the reference, for every geometry */
  const checkConv = async (kernels: typeof gpu, cases: Conv2dGeometry[]): Promise<void> => {
    for (const g of cases) {
      const rand = seeded(g.n * 100 + g.cIn * 10 + g.cOut + g.kh);
      const oh = convOutputSize(g.h, g.kh, g.strideH, g.padH), ow = convOutputSize(g.w, g.kw, g.strideW, g.padW);
      const K = g.cIn * g.kh * g.kw;
      const mask = randomMaskArray(g.cOut * K, 0.5, rand);
      const W = randomFloats(g.cOut * K, rand).map((v, i) => v * mask[i]);
      const bias = randomFloats(g.cOut, rand);
      const x = randomFloats(g.n * g.cIn * g.h * g.w, rand);
      const dy = randomFloats(g.n * g.cOut * oh * ow, rand);
      const rmw = ref.createMaskedWeight(w(W), w(mask), g.cOut, K);
      const ws = new Float32Array(Math.max(1, ref.conv2dWorkspaceSize(g)));
      const tW = putOn(kernels, W), tMask = putOn(kernels, mask), tx = putOn(kernels, x), tdy = putOn(kernels, dy), tBias = putOn(kernels, bias);
      const mw = kernels.createMaskedWeight(tW, tMask, g.cOut, K);
      const what = JSON.stringify(g);
      for (const b of [bias, null]) {
        const y = new Float32Array(g.n * g.cOut * oh * ow);
        ref.conv2dForward(rmw, w(x), b === null ? null : w(b), g, w(y), w(ws));
        const ty = kernels.tensor(y.length);
        kernels.conv2dForward(mw, tx, b === null ? null : tBias, g, ty, ty);
        assertClose(await kernels.download(ty), y, TOL, `forward bias=${b !== null} ${what}`);
      }
      const dW = new Float32Array(W.length), dBias = new Float32Array(g.cOut), dx = new Float32Array(x.length);
      ref.conv2dBackward(rmw, w(x), w(dy), g, w(dW), w(dBias), w(dx), w(ws));
      const tdW = putOn(kernels, new Float32Array(W.length).fill(NaN)), tdBias = kernels.tensor(g.cOut), tdx = putOn(kernels, new Float32Array(x.length).fill(NaN));
      kernels.conv2dBackward(mw, tx, tdy, g, tdW, tdBias, tdx, tdx);
      const gotDW = await kernels.download(tdW);
      assertClose(gotDW, dW, TOL, `dW ${what}`);
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) assert.ok(Object.is(gotDW[i], 0), `dW[${i}] under the mask is ${gotDW[i]}`);
      assertClose(await kernels.download(tdBias), dBias, TOL, `dBias ${what}`);
      assertClose(await kernels.download(tdx), dx, TOL, `dx ${what}`);
      // without dBias and dx: dW alone
      const tdW2 = kernels.tensor(W.length);
      kernels.conv2dBackward(mw, tx, tdy, g, tdW2, null, null, tdW2);
      assertClose(await kernels.download(tdW2), dW, TOL, `dW alone ${what}`);
    }
  };

  describe(`webgpu kernels on ${gpu.adapter.device || gpu.adapter.description}`, () => {
    it('webgpu sgemm: odd shapes, all transpose variants, alpha and beta (beta = 0 ignores NaN in C)', async () => {
      await checkSgemm(k, [[1, 1, 1], [5, 7, 3], [13, 17, 9], [3, 130, 4], [65, 66, 67], [70, 5, 129]]);
    });

    it('webgpu sgemm: operands at element offsets inside larger tensors, the rest untouched', async () => {
      const rand = seeded(7);
      const [M, N, K] = [9, 11, 13];
      const A = randomFloats(M * K, rand), B = randomFloats(K * N, rand);
      const expected = new Float32Array(M * N);
      ref.sgemm(true, false, M, N, K, 1, w(A), w(B), 0, w(expected));
      const big = randomFloats(3 + M * K + 5 + K * N + 7 + M * N + 2, rand);
      big.set(A, 3);
      big.set(B, 3 + M * K + 5);
      const t = put(big);
      const cOff = 3 + M * K + 5 + K * N + 7;
      // C lives in another tensor at an offset; A and B share one tensor (both read-only)
      const out = put(new Float32Array(cOff + M * N + 4).fill(42));
      k.sgemm(true, false, M, N, K, 1, t, t, 0, out, 3, 3 + M * K + 5, cOff);
      const got = await get(out);
      assertClose(got.subarray(cOff, cOff + M * N), expected, TOL, 'C at an offset');
      assert.ok(got.subarray(0, cOff).every((v) => v === 42) && got.subarray(cOff + M * N).every((v) => v === 42), 'elements outside C changed');
    });

    it('webgpu masked Linear: forward with and without bias, both backward products, dW exactly 0 under the mask', async () => {
      await checkMaskedLinear(k, [[7, 13, 1], [5, 3, 17], [70, 65, 9], [10, 100, 33]]);
    });

    const convCases: Conv2dGeometry[] = [
      { n: 2, cIn: 3, h: 7, w: 6, cOut: 5, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { n: 3, cIn: 2, h: 9, w: 8, cOut: 4, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 1, padW: 0 },
      { n: 1, cIn: 4, h: 5, w: 5, cOut: 3, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0 },
      { n: 2, cIn: 3, h: 8, w: 8, cOut: 7, kh: 5, kw: 5, strideH: 2, strideW: 2, padH: 2, padW: 2 },
      { n: 2, cIn: 5, h: 6, w: 7, cOut: 67, kh: 3, kw: 3, strideH: 1, strideW: 2, padH: 1, padW: 1 },
      // long reductions (n·oh·ow = 768 and 720): the weight gradient is split along K (3 and 2 chunks)
      { n: 3, cIn: 2, h: 16, w: 16, cOut: 4, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { n: 5, cIn: 3, h: 12, w: 12, cOut: 70, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
    ];

    it('webgpu split-K: the long-reduction geometries above are split', () => {
      assert.equal(splitKCount(1, 768), 3);
      assert.equal(splitKCount(2, 720), 2);
      assert.equal(splitKCount(1, 84), 1);
      assert.equal(splitKCount(300, 1e6), 1);
    });

    it('webgpu conv2d as implicit GEMM: forward, weight gradient (masked, split-K too), bias gradient and input gradient', async () => {
      await checkConv(k, convCases);
    });

    it('webgpu GEMM tile choice: auto takes the 128 tile only for products of at least 256 such tiles, both sides >= 128', () => {
      assert.equal(gemmTileFor(4096, 4096, 'auto'), 128);
      assert.equal(gemmTileFor(2048, 2048, 'auto'), 128); // 16 x 16 = 256 tiles
      assert.equal(gemmTileFor(2048, 1920, 'auto'), 64); // 16 x 15
      assert.equal(gemmTileFor(64, 61440, 'auto'), 64); // conv4 layer 2 at batch 60: 480 tiles, but M = 64
      assert.equal(gemmTileFor(256, 16384, 'auto'), 128); // a VGG19 conv at batch 64: 2 x 128 tiles
      assert.equal(gemmTileFor(128, 15360, 'auto'), 64); // conv4 layer 4 at batch 60: 120 tiles
      assert.equal(gemmTileFor(60, 300, 'auto'), 64);
      assert.equal(gemmTileFor(60, 300, 128), 128);
      assert.equal(gemmTileFor(4096, 4096, 64), 64);
    });

    it('webgpu 128x128 GEMM tile (forced): sgemm, masked Linear and conv2d on odd shapes against the reference', async () => {
      const big = await createWebGpuKernels({ allowSoftware: true, gemmTile: 128 });
      assert.ok(big !== null, 'a second webgpu device');
      try {
        await checkSgemm(big, [[5, 7, 3], [65, 66, 67], [130, 131, 37], [129, 3, 20], [3, 257, 9], [200, 140, 130]]);
        await checkMaskedLinear(big, [[7, 13, 1], [70, 65, 9], [130, 129, 33]]);
        await checkConv(big, [...convCases, { n: 2, cIn: 3, h: 6, w: 5, cOut: 131, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 }]);
      } finally {
        await big.close();
      }
    });

    it('webgpu im2col and col2im of one image at an offset', async () => {
      for (const g of convCases) {
        const rand = seeded(g.h * 13 + g.kw);
        const oh = convOutputSize(g.h, g.kh, g.strideH, g.padH), ow = convOutputSize(g.w, g.kw, g.strideW, g.padW);
        const img = g.cIn * g.h * g.w;
        const colLen = g.cIn * g.kh * g.kw * oh * ow;
        const x = randomFloats(2 * img, rand);
        const col = new Float32Array(colLen);
        ref.im2col(w(x), img, g, w(col));
        const tx = put(x), tcol = k.tensor(colLen);
        k.im2col(tx, img, g, tcol);
        assertClose(await get(tcol), col, TOL, `im2col ${JSON.stringify(g)}`);
        const c = randomFloats(colLen, rand);
        const dx = new Float32Array(img);
        ref.col2im(w(c), g, w(dx), 0);
        const tc = put(c), tdx = put(new Float32Array(2 * img).fill(5));
        k.col2im(tc, g, tdx, img);
        const got = await get(tdx);
        assertClose(got.subarray(img), dx, TOL, `col2im ${JSON.stringify(g)}`);
        assert.ok(got.subarray(0, img).every((v) => v === 5), 'col2im wrote outside its image');
      }
    });

    const poolCases: Conv2dGeometry[] = [
      { n: 2, cIn: 3, h: 7, w: 6, cOut: 3, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 },
      { n: 1, cIn: 2, h: 7, w: 7, cOut: 2, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
      { n: 2, cIn: 2, h: 5, w: 6, cOut: 2, kh: 3, kw: 2, strideH: 1, strideW: 1, padH: 1, padW: 0 },
    ];

    it('webgpu max and average pooling, forward and backward (overlapping windows, padding)', async () => {
      for (const g of poolCases) {
        const rand = seeded(g.h * 7 + g.kh * 3 + g.strideH);
        const oh = convOutputSize(g.h, g.kh, g.strideH, g.padH), ow = convOutputSize(g.w, g.kw, g.strideW, g.padW);
        const outs = g.n * g.cIn * oh * ow;
        const x = randomFloats(g.n * g.cIn * g.h * g.w, rand);
        x[3] = x[4]; // a tie: the first maximum must win
        const dy = randomFloats(outs, rand);
        const y = new Float32Array(outs), arg = new Int32Array(outs);
        ref.maxPool2dForward(w(x), g, w(y), w(arg));
        const tx = put(x), ty = k.tensor(outs), targ = k.tensor(outs, 'i32');
        k.maxPool2dForward(tx, g, ty, targ);
        const what = JSON.stringify(g);
        assertClose(await get(ty), y, 0, `max forward ${what}`);
        assert.deepEqual(Array.from(await k.downloadInt32(targ)), Array.from(arg), `argmax ${what}`);
        const dx = new Float32Array(x.length);
        ref.maxPool2dBackward(w(dy), w(arg), g, w(dx));
        const tdy = put(dy), tdx = put(new Float32Array(x.length).fill(NaN));
        k.maxPool2dBackward(tdy, targ, g, tdx);
        assertClose(await get(tdx), dx, TOL, `max backward ${what}`);
        const ya = new Float32Array(outs);
        ref.avgPool2dForward(w(x), g, w(ya));
        k.avgPool2dForward(tx, g, ty);
        assertClose(await get(ty), ya, TOL, `avg forward ${what}`);
        const dxa = new Float32Array(x.length);
        ref.avgPool2dBackward(w(dy), g, w(dxa));
        k.avgPool2dBackward(tdy, g, tdx);
        assertClose(await get(tdx), dxa, TOL, `avg backward ${what}`);
      }
    });

    it('webgpu ReLU forward and backward, separate and in place', async () => {
      const rand = seeded(11);
      const n = 1000;
      const x = randomFloats(n + 3, rand), dy = randomFloats(n + 3, rand);
      const y = new Float32Array(n + 3), dx = new Float32Array(n + 3);
      ref.reluForward(w(x), w(y), n + 3);
      ref.reluBackward(w(y), w(dy), w(dx), n + 3);
      const tx = put(x), ty = k.tensor(n + 3), tdy = put(dy), tdx = k.tensor(n + 3);
      k.reluForward(tx, ty, n);
      k.reluBackward(ty, tdy, tdx, n);
      const gotY = await get(ty), gotDx = await get(tdx);
      assertClose(gotY.subarray(0, n), y.subarray(0, n), 0, 'relu forward');
      assert.deepEqual(Array.from(gotY.subarray(n)), [0, 0, 0], 'relu forward wrote past n');
      assertClose(gotDx.subarray(0, n), dx.subarray(0, n), 0, 'relu backward');
      k.reluForward(tx, tx, n);
      k.reluBackward(ty, tdy, tdy, n);
      assertClose((await get(tx)).subarray(0, n), y.subarray(0, n), 0, 'relu forward in place');
      assertClose((await get(tdy)).subarray(0, n), dx.subarray(0, n), 0, 'relu backward in place');
    });

    it('webgpu bias add and bias gradient over [N, C, S] (S = 1 and S > 256 values per channel)', async () => {
      for (const [N, C, S] of [[3, 5, 7], [17, 9, 1], [4, 3, 100]]) {
        const rand = seeded(N * C * S);
        const y = randomFloats(N * C * S, rand), bias = randomFloats(C, rand);
        const expected = y.slice();
        ref.addBias(w(expected), w(bias), N, C, S);
        const ty = put(y), tb = put(bias);
        k.addBias(ty, tb, N, C, S);
        assertClose(await get(ty), expected, TOL, `addBias ${N}x${C}x${S}`);
        const dB = new Float32Array(C);
        ref.biasBackward(w(y), N, C, S, w(dB));
        const tdy = put(y), tdB = put(new Float32Array(C).fill(NaN));
        k.biasBackward(tdy, N, C, S, tdB);
        assertClose(await get(tdB), dB, TOL, `biasBackward ${N}x${C}x${S}`);
      }
    });

    it('webgpu softmax cross-entropy: gradient, summed loss and correct count accumulated on the device', async () => {
      for (const [N, C] of [[7, 10], [300, 13], [1, 2]]) {
        const rand = seeded(N * 31 + C);
        const z = randomFloats(N * C, rand).map((v) => 4 * v);
        const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * C));
        const dz = new Float32Array(N * C);
        const refStats = new Float32Array(2);
        ref.softmaxCrossEntropy(w(z), w(labels), N, C, w(dz), w(refStats));
        const [lossSum, correct] = refStats;
        const tz = put(z), tl = put(labels, 'i32'), tdz = k.tensor(N * C);
        const stats = put([0, 0, 1.5, 2]);
        k.softmaxCrossEntropy(tz, tl, N, C, tdz, stats, 2);
        k.softmaxCrossEntropy(tz, tl, N, C, tdz, stats, 2); // accumulates: twice the sums
        assertClose(await get(tdz), dz, TOL, `dLogits N=${N} C=${C}`);
        const s = await get(stats);
        assert.deepEqual(Array.from(s.subarray(0, 2)), [0, 0], 'stats before the offset changed');
        assertClose([s[2] - 1.5], [2 * lossSum], 1e-5, `summed loss N=${N}`);
        assert.equal(s[3] - 2, 2 * correct, `correct count N=${N}`);
        const tdz2 = k.tensor(N * C);
        k.softmaxCrossEntropy(tz, tl, N, C, tdz2, null);
        assertClose(await get(tdz2), dz, TOL, `dLogits without stats N=${N}`);
      }
    });

    it('webgpu batch norm: training and evaluation forward, both backward passes (PyTorch semantics)', async () => {
      for (const [N, C, S] of [[3, 5, 7], [5, 2, 1], [4, 3, 100]]) {
        const rand = seeded(N * 100 + C * 10 + S);
        const len = N * C * S;
        const x = randomFloats(len, rand).map((v) => 3 * v + 0.5), dy = randomFloats(len, rand);
        const gamma = randomFloats(C, rand), beta = randomFloats(C, rand);
        const rm = randomFloats(C, rand), rv = randomFloats(C, rand).map((v) => v + 1.5);
        const [eps, momentum] = [1e-5, 0.1];
        const y = new Float32Array(len), sm = new Float32Array(C), sis = new Float32Array(C);
        const rm2 = rm.slice(), rv2 = rv.slice();
        ref.batchNormForwardTrain(w(x), N, C, S, w(gamma), w(beta), eps, momentum, w(rm2), w(rv2), w(y), w(sm), w(sis));
        const tx = put(x), tg = put(gamma), tb = put(beta), trm = put(rm), trv = put(rv);
        const ty = k.tensor(len), tsm = k.tensor(C), tsis = k.tensor(C);
        k.batchNormForwardTrain(tx, N, C, S, tg, tb, eps, momentum, trm, trv, ty, tsm, tsis);
        const what = `${N}x${C}x${S}`;
        assertClose(await get(ty), y, 1e-4, `train forward ${what}`);
        assertClose(await get(tsm), sm, TOL, `saved mean ${what}`);
        assertClose(await get(tsis), sis, 1e-4, `saved invStd ${what}`);
        assertClose(await get(trm), rm2, TOL, `running mean ${what}`);
        assertClose(await get(trv), rv2, 1e-4, `running var ${what}`);
        const dx = new Float32Array(len), dg = new Float32Array(C), db = new Float32Array(C);
        ref.batchNormBackward(w(x), w(dy), N, C, S, w(gamma), w(sm), w(sis), w(dx), w(dg), w(db));
        const tdy = put(dy), tdx = k.tensor(len), tdg = k.tensor(C), tdb = k.tensor(C);
        k.batchNormBackward(tx, tdy, N, C, S, tg, tsm, tsis, tdx, tdg, tdb);
        assertClose(await get(tdx), dx, 1e-4, `backward dx ${what}`);
        assertClose(await get(tdg), dg, 1e-4, `backward dGamma ${what}`);
        assertClose(await get(tdb), db, TOL, `backward dBeta ${what}`);
        // evaluation mode uses the running statistics (the updated ones, rm2 and rv2)
        const ye = new Float32Array(len);
        ref.batchNormForwardEval(w(x), N, C, S, w(gamma), w(beta), eps, w(rm2), w(rv2), w(ye));
        k.batchNormForwardEval(tx, N, C, S, tg, tb, eps, trm, trv, ty);
        assertClose(await get(ty), ye, 1e-4, `eval forward ${what}`);
        // eval backward: the reference formula (contract), in float64
        const dxe = new Float64Array(len), dge = new Float64Array(C), dbe = new Float64Array(C);
        for (let i = 0; i < len; i++) {
          const c = Math.floor(i / S) % C;
          const inv = 1 / Math.sqrt(rv2[c] + eps);
          dxe[i] = dy[i] * gamma[c] * inv;
          dge[c] += dy[i] * (x[i] - rm2[c]) * inv;
          dbe[c] += dy[i];
        }
        k.batchNormBackwardEval(tx, tdy, N, C, S, tg, eps, trm, trv, tdx, tdg, tdb);
        assertClose(await get(tdx), dxe, 1e-4, `eval backward dx ${what}`);
        assertClose(await get(tdg), dge, 1e-4, `eval backward dGamma ${what}`);
        assertClose(await get(tdb), dbe, TOL, `eval backward dBeta ${what}`);
      }
    });

    it('webgpu Adam and SGD (PyTorch semantics), masked and unmasked, over several steps', async () => {
      const n = 517;
      const rand = seeded(5);
      for (const masked of [false, true]) {
        const mask = masked ? randomMaskArray(n, 0.3, rand) : null;
        const p0 = randomFloats(n, rand);
        // Adam
        const p = p0.slice(), m = new Float32Array(n), v = new Float32Array(n);
        const tp = put(p0), tm = k.tensor(n), tv = k.tensor(n), tmask = mask === null ? null : put(mask);
        for (let step = 1; step <= 3; step++) {
          const g = randomFloats(n, rand);
          ref.adamStep(w(p), w(g), w(m), w(v), mask === null ? null : w(mask), 1e-2, 0.9, 0.999, 1e-8, 1e-4, step);
          const tg = put(g);
          k.adamStep(tp, tg, tm, tv, tmask, 1e-2, 0.9, 0.999, 1e-8, 1e-4, step);
          k.free(tg);
        }
        const gotP = await get(tp);
        assertClose(gotP, p, 1e-5, `adam param masked=${masked}`);
        assertClose(await get(tm), m, 1e-5, `adam m masked=${masked}`);
        assertClose(await get(tv), v, 1e-5, `adam v masked=${masked}`);
        if (mask !== null) for (let i = 0; i < n; i++) if (mask[i] === 0) assert.ok(Object.is(gotP[i], 0), `adam: masked param ${i} is ${gotP[i]}`);
        // SGD: plain momentum, then Nesterov with dampening
        for (const [nesterov, dampening] of [[false, 0.1], [true, 0]] as const) {
          const ps = p0.slice(), buf = new Float32Array(n);
          const tps = put(p0), tbuf = k.tensor(n);
          for (let step = 1; step <= 3; step++) {
            const g = randomFloats(n, rand);
            ref.sgdStep(w(ps), w(g), w(buf), mask === null ? null : w(mask), 0.05, 0.9, nesterov, 5e-4, dampening, step);
            const tg = put(g);
            k.sgdStep(tps, tg, tbuf, tmask, 0.05, 0.9, nesterov, 5e-4, dampening, step);
            k.free(tg);
          }
          assertClose(await get(tps), ps, 1e-5, `sgd param masked=${masked} nesterov=${nesterov}`);
          assertClose(await get(tbuf), buf, 1e-5, `sgd velocity masked=${masked} nesterov=${nesterov}`);
        }
      }
    });

    it('webgpu small elementwise kernels: fill, copy (f32 and i32), scale, addScalar, axpy, abs, applyMask, maxAbs', async () => {
      const rand = seeded(3);
      const n = 300;
      const a = randomFloats(n, rand), b = randomFloats(n, rand);
      const ta = put(a), tb = put(b);
      k.fill(ta, 2.5, 10, 20);
      const filled = a.slice();
      filled.fill(2.5, 10, 30);
      assertClose(await get(ta), filled, 0, 'fill f32 range');
      const ti = put(Int32Array.from({ length: 50 }, (_, i) => i), 'i32');
      k.fill(ti, 7, 40);
      const ti2 = k.tensor(50, 'i32');
      k.copy(ti, ti2, 45, 3, 5);
      const ints = await k.downloadInt32(ti2);
      const expectedInts = new Int32Array(50);
      for (let i = 0; i < 45; i++) expectedInts[5 + i] = i + 3 < 40 ? i + 3 : 7;
      assert.deepEqual(Array.from(ints), Array.from(expectedInts), 'fill and copy of i32 tensors keep the integers');
      const tc = k.tensor(n);
      k.copy(tb, tc, n);
      k.scale(tc, -2, n - 1, 1);
      k.addScalar(tc, 0.25, 5);
      const c = b.slice();
      for (let i = 1; i < n; i++) c[i] *= -2;
      for (let i = 0; i < 5; i++) c[i] += 0.25;
      assertClose(await get(tc), c, 1e-6, 'copy, scale, addScalar');
      k.axpy(0.5, tb, tc, n);
      for (let i = 0; i < n; i++) c[i] += 0.5 * b[i];
      assertClose(await get(tc), c, 1e-6, 'axpy');
      const td = k.tensor(n);
      k.abs(tb, td, n);
      assertClose(await get(td), b.map(Math.abs), 0, 'abs');
      k.abs(tc, tc, n);
      assertClose(await get(tc), c.map(Math.abs), 0, 'abs in place');
      const mask = randomMaskArray(n, 0.5, rand);
      const tm = put(mask);
      const withNan = b.slice();
      withNan[7] = NaN;
      mask[7] = 0;
      k.upload(tm, mask);
      k.upload(tb, withNan);
      k.applyMask(tb, tm, n - 1);
      const masked = await get(tb);
      for (let i = 0; i < n; i++) {
        const expected = i < n - 1 && mask[i] === 0 ? 0 : withNan[i];
        assert.ok(Object.is(masked[i], expected), `applyMask element ${i}: ${masked[i]}, expected ${expected}`);
      }
      const out = put([9, 9, 9]);
      const big = randomFloats(1000, rand);
      big[777] = -3.5;
      const tbig = put(big);
      k.maxAbs(tbig, 990, out, 1, 5);
      k.maxAbs(tbig, 0, out, 2);
      let m = 0;
      for (let i = 5; i < 995; i++) m = Math.max(m, Math.abs(big[i]));
      assert.deepEqual(Array.from(await get(out)), [9, Math.fround(m), 0], 'maxAbs over a range, and of nothing');
      big[500] = NaN;
      k.upload(tbig, big);
      k.maxAbs(tbig, 1000, out);
      assert.ok(Number.isNaN((await get(out))[0]), 'maxAbs with a NaN is NaN');
    });

    it('webgpu batching: a hundred kernels and a download are one submit', async () => {
      const t = k.tensor(1000);
      const before = gpu.runtime.submits;
      for (let i = 0; i < 100; i++) k.addScalar(t, 1, 1000);
      const got = await get(t);
      assert.equal(gpu.runtime.submits - before, 1);
      assert.ok(got.every((v) => v === 100), 'every kernel ran, in order');
    });

    it('webgpu batching: an upload sends recorded work only when that work uses the tensor', async () => {
      const a = put(new Float32Array(10).fill(1));
      const b = put(new Float32Array(10).fill(2));
      const c = k.tensor(10);
      await get(c);
      const before = gpu.runtime.submits;
      k.addScalar(a, 1, 10); // recorded: uses a
      k.upload(b, new Float32Array(10).fill(5)); // b unused so far: no submit, and later kernels see 5
      assert.equal(gpu.runtime.submits, before);
      k.upload(a, new Float32Array(10).fill(7)); // a is used by recorded work: that work is sent first
      assert.equal(gpu.runtime.submits, before + 1);
      k.copy(b, c, 10); // recorded in a new batch
      k.upload(b, new Float32Array(10).fill(9)); // b is used by the copy: sent first, so c gets 5
      assert.equal(gpu.runtime.submits, before + 2);
      assert.deepEqual(Array.from(await get(c)), new Array(10).fill(5));
      assert.deepEqual(Array.from(await get(a)), new Array(10).fill(7), 'the write to a came after the addScalar');
      assert.deepEqual(Array.from(await get(b)), new Array(10).fill(9));
    });

    it('webgpu rejects tensors of other backends, freed tensors and overruns', () => {
      const t = k.tensor(4);
      assert.throws(() => k.fill({ length: 4, dtype: 'f32' }, 1), /another backend/);
      assert.throws(() => k.sgemm(false, false, 2, 2, 2, 1, t, k.tensor(3), 0, t), /needs 4 elements/);
      k.free(t);
      assert.throws(() => k.fill(t, 1), /freed/);
    });
  });
}
