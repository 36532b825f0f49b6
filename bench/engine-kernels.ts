/**
 * Suite `engine`, kernel figures of the wasm backend:
 * - sgemm_<M>x<K>x<N>[_<variant>]_<threads>t (GFLOPS): C[M,N] = A[M,K]·B[K,N]; 60x784x300 is the
 *   lenet fc1 forward (the `_nt` variant multiplies by Bᵀ as Linear.forward does), 784x60x300 with
 *   A transposed is the fc1 weight-gradient shape (784x300 with K = 60), plus 512^3;
 * - conv3x3_64to64_32x32_b60_{fwd,bwd}_<threads>t (GFLOPS): a conv4/VGG-like layer, im2col + GEMM;
 * - masked_fwd_d<percent>_<threads>t (GFLOPS of useful work, 2·N·nnz): lenet fc1 (300x784, batch
 *   60) at densities 100/20/5/1%, on the path the engine picks;
 * - sparse_crossover_linear / sparse_crossover_conv (density): where the sparse path (forward +
 *   both backward products) becomes faster than the dense one, measured on one thread.
 * Each figure is the median of several timed blocks; the machine is shared, so expect noise.
 */
import { createKernels } from '../src/engine/index.js';
import type { Conv2dGeometry, Kernels, Tensor } from '../src/engine/kernels.js';
import { timeMedianMs, type BenchContext } from './harness.js';

function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function upload(k: Kernels, data: Float32Array): Tensor {
  const t = k.tensor(data.length);
  k.upload(t, data);
  return t;
}

/** A tensor of n pseudo-random values in [-0.5, 0.5). */
function fill(k: Kernels, n: number, seed: number): Tensor {
  return upload(k, values(n, seed));
}

function maskValues(n: number, density: number, seed: number): Float32Array {
  return values(n, seed).map((v) => (v + 0.5 < density ? 1 : 0));
}

/** A 0/1 mask tensor and a weight tensor that is 0 where the mask is. */
function maskedPair(k: Kernels, n: number, density: number, maskSeed: number, weightSeed: number): [Tensor, Tensor] {
  const m = maskValues(n, density, maskSeed);
  const w = values(n, weightSeed).map((v, i) => v * m[i]);
  return [upload(k, m), upload(k, w)];
}

/** Median milliseconds of one call of fn, timing blocks of calls worth about `budgetMs`. */
function timeCall(fn: () => void, quick: boolean, budgetMs = 40): number {
  fn();
  const t0 = performance.now();
  fn();
  const once = Math.max(1e-3, performance.now() - t0);
  const calls = Math.max(1, Math.round(budgetMs / once));
  const ms = timeMedianMs(() => {
    for (let i = 0; i < calls; i++) fn();
  }, quick ? 3 : 7, 1);
  return ms / calls;
}

function sgemmFigures(ctx: BenchContext, k: Kernels): void {
  const shapes: Array<[string, number, number, number, boolean, boolean]> = [
    ['sgemm_60x784x300', 60, 784, 300, false, false],
    ['sgemm_60x784x300_nt', 60, 784, 300, false, true],
    ['sgemm_784x60x300_tn', 784, 60, 300, true, false],
    ['sgemm_512x512x512', 512, 512, 512, false, false],
  ];
  for (const [name, M, K, N, tA, tB] of shapes) {
    const A = fill(k, M * K, 1);
    const B = fill(k, K * N, 2);
    const C = k.tensor(M * N);
    const ms = timeCall(() => k.sgemm(tA, tB, M, N, K, 1, A, B, 0, C), ctx.quick);
    ctx.report(`${name}_${k.threads}t`, (2 * M * N * K) / (ms * 1e6), 'GFLOPS');
    for (const a of [A, B, C]) k.free(a);
  }
}

function convFigures(ctx: BenchContext, k: Kernels): void {
  const g: Conv2dGeometry = { n: 60, cIn: 64, h: 32, w: 32, cOut: 64, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 };
  const K = g.cIn * 9;
  const P = g.h * g.w;
  const W = fill(k, g.cOut * K, 3);
  const ones = k.tensor(g.cOut * K);
  k.fill(ones, 1);
  const mw = k.createMaskedWeight(W, ones, g.cOut, K);
  const x = fill(k, g.n * g.cIn * P, 4);
  const y = k.tensor(g.n * g.cOut * P);
  const dx = k.tensor(g.n * g.cIn * P);
  const dW = k.tensor(g.cOut * K);
  const bias = k.tensor(g.cOut);
  const dB = k.tensor(g.cOut);
  const ws = k.tensor(k.conv2dWorkspaceSize(g));
  const flops = 2 * g.n * g.cOut * K * P;
  const fwd = timeCall(() => k.conv2dForward(mw, x, bias, g, y, ws), ctx.quick, 200);
  ctx.report(`conv3x3_64to64_32x32_b60_fwd_${k.threads}t`, flops / (fwd * 1e6), 'GFLOPS', 'im2col + GEMM');
  const bwd = timeCall(() => k.conv2dBackward(mw, x, y, g, dW, dB, dx, ws), ctx.quick, 200);
  ctx.report(`conv3x3_64to64_32x32_b60_bwd_${k.threads}t`, (2 * flops) / (bwd * 1e6), 'GFLOPS', 'dW and dx');
  mw.dispose();
  for (const a of [W, ones, x, y, dx, dW, bias, dB, ws]) k.free(a);
}

