/**
 * Where a network's tensors live and which kernels run on them.
 *
 * Training runs in Float32 on engine memory (`float32Device(kernels)`: every array comes from
 * `kernels.alloc`, so the wasm backend can use it directly). The finite-difference gradient checks
 * run the very same layer code in Float64 on the reference kernels (`float64Device()`), which is
 * why the layers are generic over the array type `A`.
 */
import type { FloatArray, HostKernels } from '../engine/kernels.js';
import { referenceKernels } from '../engine/reference.js';

export interface Device<A extends FloatArray = Float32Array> {
  readonly kernels: HostKernels;
  /** zero-filled array of `length` elements */
  alloc(length: number): A;
  allocInt32(length: number): Int32Array;
  /** gives memory from alloc/allocInt32 back; the array must not be used afterwards */
  free(array: A | Int32Array): void;
}

/** Float32 tensors in the engine's own memory. */
export function float32Device(kernels: HostKernels): Device<Float32Array> {
  return {
    kernels,
    alloc: (length) => kernels.alloc(length),
    allocInt32: (length) => kernels.allocInt32(length),
    free: (array) => kernels.free(array),
  };
}

/** Float64 tensors on the plain-TypeScript reference kernels (for gradient checks). */
export function float64Device(): Device<Float64Array> {
  return {
    kernels: referenceKernels(),
    alloc: (length) => new Float64Array(length),
    allocInt32: (length) => new Int32Array(length),
    free: () => {},
  };
}

/**
 * A batch-sized buffer: `perExample` elements per example, grown when a larger batch comes and
 * otherwise reused, so memory is allocated once per batch size and never per step.
 * `view(N)` is the first N*perExample elements (a subarray of the engine allocation).
 */
class GrowingBuffer<T extends FloatArray | Int32Array> {
  private storage: T | null = null;
  private capacity = 0;
  private current: T | null = null;
  private currentN = -1;

  constructor(private readonly allocate: (length: number) => T, private readonly release: (array: T) => void, readonly perExample: number) {}

  view(N: number): T {
    if (N === this.currentN && this.current !== null) return this.current;
    if (this.storage === null || N > this.capacity) {
      if (this.storage !== null) this.release(this.storage);
      this.storage = this.allocate(Math.max(1, N * this.perExample));
      this.capacity = N;
    }
    this.current = (N === this.capacity ? this.storage : this.storage.subarray(0, N * this.perExample)) as T;
    this.currentN = N;
    return this.current;
  }

  dispose(): void {
    if (this.storage !== null) this.release(this.storage);
    this.storage = null;
    this.current = null;
    this.capacity = 0;
    this.currentN = -1;
  }
}

/** Float buffer per batch (activations, gradients). */
export class BatchBuffer<A extends FloatArray> extends GrowingBuffer<A> {
  constructor(device: Device<A>, perExample: number) {
    super((n) => device.alloc(n), (a) => device.free(a), perExample);
  }
}

/** Int32 buffer per batch (max-pool argmax, labels). */
export class BatchBufferInt32 extends GrowingBuffer<Int32Array> {
  constructor(device: Device<FloatArray>, perExample: number) {
    super((n) => device.allocInt32(n), (a) => device.free(a), perExample);
  }
}
