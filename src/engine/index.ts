/**
 * The engine's entry point: `createKernels` picks a backend.
 * - 'wasm' (default): WebAssembly SIMD kernels over one shared memory, split across worker threads.
 * - 'reference': plain TypeScript loops (src/engine/reference.ts), the specification.
 */
import { availableParallelism } from 'node:os';
import type { Kernels } from './kernels.js';
import { referenceKernels } from './reference.js';

export type { Kernels, MaskedWeight, Conv2dGeometry, FloatArray } from './kernels.js';
export { convOutputSize } from './kernels.js';
export { referenceKernels } from './reference.js';

export interface CreateKernelsOptions {
  backend?: 'wasm' | 'reference';
  /** threads for the wasm backend (main thread included); default os.availableParallelism() */
  threads?: number;
}

export async function createKernels(opts: CreateKernelsOptions = {}): Promise<Kernels> {
  const backend = opts.backend ?? 'wasm';
  if (backend === 'reference') return referenceKernels();
  const threads = opts.threads ?? availableParallelism();
  void threads;
  // The wasm backend is not written yet: until it lands, every caller gets the reference.
  return referenceKernels();
}
