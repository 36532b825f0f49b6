/**
 * The reference backend is the specification, so it is checked independently: every backward
 * kernel against central finite differences of its forward kernel in float64, and the optimisers
 * against values worked out by hand from the PyTorch update rules.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../../src/engine/reference.js';
import { convOutputSize, type Conv2dGeometry } from '../../src/engine/kernels.js';
import { hostKernels } from './host-kernels.js';
import { seeded } from './helpers.js';

const k = hostKernels(referenceKernels());

function random(n: number, rand: () => number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * rand() - 1;
  return a;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Checks analytic = d/dθ Σ(probe ⊙ f(θ)) at every element of θ by central differences.
 * `loss` evaluates Σ probe ⊙ f(θ) for the current θ (mutated in place).
 */
function checkGradient(
  theta: Float64Array, analytic: ArrayLike<number>, loss: () => number, what: string, only: (i: number) => boolean = () => true,
): void {
  const h = 1e-6;
  for (let i = 0; i < theta.length; i++) {
    if (!only(i)) continue;
    const saved = theta[i];
    theta[i] = saved + h;
    const up = loss();
    theta[i] = saved - h;
    const down = loss();
    theta[i] = saved;
    const numeric = (up - down) / (2 * h);
    assert.ok(Math.abs(numeric - analytic[i]) <= 1e-6 * Math.max(1, Math.abs(numeric)), `${what}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`);
  }
}

