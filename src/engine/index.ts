/**
 * The engine's entry point: `createKernels` picks a backend.
 * - 'wasm' (default): WebAssembly SIMD kernels over one shared memory, split across worker threads
 *   (src/engine/wasm.ts). Call `close()` when done so the worker threads stop.
 * - 'reference': plain TypeScript loops (src/engine/reference.ts), the specification.
 */
import { availableParallelism } from 'node:os';
import type { HostKernels } from './kernels.js';
import { referenceKernels } from './reference.js';
import { createWasmKernels } from './wasm.js';

export type { HostKernels, HostMaskedWeight, Conv2dGeometry, FloatArray, Kernels, MaskedWeight, Tensor, DType, HostAccess } from './kernels.js';
export { hasHostAccess } from './kernels.js';
export { convOutputSize } from './kernels.js';
export { referenceKernels } from './reference.js';
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

export async function createKernels(opts: CreateKernelsOptions = {}): Promise<HostKernels> {
  const backend = opts.backend ?? 'wasm';
  if (backend === 'reference') return referenceKernels();
  const threads = opts.threads ?? availableParallelism();
  if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`createKernels: threads must be an integer >= 1, got ${threads}`);
  return createWasmKernels({ threads, sparseBelowDensity: opts.sparseBelowDensity });
}
