/**
 * `npm run bench -- spectral [--json] [--quick]`: the Ramanujan analysis of every prunable layer
 * of vgg19 (CIFAR variant: 16 convolutions and the 512 -> 10 classifier, about 20M weights),
 * unweighted and weighted, at densities 100%, 20%, 5% and 1%.
 *
 * Weights are Kaiming-normal-like (Box-Muller on a seeded generator) and masks are random at the
 * given density, built here for the right shapes (no model zoo needed). Figures: the time of
 * analyzeLayer (both weightings, components and degrees included) per layer shape and density
 * (median of 3, 1 with --quick), the single-thread total per density (each shape's time times its
 * number of layers) and the grand total, in wall time and in process CPU time (the latter is not
 * inflated when other processes share the cores); then the wall time of a warmed-up worker pool
 * (createAnalysisPool) analysing all 17 layers side by side on all cores, per density and in total.
 * The totals say whether the WebAssembly kernels (dist/wasm/spectral.wasm, src/graph/wasm.ts) were
 * used or the plain TypeScript fallback (the wasm file not built).
 */
import { availableParallelism } from 'node:os';
import type { BenchContext } from './harness.js';
import { analyzeLayer, type LayerInput } from '../src/graph/index.js';
import { createAnalysisPool } from '../src/graph/parallel.js';
import { wasmKernelsAvailable } from '../src/graph/wasm.js';

/** vgg19 (CIFAR) weight shapes with the number of layers of each shape. */
export const VGG19_SHAPES: Array<{ shape: number[]; count: number }> = [
  { shape: [64, 3, 3, 3], count: 1 },
  { shape: [64, 64, 3, 3], count: 1 },
  { shape: [128, 64, 3, 3], count: 1 },
  { shape: [128, 128, 3, 3], count: 1 },
  { shape: [256, 128, 3, 3], count: 1 },
  { shape: [256, 256, 3, 3], count: 3 },
  { shape: [512, 256, 3, 3], count: 1 },
  { shape: [512, 512, 3, 3], count: 7 },
  { shape: [10, 512], count: 1 },
];

const DENSITIES = [1, 0.2, 0.05, 0.01];

/**
 * The counter hash of test/graph/reference.ts (MurmurHash3's finaliser), so that
 * `scripts/scipy_spectra.py --bench` builds the same matrices for SciPy's svds.
 */
function hash32(seed: number, i: number): number {
  let x = (Math.imul(i >>> 0, 0x9e3779b1) + Math.imul(seed >>> 0, 0x85ebca77)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Entry k: weight = std * sqrt(-2 ln u1) cos(2 pi u2) with u = (hash + 0.5) / 2^32 of counters
 * 3k and 3k+1 (Kaiming-normal, std = sqrt(2 / fan_in)); kept when hash(3k+2) < density * 2^32.
 */
export function syntheticLayer(shape: number[], density: number, seed: number): { weight: Float32Array; mask: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const std = Math.sqrt(2 / (n / shape[0]));
  const threshold = Math.round(density * 2 ** 32);
  // shared memory: worker threads read the layers without copies
  const weight = new Float32Array(new SharedArrayBuffer(4 * n));
  const mask = new Float32Array(new SharedArrayBuffer(4 * n));
  for (let k = 0; k < n; k++) {
    const u1 = (hash32(seed, 3 * k) + 0.5) / 2 ** 32;
    const u2 = (hash32(seed, 3 * k + 1) + 0.5) / 2 ** 32;
    weight[k] = std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    mask[k] = hash32(seed, 3 * k + 2) < threshold ? 1 : 0;
  }
  return { weight, mask };
}

function layerInput(shape: number[], density: number): LayerInput {
  // seed: the shape's sum, as in scripts/scipy_spectra.py --bench
  const layer = syntheticLayer(shape, density, shape.reduce((a, b) => a + b, 0));
  return { name: shape.join('x'), kind: shape.length === 4 ? 'conv' : 'linear', shape, weight: layer.weight, mask: layer.mask };
}

function label(shape: number[], density: number): string {
  const size = shape.length === 4 ? `${shape[0]}x${shape[1] * shape[2] * shape[3]}` : `${shape[0]}x${shape[1]}`;
  return `${size}_d${Math.round(density * 1000) / 10}`;
}

/** CPU time of this process in ms (user + system): unlike wall time, not inflated by other processes on a shared machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export async function run(ctx: BenchContext): Promise<void> {
  const reps = ctx.quick ? 1 : 3;
  let grand = 0;
  let grandCpu = 0;
  for (const density of DENSITIES) {
    let total = 0;
    let totalCpu = 0;
    for (const { shape, count } of VGG19_SHAPES) {
      const input = layerInput(shape, density);
      analyzeLayer(input); // warm-up (JIT)
      const times: number[] = [];
      const cpu: number[] = [];
      for (let r = 0; r < reps; r++) {
        const c0 = cpuMs();
        const t0 = performance.now();
        analyzeLayer(input);
        times.push(performance.now() - t0);
        cpu.push(cpuMs() - c0);
      }
      times.sort((a, b) => a - b);
      cpu.sort((a, b) => a - b);
      const ms = times[Math.floor(times.length / 2)];
      const cpuMedian = cpu[Math.floor(cpu.length / 2)];
      total += ms * count;
      totalCpu += cpuMedian * count;
      ctx.report(`analyze_${label(shape, density)}`, ms, 'ms', `x${count} layers, unweighted + weighted; cpu ${cpuMedian.toFixed(1)} ms`);
    }
    ctx.report(`vgg19_total_d${Math.round(density * 1000) / 10}`, total, 'ms', '1 thread, wall');
    ctx.report(`vgg19_cpu_d${Math.round(density * 1000) / 10}`, totalCpu, 'ms', '1 thread, process CPU time');
    grand += total;
    grandCpu += totalCpu;
  }
  const kernels = wasmKernelsAvailable() ? 'wasm kernels' : 'TypeScript kernels (wasm not built)';
  ctx.report('vgg19_total', grand, 'ms', `all layers, 4 densities, unweighted + weighted, 1 thread, wall; ${kernels}`);
  ctx.report('vgg19_cpu_total', grandCpu, 'ms', 'the same as process CPU time (robust to other load)');

  // All 17 layers at once on a pool of worker threads kept across densities (warmed up on one
  // pass first, as a lottery run's pool would be after its first level): the wall time of a
  // whole-network analysis. The layers are in shared memory, so nothing is copied.
  const pool = createAnalysisPool(availableParallelism());
  try {
    const networks = DENSITIES.map((density) => {
      const inputs: LayerInput[] = [];
      for (const { shape, count } of VGG19_SHAPES) {
        const input = layerInput(shape, density);
        for (let c = 0; c < count; c++) inputs.push(input);
      }
      return inputs;
    });
    for (const inputs of networks) await pool.analyze(inputs); // warm-up (JIT in the workers)
    let wall = 0;
    for (let d = 0; d < DENSITIES.length; d++) {
      const t0 = performance.now();
      await pool.analyze(networks[d]);
      const ms = performance.now() - t0;
      wall += ms;
      ctx.report(`vgg19_parallel_d${Math.round(DENSITIES[d] * 1000) / 10}`, ms, 'ms', `${pool.threads} threads, wall time`);
    }
    ctx.report('vgg19_parallel_total', wall, 'ms', `all layers, 4 densities, unweighted + weighted, ${pool.threads} threads, wall`);
  } finally {
    await pool.close();
  }
}