describe('reference kernels: gradients by finite differences (float64)', () => {
  it('sgemm in all transpose variants equals the defining sum', () => {
    const rand = seeded(1);
    const [M, N, K] = [3, 4, 5];
    const A = random(M * K, rand);
    const B = random(K * N, rand);
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const C = new Float64Array(M * N);
        k.sgemm(transA, transB, M, N, K, 2, A, B, 0, C);
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let p = 0; p < K; p++) s += (transA ? A[p * M + i] : A[i * K + p]) * (transB ? B[j * K + p] : B[p * N + j]);
            assert.ok(Math.abs(C[i * N + j] - 2 * s) < 1e-12);
          }
        }
      }
    }
  });

  it('masked linear: dX and dW (masked) are the gradients of the forward pass', () => {
    const rand = seeded(2);
    const [rows, cols, N] = [4, 5, 3];
    const mask = new Float64Array(rows * cols).map(() => (rand() < 0.6 ? 1 : 0));
    const W = random(rows * cols, rand).map((v, i) => v * mask[i]);
    const bias = random(rows, rand);
    const X = random(N * cols, rand);
    const probe = random(N * rows, rand);
    const mw = k.createMaskedWeight(W, mask, rows, cols);
    const Y = new Float64Array(N * rows);
    const loss = () => {
      k.maskedForward(mw, X, N, bias, Y);
      return dot(probe, Y);
    };
    const dX = new Float64Array(N * cols);
    const dW = new Float64Array(rows * cols);
    k.maskedBackwardInput(mw, probe, N, dX);
    k.maskedBackwardWeight(mw, probe, X, N, dW);
    checkGradient(X, dX, loss, 'dX');
    // pruned weights are not parameters: only kept positions have a gradient, the rest is exactly 0
    checkGradient(W, dW, loss, 'dW', (i) => mask[i] !== 0);
    for (let i = 0; i < dW.length; i++) if (!mask[i]) assert.equal(dW[i], 0);
  });

  const geometries: Conv2dGeometry[] = [
    { n: 2, cIn: 2, h: 5, w: 4, cOut: 3, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 },
    { n: 1, cIn: 1, h: 7, w: 6, cOut: 2, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 1, padW: 0 },
  ];
  for (const g of geometries) {
    it(`conv2d ${g.kh}x${g.kw} stride ${g.strideH},${g.strideW}: dW, dBias, dx`, () => {
      const rand = seeded(3 + g.kw);
      const K = g.cIn * g.kh * g.kw;
      const P = convOutputSize(g.h, g.kh, g.strideH, g.padH) * convOutputSize(g.w, g.kw, g.strideW, g.padW);
      const mask = new Float64Array(g.cOut * K).fill(1);
      const W = random(g.cOut * K, rand);
      const bias = random(g.cOut, rand);
      const x = random(g.n * g.cIn * g.h * g.w, rand);
      const probe = random(g.n * g.cOut * P, rand);
      const mw = k.createMaskedWeight(W, mask, g.cOut, K);
      const ws = new Float64Array(k.conv2dWorkspaceSize(g));
      const y = new Float64Array(g.n * g.cOut * P);
      const loss = () => {
        k.conv2dForward(mw, x, bias, g, y, ws);
        return dot(probe, y);
      };
      const dW = new Float64Array(g.cOut * K);
      const dB = new Float64Array(g.cOut);
      const dx = new Float64Array(x.length);
      k.conv2dBackward(mw, x, probe, g, dW, dB, dx, ws);
      checkGradient(W, dW, loss, 'dW');
      checkGradient(bias, dB, loss, 'dBias');
      checkGradient(x, dx, loss, 'dx');
    });
  }

  it('max and average pooling (with padding)', () => {
    const rand = seeded(4);
    const g: Conv2dGeometry = { n: 1, cIn: 2, h: 5, w: 5, cOut: 2, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 };
    const outLen = 2 * 3 * 3;
    const x = random(2 * 25, rand);
    const probe = random(outLen, rand);
    const y = new Float64Array(outLen);
    const arg = new Int32Array(outLen);
    const dx = new Float64Array(x.length);
    k.maxPool2dForward(x, g, y, arg);
    k.maxPool2dBackward(probe, arg, g, dx);
    checkGradient(x, dx, () => {
      k.maxPool2dForward(x, g, y, arg);
      return dot(probe, y);
    }, 'max dx');
    k.avgPool2dBackward(probe, g, dx);
    checkGradient(x, dx, () => {
      k.avgPool2dForward(x, g, y);
      return dot(probe, y);
    }, 'avg dx');
    // count_include_pad: a corner window of a constant image averages in the zero padding
    const ones = new Float64Array(x.length).fill(1);
    k.avgPool2dForward(ones, g, y);
    assert.ok(Math.abs(y[0] - 4 / 9) < 1e-12);
  });

  it('softmax cross-entropy: dLogits is the gradient of the mean loss', () => {
    const rand = seeded(5);
    const [N, C] = [3, 4];
    const logits = random(N * C, rand);
    const labels = Int32Array.from([0, 3, 1]);
    const d = new Float64Array(N * C);
    k.softmaxCrossEntropy(logits, labels, N, C, d);
    checkGradient(logits, d, () => k.softmaxCrossEntropy(logits, labels, N, C, new Float64Array(N * C)).loss, 'dLogits');
  });

  it('batch norm (training mode): dx, dGamma, dBeta', () => {
    const rand = seeded(6);
    const [N, C, S] = [3, 2, 4];
    const x = random(N * C * S, rand);
    const gamma = random(C, rand);
    const beta = random(C, rand);
    const probe = random(N * C * S, rand);
    const y = new Float64Array(x.length);
    const [sm, si] = [new Float64Array(C), new Float64Array(C)];
    const loss = () => {
      k.batchNormForwardTrain(x, N, C, S, gamma, beta, 1e-5, 0.1, new Float64Array(C), new Float64Array(C), y, sm, si);
      return dot(probe, y);
    };
    loss();
    const dx = new Float64Array(x.length);
    const [dg, db] = [new Float64Array(C), new Float64Array(C)];
    k.batchNormBackward(x, probe, N, C, S, gamma, sm, si, dx, dg, db);
    checkGradient(x, dx, loss, 'dx');
    checkGradient(gamma, dg, loss, 'dGamma');
    checkGradient(beta, db, loss, 'dBeta');
  });

  it('batch norm running statistics: biased variance normalises, unbiased variance is tracked', () => {
    const x = Float64Array.from([1, 2, 3, 6]); // N=4, C=1, S=1: mean 3, biased var 3.5, unbiased 14/3
    const rm = Float64Array.from([0]);
    const rv = Float64Array.from([1]);
    const y = new Float64Array(4);
    k.batchNormForwardTrain(x, 4, 1, 1, Float64Array.from([1]), Float64Array.from([0]), 0, 0.1, rm, rv, y, new Float64Array(1), new Float64Array(1));
    assert.ok(Math.abs(y[3] - 3 / Math.sqrt(3.5)) < 1e-12);
    assert.ok(Math.abs(rm[0] - 0.3) < 1e-12);
    assert.ok(Math.abs(rv[0] - (0.9 + 0.1 * 14 / 3)) < 1e-12);
  });
});

