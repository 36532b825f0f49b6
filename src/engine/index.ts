/**
 * The engine's entry point: `createKernels` picks a backend.
 * - 'wasm' (default): WebAssembly SIMD kernels over one shared memory, split across worker threads
 *   (src/engine/wasm.ts). Call `close()` when done so the worker threads stop.
 * - 'reference': plain TypeScript loops (src/engine/reference.ts), the specification.
 * Tensors are device-resident handles (src/engine/kernels.ts); `hostView` reads a CPU backend's
 * tensor synchronously (tests, benchmarks).
 */
import { availableParallelism } from 'node:os';
import { hasHostAccess, type FloatArray, type Kernels, type Tensor } from './kernels.js';
import { referenceKernels } from './reference.js';
import { createWasmKernels } from './wasm.js';

export type { Conv2dGeometry, FloatArray, Kernels, MaskedWeight, Tensor, DType, HostAccess } from './kernels.js';
export { hasHostAccess } from './kernels.js';
export { convOutputSize } from './kernels.js';
export { referenceKernels, type ReferenceKernelOptions } from './reference.js';
export { DEFAULT_SPARSE_BELOW_DENSITY } from './wasm.js';

export interface CreateKernelsOptions {
  backend?: 'wasm' | 'reference';
  /** threads for the wasm backend, the calling one included; default os.availableParallelism() */
  threads?: number;
  /**
   * wasm only: masked weights whose density is below this run on the sparse path
   * (default DEFAULT_SPARSE_BELOW_DENSITY, the measured crossover; 0 = never, 1.01 = always).
   */
  sparseBelowDensity?: number;
}

export async function createKernels(opts: CreateKernelsOptions = {}): Promise<Kernels> {
  const backend = opts.backend ?? 'wasm';
  if (backend === 'reference') return referenceKernels();
  const threads = opts.threads ?? availableParallelism();
  if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`createKernels: threads must be an integer >= 1, got ${threads}`);
  return createWasmKernels({ threads, sparseBelowDensity: opts.sparseBelowDensity });
}

/**
 * A CPU backend's tensor as a live host array (wasm: a view into its memory; reference: the array
 * itself, Float64Array in float64 mode). For tests, benchmarks and CPU-only tools: library code
 * uses upload/download so that it runs on every backend. Throws for a backend without host memory.
 */
export function hostView(kernels: Kernels, t: Tensor): FloatArray {
  if (!hasHostAccess(kernels)) throw new Error(`hostView: the ${kernels.name} backend has no host-visible memory; use download()`);
  return kernels.view(t);
}

/** As hostView, for 'i32' tensors. */
export function hostViewInt32(kernels: Kernels, t: Tensor): Int32Array {
  if (!hasHostAccess(kernels)) throw new Error(`hostViewInt32: the ${kernels.name} backend has no host-visible memory; use downloadInt32()`);
  return kernels.viewInt32(t);
}
