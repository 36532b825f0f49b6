/**
 * Tests of the tensor contract itself (src/engine/kernels.ts) that use nothing but the `Kernels`
 * API: upload/download with offsets, the small elementwise kernels, kernel offsets (sgemm, im2col,
 * col2im), device-side loss statistics, batch norm's eval backward. `contractSuite` runs them
 * against any backend, comparing with the reference backend; contract.test.ts runs it for reference
 * and wasm, and a GPU backend can run it as is.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { convOutputSize, type Conv2dGeometry, type Kernels, type Tensor } from '../../src/engine/kernels.js';
import { referenceKernels } from '../../src/engine/reference.js';
import { assertClose, seeded } from './helpers.js';

function randomValues(n: number, rand: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * rand() - 1;
  return a;
}

function tensorOf(k: Kernels, values: ArrayLike<number>, dtype: 'f32' | 'i32' = 'f32'): Tensor {
  const t = k.tensor(values.length, dtype);
  k.upload(t, values);
  return t;
}

export function contractSuite(label: string, make: () => Promise<Kernels>, tol = 2e-5): void {
  describe(`tensor contract: ${label}`, () => {
    let k: Kernels;
    const ref = referenceKernels();
    before(async () => {
      k = await make();
    });
    after(async () => {
      await k.close();
    });

    it('tensors start at zero; upload and download honour offsets and lengths; i32 too', async () => {
      const t = k.tensor(7);
      assert.equal(t.length, 7);
      assert.equal(t.dtype, 'f32');
      assert.deepEqual([...(await k.download(t))], [0, 0, 0, 0, 0, 0, 0]);
      k.upload(t, [1.5, -2, 3], 2);
      assert.deepEqual([...(await k.download(t))], [0, 0, 1.5, -2, 3, 0, 0]);
      assert.deepEqual([...(await k.download(t, 3, 2))], [-2, 3]);
      assert.deepEqual([...(await k.download(t, 5))], [0, 0]);
      assert.throws(() => k.upload(t, [1, 2, 3], 5), RangeError);
      await assert.rejects(async () => k.download(t, 4, 4), RangeError);
      const l = k.tensor(5, 'i32');
      assert.equal(l.dtype, 'i32');
      k.upload(l, Int32Array.from([4, -1, 7]), 1);
      assert.deepEqual([...(await k.downloadInt32(l))], [0, 4, -1, 7, 0]);
      k.fill(l, 9, 3, 2);
      assert.deepEqual([...(await k.downloadInt32(l, 2))], [-1, 9, 9]);
      // the host array may change after upload without touching the tensor
      const host = new Float32Array([5, 6]);
      k.upload(t, host);
      host[0] = 100;
      assert.deepEqual([...(await k.download(t, 0, 2))], [5, 6]);
      k.free(t);
      k.free(l);
    });

    it('fill, copy, scale, addScalar, axpy, abs, applyMask, maxAbs on sub-ranges', async () => {
      const rand = seeded(11);
      const n = 37; // not a multiple of any vector width
      const xv = randomValues(n, rand);
      const yv = randomValues(n, rand);
      const x = tensorOf(k, xv);
      const y = tensorOf(k, yv);

      k.fill(x, 0.25, 3, 5);
      const expected = Float32Array.from(xv);
      expected.fill(0.25, 3, 8);
      assertClose(await k.download(x), expected, 0, 'fill');

      k.copy(x, y, 10, 2, 20);
      const ey = Float32Array.from(yv);
      ey.set(expected.subarray(2, 12), 20);
      assertClose(await k.download(y), ey, 0, 'copy');

      k.scale(y, -2, 6, 4);
      for (let i = 4; i < 10; i++) ey[i] *= -2;
      assertClose(await k.download(y), ey, 0, 'scale');

      k.addScalar(y, 1, 3, 30);
      for (let i = 30; i < 33; i++) ey[i] = Math.fround(ey[i] + 1);
      assertClose(await k.download(y), ey, 1e-7, 'addScalar');

      k.axpy(0.5, x, y, n);
      for (let i = 0; i < n; i++) ey[i] = Math.fround(ey[i] + Math.fround(0.5 * expected[i]));
      assertClose(await k.download(y), ey, 1e-6, 'axpy');

      k.abs(y, x, n - 1);
      const ex = Float32Array.from(ey, Math.abs);
      ex[n - 1] = expected[n - 1];
      assertClose(await k.download(x), ex, 1e-6, 'abs'); // float64 backends round differently

      const maskValues = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
      const mask = tensorOf(k, maskValues);
      k.upload(x, [NaN], 3); // masked: must become exactly 0
      k.applyMask(x, mask, n);
      const masked = await k.download(x);
      for (let i = 0; i < n; i++) {
        if (maskValues[i] === 0) assert.ok(Object.is(masked[i], 0), `applyMask: element ${i} is ${masked[i]}`);
        else assert.ok(Math.abs(masked[i] - ex[i]) <= 1e-6, `applyMask: element ${i} changed`);
      }

      const out = k.tensor(3);
      k.maxAbs(y, n, out, 1);
      k.maxAbs(y, 0, out, 2);
      k.upload(y, [-1000], 36);
      k.maxAbs(y, 30, out, 0, 4); // y[4 .. 34): the -1000 is outside
      let m = 0;
      for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(ey[i]));
      let m2 = 0;
      for (let i = 4; i < 34; i++) m2 = Math.max(m2, Math.abs(ey[i]));
      assertClose(await k.download(out), [m2, m, 0], 1e-7, 'maxAbs');
      k.upload(y, [NaN], 5);
      k.maxAbs(y, n, out, 0);
      assert.ok(Number.isNaN((await k.download(out, 0, 1))[0]), 'maxAbs propagates NaN');
      for (const t of [x, y, mask, out]) k.free(t);
    });

    it('sgemm on element offsets equals sgemm on the extracted matrices', async () => {
      const rand = seeded(5);
      const [M, N, K] = [13, 9, 17];
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const av = randomValues(M * K + 7, rand);
        const bv = randomValues(K * N + 3, rand);
        const cv = randomValues(M * N + 5, rand);
        const [A, B, C] = [tensorOf(k, av), tensorOf(k, bv), tensorOf(k, cv)];
        k.sgemm(tA, tB, M, N, K, 0.5, A, B, 1, C, 7, 3, 5);
        const [rA, rB, rC] = [tensorOf(ref, av.subarray(7)), tensorOf(ref, bv.subarray(3)), tensorOf(ref, cv.subarray(5))];
        ref.sgemm(tA, tB, M, N, K, 0.5, rA, rB, 1, rC);
        const got = await k.download(C);
        assertClose(got.subarray(5), await ref.download(rC), tol, `sgemm tA=${tA} tB=${tB}`);
        assertClose(got.subarray(0, 5), cv.subarray(0, 5), 0, 'sgemm leaves C before its offset alone');
        for (const t of [A, B, C]) k.free(t);
      }
    });

    it('im2col and col2im address one image of a batch by offset', async () => {
      const rand = seeded(9);
      const g: Conv2dGeometry = { n: 1, cIn: 3, h: 7, w: 6, cOut: 4, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 1, padW: 0 };
      const P = convOutputSize(g.h, g.kh, g.strideH, g.padH) * convOutputSize(g.w, g.kw, g.strideW, g.padW);
      const image = g.cIn * g.h * g.w;
      const xv = randomValues(3 * image, rand);
      const x = tensorOf(k, xv);
      const col = k.tensor(g.cIn * g.kh * g.kw * P);
      k.im2col(x, 2 * image, g, col);
      const rx = tensorOf(ref, xv.subarray(2 * image));
      const rcol = ref.tensor(col.length);
      ref.im2col(rx, 0, g, rcol);
      assertClose(await k.download(col), await ref.download(rcol), 0, 'im2col at an offset');

      const dx = tensorOf(k, xv);
      k.col2im(col, g, dx, image);
      const rdx = ref.tensor(image);
      ref.col2im(rcol, g, rdx, 0);
      const got = await k.download(dx);
      assertClose(got.subarray(image, 2 * image), await ref.download(rdx), tol, 'col2im at an offset');
      assertClose(got.subarray(0, image), xv.subarray(0, image), 0, 'col2im leaves the other images alone');
      assertClose(got.subarray(2 * image), xv.subarray(2 * image), 0, 'col2im leaves the other images alone');
      for (const t of [x, col, dx]) k.free(t);
    });

    it('softmax cross-entropy adds loss sums and correct counts into a stats slot', async () => {
      const rand = seeded(3);
      const [N, C] = [5, 7];
      const lv = randomValues(N * C, rand).map((v) => 4 * v);
      const labels = Int32Array.from([0, 6, 3, 3, 1]);
      // make rows 1 and 3 correct for sure
      lv[1 * C + 6] = 50;
      lv[3 * C + 3] = 50;
      const logits = tensorOf(k, lv);
      const lab = tensorOf(k, labels, 'i32');
      const dLogits = k.tensor(N * C);
      const stats = k.tensor(6);
      k.upload(stats, [7, 7, 1, 2, 7, 7]);
      k.softmaxCrossEntropy(logits, lab, N, C, dLogits, stats, 2);
      k.softmaxCrossEntropy(logits, lab, N, C, dLogits, stats, 2);
      k.softmaxCrossEntropy(logits, lab, N, C, dLogits, null);

      let loss = 0;
      let correct = 0;
      const eGrad = new Float64Array(N * C);
      for (let n = 0; n < N; n++) {
        const row = Array.from(lv.subarray(n * C, (n + 1) * C));
        const max = Math.max(...row);
        const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
        loss += Math.log(sum) - (row[labels[n]] - max);
        if (row.indexOf(max) === labels[n]) correct++;
        for (let c = 0; c < C; c++) eGrad[n * C + c] = (Math.exp(row[c] - max) / sum - (c === labels[n] ? 1 : 0)) / N;
      }
      assert.ok(correct >= 2);
      const s = await k.download(stats);
      assertClose(s, [7, 7, 1 + 2 * loss, 2 + 2 * correct, 7, 7], 1e-5, 'stats');
      assertClose(await k.download(dLogits), eGrad, tol, 'dLogits');
      for (const t of [logits, lab, dLogits, stats]) k.free(t);
    });

    it('batch norm eval backward matches the reference and finite differences of the eval forward', async () => {
      const rand = seeded(21);
      const [N, C, S, eps] = [3, 4, 5, 1e-5];
      const xv = randomValues(N * C * S, rand);
      const dyv = randomValues(N * C * S, rand);
      const gv = randomValues(C, rand);
      const mv = randomValues(C, rand);
      const vv = Float32Array.from(randomValues(C, rand), (v) => 0.5 + Math.abs(v));
      const run = async (b: Kernels): Promise<Float32Array[]> => {
        const [x, dy, gamma, mean, variance] = [xv, dyv, gv, mv, vv].map((v) => tensorOf(b, v));
        const [dx, dGamma, dBeta] = [b.tensor(N * C * S), b.tensor(C), b.tensor(C)];
        b.fill(dx, NaN);
        b.batchNormBackwardEval(x, dy, N, C, S, gamma, eps, mean, variance, dx, dGamma, dBeta);
        const out = [await b.download(dx), await b.download(dGamma), await b.download(dBeta)];
        for (const t of [x, dy, gamma, mean, variance, dx, dGamma, dBeta]) b.free(t);
        return out;
      };
      const [got, want] = [await run(k), await run(ref)];
      for (const [i, what] of ['dx', 'dGamma', 'dBeta'].entries()) assertClose(got[i], want[i], tol, what);

      // finite differences of L = Σ dy·y(x, gamma, beta) on the float64 reference
      const r64 = referenceKernels({ float64: true });
      const loss = (x: Float64Array, gamma: Float64Array, beta: Float64Array): number => {
        const [tx, tg, tb, tm, tv] = [x, gamma, beta, mv, vv].map((v) => tensorOf(r64, v));
        const y = r64.tensor(N * C * S);
        r64.batchNormForwardEval(tx, N, C, S, tg, tb, eps, tm, tv, y);
        const yv = r64.view(y);
        let sum = 0;
        for (let i = 0; i < yv.length; i++) sum += dyv[i] * yv[i];
        return sum;
      };
      const x0 = Float64Array.from(xv);
      const g0 = Float64Array.from(gv);
      const b0 = new Float64Array(C);
      const h = 1e-6;
      const numeric = (v: Float64Array, i: number): number => {
        const old = v[i];
        v[i] = old + h;
        const up = loss(x0, g0, b0);
        v[i] = old - h;
        const down = loss(x0, g0, b0);
        v[i] = old;
        return (up - down) / (2 * h);
      };
      for (const i of [0, 7, 31, N * C * S - 1]) assert.ok(Math.abs(numeric(x0, i) - want[0][i]) < 1e-4, `dx[${i}]`);
      for (let c = 0; c < C; c++) {
        assert.ok(Math.abs(numeric(g0, c) - want[1][c]) < 1e-4, `dGamma[${c}]`);
        assert.ok(Math.abs(numeric(b0, c) - want[2][c]) < 1e-4, `dBeta[${c}]`);
      }
    });

    it('relu counts only n elements of a longer tensor', async () => {
      const x = tensorOf(k, [-1, 2, -3, 4, -5, 6]);
      k.reluForward(x, x, 4);
      assert.deepEqual([...(await k.download(x))], [0, 2, 0, 4, -5, 6]);
      const dy = tensorOf(k, [1, 1, 1, 1, 1, 1]);
      k.reluBackward(x, dy, dy, 5);
      assert.deepEqual([...(await k.download(dy))], [0, 1, 0, 1, 0, 1]);
      k.free(x);
      k.free(dy);
    });
  });
}

type Init = Float32Array | Int32Array;

/**
 * Runs `op` on `k` and on the reference with tensors holding the same initial values, then
 * compares the tensors named in `check` (downloaded). Float outputs start as NaN unless given, so
 * an output a kernel must overwrite but does not shows up.
 */