function maskedForwardFigures(ctx: BenchContext, k: Kernels): void {
  const [rows, cols, N] = [300, 784, 60];
  const X = fill(k, N * cols, 5);
  const Y = k.tensor(N * rows);
  for (const density of [1, 0.2, 0.05, 0.01]) {
    const [m, W] = maskedPair(k, rows * cols, density, 6, 7);
    const mw = k.createMaskedWeight(W, m, rows, cols);
    const nnz = Math.round(mw.density * rows * cols);
    const ms = timeCall(() => k.maskedForward(mw, X, N, null, Y), ctx.quick);
    ctx.report(`masked_fwd_d${Math.round(density * 100)}_${k.threads}t`, (2 * N * nnz) / (ms * 1e6), 'GFLOPS',
      `${mw.sparse ? 'sparse' : 'dense'} path, ${(ms * 1000).toFixed(0)} us`);
    mw.dispose();
    for (const a of [m, W]) k.free(a);
  }
  for (const a of [X, Y]) k.free(a);
}

/**
 * Times forward + both backward products of one masked weight on the dense and the sparse path at
 * decreasing densities; returns the highest density at which sparse is faster.
 */
async function crossover(ctx: BenchContext, kind: 'linear' | 'conv'): Promise<number> {
  const dense = await createKernels({ threads: 1, sparseBelowDensity: 0 });
  const sparse = await createKernels({ threads: 1, sparseBelowDensity: 2 });
  const densities = [0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
  let found = 0;
  try {
    for (const density of densities) {
      const times: number[] = [];
      for (const k of [dense, sparse]) {
        if (kind === 'linear') {
          const [rows, cols, N] = [300, 784, 60];
          const [m, W] = maskedPair(k, rows * cols, density, 8, 9);
          const mw = k.createMaskedWeight(W, m, rows, cols);
          const [X, dY, Y, dX, dW] = [fill(k, N * cols, 1), fill(k, N * rows, 2), k.tensor(N * rows), k.tensor(N * cols), k.tensor(rows * cols)];
          times.push(timeCall(() => {
            k.maskedForward(mw, X, N, null, Y);
            k.maskedBackwardInput(mw, dY, N, dX);
            k.maskedBackwardWeight(mw, dY, X, N, dW);
          }, ctx.quick, 30));
          mw.dispose();
        } else {
          const g: Conv2dGeometry = { n: 8, cIn: 64, h: 16, w: 16, cOut: 128, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 };
          const K = g.cIn * 9;
          const P = g.h * g.w;
          const [m, W] = maskedPair(k, g.cOut * K, density, 8, 9);
          const mw = k.createMaskedWeight(W, m, g.cOut, K);
          const [x, dy, y, dx, dW, ws] = [fill(k, g.n * g.cIn * P, 1), fill(k, g.n * g.cOut * P, 2), k.tensor(g.n * g.cOut * P), k.tensor(g.n * g.cIn * P), k.tensor(g.cOut * K), k.tensor(k.conv2dWorkspaceSize(g))];
          times.push(timeCall(() => {
            k.conv2dForward(mw, x, null, g, y, ws);
            k.conv2dBackward(mw, x, dy, g, dW, null, dx, ws);
          }, ctx.quick, 60));
          mw.dispose();
        }
      }
      ctx.log(`  ${kind} density ${density}: dense ${times[0].toFixed(3)} ms, sparse ${times[1].toFixed(3)} ms (fwd + bwd, 1 thread)`);
      if (times[1] < times[0] && found === 0) found = density;
    }
  } finally {
    await dense.close();
    await sparse.close();
  }
  return found;
}

export async function run(ctx: BenchContext): Promise<void> {
  const all = await createKernels(); // default: every core
  const cores = all.threads;
  await all.close();
  for (const threads of [...new Set([1, cores])]) {
    const k = await createKernels({ threads });
    try {
      ctx.log(`wasm kernels, ${threads} thread(s)`);
      sgemmFigures(ctx, k);
      convFigures(ctx, k);
      maskedForwardFigures(ctx, k);
    } finally {
      await k.close();
    }
  }
  ctx.report('sparse_crossover_linear', await crossover(ctx, 'linear'), 'density', '300x784, batch 60: sparse faster at and below this density');
  ctx.report('sparse_crossover_conv', await crossover(ctx, 'conv'), 'density', '3x3 64->128 on 16x16, batch 8: sparse faster at and below this density');
}