describe('reference optimisers follow the PyTorch update rules', () => {
  it('Adam: two steps worked out by hand, L2 decay in the gradient, masked element frozen at 0', () => {
    const p = Float64Array.from([1, 0.5]);
    const m = new Float64Array(2);
    const v = new Float64Array(2);
    const mask = Float64Array.from([1, 0]);
    const [lr, b1, b2, eps, wd] = [0.1, 0.9, 0.999, 1e-8, 0.01];
    let ep = 1;
    let em = 0;
    let ev = 0;
    for (const [step, grad] of [[1, 0.2], [2, -0.4]]) {
      k.adamStep(p, Float64Array.from([grad, 3]), m, v, mask, lr, b1, b2, eps, wd, step);
      const g = grad + wd * ep;
      em = b1 * em + (1 - b1) * g;
      ev = b2 * ev + (1 - b2) * g * g;
      ep -= (lr / (1 - b1 ** step)) * em / (Math.sqrt(ev) / Math.sqrt(1 - b2 ** step) + eps);
    }
    assert.ok(Math.abs(p[0] - ep) < 1e-12 && Math.abs(m[0] - em) < 1e-15 && Math.abs(v[0] - ev) < 1e-15);
    assert.deepEqual([p[1], m[1], v[1]], [0, 0, 0]);
    // first step of Adam moves by about lr whatever the gradient's scale
    const q = Float64Array.from([0]);
    k.adamStep(q, Float64Array.from([1e-3]), new Float64Array(1), new Float64Array(1), null, 0.1, 0.9, 0.999, 1e-8, 0, 1);
    assert.ok(Math.abs(q[0] + 0.1) < 1e-6);
  });

  it('SGD: first momentum buffer is the gradient (dampening ignored), then dampened; Nesterov', () => {
    const p = Float64Array.from([1]);
    const buf = new Float64Array(1);
    k.sgdStep(p, Float64Array.from([2]), buf, null, 0.1, 0.9, false, 0, 0.5, 1);
    assert.equal(buf[0], 2); // not (1 - 0.5) * 2
    assert.ok(Math.abs(p[0] - 0.8) < 1e-15);
    k.sgdStep(p, Float64Array.from([1]), buf, null, 0.1, 0.9, false, 0, 0.5, 2);
    assert.ok(Math.abs(buf[0] - (0.9 * 2 + 0.5 * 1)) < 1e-15);
    assert.ok(Math.abs(p[0] - (0.8 - 0.1 * 2.3)) < 1e-15);
    const q = Float64Array.from([1]);
    const qb = new Float64Array(1);
    k.sgdStep(q, Float64Array.from([1]), qb, Float64Array.from([1]), 0.1, 0.9, true, 0.5, 0, 1);
    // d = 1 + 0.5*1 = 1.5; buf = 1.5; nesterov d = 1.5 + 0.9*1.5 = 2.85
    assert.ok(Math.abs(q[0] - (1 - 0.285)) < 1e-15);
    const r = Float64Array.from([1]);
    const rb = Float64Array.from([5]);
    k.sgdStep(r, Float64Array.from([1]), rb, Float64Array.from([0]), 0.1, 0.9, true, 0, 0, 3);
    assert.deepEqual([r[0], rb[0]], [0, 0]);
  });
});