async function sameAsReference(
  k: Kernels, ref: Kernels, init: Record<string, Init>, check: string[], tol: number, what: string,
  op: (b: Kernels, t: Record<string, Tensor>) => void,
): Promise<Record<string, Float32Array | Int32Array>> {
  const results: Array<Record<string, Float32Array | Int32Array>> = [];
  for (const b of [k, ref]) {
    const t: Record<string, Tensor> = {};
    for (const [name, values] of Object.entries(init)) t[name] = tensorOf(b, values, values instanceof Int32Array ? 'i32' : 'f32');
    op(b, t);
    const out: Record<string, Float32Array | Int32Array> = {};
    for (const name of check) out[name] = t[name].dtype === 'i32' ? await b.downloadInt32(t[name]) : await b.download(t[name]);
    for (const x of Object.values(t)) b.free(x);
    results.push(out);
  }
  for (const name of check) {
    const [got, want] = [results[0][name], results[1][name]];
    if (want instanceof Int32Array) assert.deepEqual([...got], [...want], `${what}: ${name}`);
    else assertClose(got, want, tol, `${what}: ${name}`);
  }
  return results[0];
}

const nan = (n: number): Float32Array => new Float32Array(n).fill(NaN);

/**
 * Every kernel of the contract on `make()`'s backend against the reference backend, on small odd
 * shapes, through upload and download only (so it runs on a GPU backend as it is).
 */
export function kernelsAgainstReference(label: string, make: () => Promise<Kernels>, tol = 2e-5): void {
  describe(`every kernel against the reference: ${label}`, () => {
    let k: Kernels;
    const ref = referenceKernels();
    before(async () => {
      k = await make();
    });
    after(async () => {
      await k.close();
    });

    it('sgemm: odd shapes, all transpose variants, alpha and beta (beta = 0 ignores NaN in C)', async () => {
      const rand = seeded(101);
      for (const [M, N, K] of [[1, 1, 1], [7, 5, 3], [13, 17, 9], [33, 70, 60], [4, 9, 130]]) {
        for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          for (const [alpha, beta] of [[1, 0], [-0.5, 1.5]]) {
            const C = beta === 0 ? nan(M * N) : randomValues(M * N, rand);
            await sameAsReference(k, ref, { A: randomValues(M * K, rand), B: randomValues(K * N, rand), C }, ['C'], tol,
              `sgemm ${M}x${N}x${K} tA=${tA} tB=${tB} alpha=${alpha} beta=${beta}`,
              (b, t) => b.sgemm(tA, tB, M, N, K, alpha, t.A, t.B, beta, t.C));
          }
        }
      }
    });

    it('masked weights: forward (with and without bias), both backward products, exact zeros under the mask', async () => {
      const rand = seeded(102);
      for (const [rows, cols, N, density] of [[5, 7, 3, 0.5], [1, 1, 1, 1], [12, 33, 4, 0.1], [30, 20, 9, 1]]) {
        const mask = Float32Array.from({ length: rows * cols }, () => (rand() < density ? 1 : 0));
        const W = randomValues(rows * cols, rand).map((v, i) => v * mask[i]);
        const init = { W, mask, bias: randomValues(rows, rand), X: randomValues(N * cols, rand), dY: randomValues(N * rows, rand),
          Y: nan(N * rows), Y0: nan(N * rows), dX: nan(N * cols), dW: nan(rows * cols) };
        const out = await sameAsReference(k, ref, init, ['Y', 'Y0', 'dX', 'dW'], tol, `masked ${rows}x${cols} N=${N} density=${density}`, (b, t) => {
          const mw = b.createMaskedWeight(t.W, t.mask, rows, cols);
          b.maskedForward(mw, t.X, N, t.bias, t.Y);
          b.maskedForward(mw, t.X, N, null, t.Y0);
          b.maskedBackwardInput(mw, t.dY, N, t.dX);
          b.maskedBackwardWeight(mw, t.dY, t.X, N, t.dW);
          mw.dispose();
        });
        mask.forEach((m, i) => { if (m === 0) assert.ok(Object.is(out.dW[i], 0), `dW[${i}] under the mask is ${out.dW[i]}`); });
      }
    });

    it('masked weights: refreshValues picks up weights changed on the device', async () => {
      const rand = seeded(103);
      const [rows, cols, N] = [6, 9, 2];
      const mask = Float32Array.from({ length: rows * cols }, (_, i) => (i % 3 === 0 ? 0 : 1));
      await sameAsReference(k, ref, { W: randomValues(rows * cols, rand).map((v, i) => v * mask[i]), mask, X: randomValues(N * cols, rand), Y: nan(N * rows) },
        ['Y'], tol, 'refreshValues', (b, t) => {
          const mw = b.createMaskedWeight(t.W, t.mask, rows, cols);
          b.scale(t.W, -3, rows * cols);
          mw.refreshValues();
          b.maskedForward(mw, t.X, N, null, t.Y);
          mw.dispose();
        });
    });

    const convs: Conv2dGeometry[] = [
      { n: 2, cIn: 3, h: 7, w: 6, cOut: 4, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
      { n: 3, cIn: 2, h: 9, w: 8, cOut: 5, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 0, padW: 1 },
      { n: 1, cIn: 1, h: 5, w: 5, cOut: 2, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0 },
      { n: 5, cIn: 4, h: 4, w: 4, cOut: 3, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
    ];

    it('conv2d forward and backward (masked weight, with and without bias and dx)', async () => {
      const rand = seeded(104);
      for (const [gi, g] of convs.entries()) {
        const K = g.cIn * g.kh * g.kw;
        const P = convOutputSize(g.h, g.kh, g.strideH, g.padH) * convOutputSize(g.w, g.kw, g.strideW, g.padW);
        const mask = Float32Array.from({ length: g.cOut * K }, () => (rand() < 0.7 ? 1 : 0));
        const init = {
          W: randomValues(g.cOut * K, rand).map((v, i) => v * mask[i]), mask, bias: randomValues(g.cOut, rand),
          x: randomValues(g.n * g.cIn * g.h * g.w, rand), dy: randomValues(g.n * g.cOut * P, rand),
          y: nan(g.n * g.cOut * P), y0: nan(g.n * g.cOut * P), dW: nan(g.cOut * K), dB: nan(g.cOut), dx: nan(g.n * g.cIn * g.h * g.w), dW2: nan(g.cOut * K),
        };
        const out = await sameAsReference(k, ref, init, ['y', 'y0', 'dW', 'dB', 'dx', 'dW2'], tol, `conv geometry ${gi}`, (b, t) => {
          const mw = b.createMaskedWeight(t.W, t.mask, g.cOut, K);
          const ws = b.tensor(Math.max(1, b.conv2dWorkspaceSize(g)));
          b.conv2dForward(mw, t.x, t.bias, g, t.y, ws);
          b.conv2dForward(mw, t.x, null, g, t.y0, ws);
          b.conv2dBackward(mw, t.x, t.dy, g, t.dW, t.dB, t.dx, ws);
          b.conv2dBackward(mw, t.x, t.dy, g, t.dW2, null, null, ws);
          b.free(ws);
          mw.dispose();
        });
        mask.forEach((m, i) => { if (m === 0) assert.ok(Object.is(out.dW[i], 0), `dW[${i}] under the mask is ${out.dW[i]}`); });
      }
    });

    it('max and average pooling, forward and backward (padding, overlapping windows)', async () => {
      const rand = seeded(105);
      const pools: Conv2dGeometry[] = [
        { n: 2, cIn: 3, h: 6, w: 5, cOut: 3, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 },
        { n: 1, cIn: 2, h: 5, w: 7, cOut: 2, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
        { n: 3, cIn: 1, h: 4, w: 4, cOut: 1, kh: 3, kw: 2, strideH: 1, strideW: 1, padH: 0, padW: 1 },
      ];
      for (const [gi, g] of pools.entries()) {
        const P = convOutputSize(g.h, g.kh, g.strideH, g.padH) * convOutputSize(g.w, g.kw, g.strideW, g.padW);
        const outN = g.n * g.cIn * P;
        const inN = g.n * g.cIn * g.h * g.w;
        await sameAsReference(k, ref, {
          x: randomValues(inN, rand), dy: randomValues(outN, rand), y: nan(outN), argmax: new Int32Array(outN).fill(-7), dx: nan(inN), ya: nan(outN), dxa: nan(inN),
        }, ['y', 'argmax', 'dx', 'ya', 'dxa'], tol, `pool geometry ${gi}`, (b, t) => {
          b.maxPool2dForward(t.x, g, t.y, t.argmax);
          b.maxPool2dBackward(t.dy, t.argmax, g, t.dx);
          b.avgPool2dForward(t.x, g, t.ya);
          b.avgPool2dBackward(t.dy, g, t.dxa);
        });
      }
    });

    it('relu, bias add and bias gradient', async () => {
      const rand = seeded(106);
      const [N, C, S] = [3, 5, 7];
      const x = randomValues(N * C * S, rand);
      await sameAsReference(k, ref, { x, y: nan(N * C * S), dy: randomValues(N * C * S, rand), dx: nan(N * C * S), bias: randomValues(C, rand), yb: x, dB: nan(C) },
        ['y', 'dx', 'yb', 'dB'], tol, 'elementwise', (b, t) => {
          b.reluForward(t.x, t.y, N * C * S);
          b.reluBackward(t.y, t.dy, t.dx, N * C * S);
          b.addBias(t.yb, t.bias, N, C, S);
          b.biasBackward(t.dy, N, C, S, t.dB);
        });
    });

    it('batch norm: train forward (running statistics), eval forward, train backward', async () => {
      const rand = seeded(107);
      for (const [N, C, S] of [[4, 3, 5], [2, 6, 1], [1, 2, 9]]) {
        const n = N * C * S;
        await sameAsReference(k, ref, {
          x: randomValues(n, rand).map((v) => 3 * v + 1), dy: randomValues(n, rand), gamma: randomValues(C, rand), beta: randomValues(C, rand),
          rm: randomValues(C, rand), rv: Float32Array.from(randomValues(C, rand), (v) => 0.5 + Math.abs(v)),
          y: nan(n), sm: nan(C), si: nan(C), ye: nan(n), dx: nan(n), dG: nan(C), dBeta: nan(C),
        }, ['y', 'sm', 'si', 'rm', 'rv', 'ye', 'dx', 'dG', 'dBeta'], 1e-4, `batch norm N=${N} C=${C} S=${S}`, (b, t) => {
          b.batchNormForwardEval(t.x, N, C, S, t.gamma, t.beta, 1e-5, t.rm, t.rv, t.ye);
          b.batchNormForwardTrain(t.x, N, C, S, t.gamma, t.beta, 1e-5, 0.1, t.rm, t.rv, t.y, t.sm, t.si);
          b.batchNormBackward(t.x, t.dy, N, C, S, t.gamma, t.sm, t.si, t.dx, t.dG, t.dBeta);
        });
      }
    });

    it('Adam and SGD (momentum, Nesterov, dampening, decay), masked, over three steps', async () => {
      const rand = seeded(108);
      const n = 1001;
      const mask = Float32Array.from({ length: n }, () => (rand() < 0.6 ? 1 : 0));
      const p0 = randomValues(n, rand).map((v, i) => v * mask[i]);
      const grads = [0, 1, 2].map(() => randomValues(n, rand));
      await sameAsReference(k, ref, { p: p0, q: p0, r: randomValues(n, rand), g0: grads[0], g1: grads[1], g2: grads[2], mask, m: new Float32Array(n), v: new Float32Array(n), vel: new Float32Array(n), vel2: new Float32Array(n) },
        ['p', 'm', 'v', 'q', 'vel', 'r', 'vel2'], 1e-5, 'optimisers', (b, t) => {
          for (const [s, g] of [t.g0, t.g1, t.g2].entries()) {
            b.adamStep(t.p, g, t.m, t.v, t.mask, 0.01, 0.9, 0.999, 1e-8, 1e-3, s + 1);
            b.sgdStep(t.q, g, t.vel, t.mask, 0.05, 0.9, true, 5e-4, 0.1, s + 1);
            b.sgdStep(t.r, g, t.vel2, null, 0.05, 0.8, false, 0, 0, s + 1);
          }
        });
    });
  });
}
