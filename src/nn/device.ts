/**
 * Where a network's tensors live and which kernels run on them.
 *
 * Every tensor is a device-resident handle of the engine (src/engine/kernels.ts): layers allocate
 * them here and hand them to kernels; values reach the host only through `download`.
 * Training runs in float32 (`float32Device(kernels)`). The finite-difference gradient checks run
 * the very same layer code on the reference kernels in float64 (`float64Device()`).
 */
import type { HostAccess, Kernels, Tensor } from '../engine/kernels.js';
import { referenceKernels } from '../engine/reference.js';

export interface Device {
  readonly kernels: Kernels;
  /** zero-filled float tensor of `length` elements */
  alloc(length: number): Tensor;
  /** zero-filled i32 tensor */
  allocInt32(length: number): Tensor;
  /** gives a tensor back; it must not be used afterwards */
  free(t: Tensor): void;
}

/** Tensors of `kernels` (float32 on the wasm backend, a GPU's buffers on webgpu). */
export function float32Device<K extends Kernels>(kernels: K): Device & { readonly kernels: K } {
  return {
    kernels,
    alloc: (length) => kernels.tensor(length, 'f32'),
    allocInt32: (length) => kernels.tensor(length, 'i32'),
    free: (t) => kernels.free(t),
  };
}

/** Float64 tensors on the plain-TypeScript reference kernels (for gradient checks). */
export function float64Device(): Device & { readonly kernels: Kernels & HostAccess } {
  return float32Device(referenceKernels({ float64: true }));
}

/**
 * A batch-sized tensor: `perExample` elements per example, grown when a larger batch comes and
 * otherwise reused, so memory is allocated once per batch size and never per step.
 * `view(N)` returns the whole tensor (at least N*perExample elements; kernels take N, so a longer
 * tensor is fine).
 */
class GrowingBuffer {
  private storage: Tensor | null = null;
  private capacity = 0;

  constructor(private readonly allocate: (length: number) => Tensor, private readonly release: (t: Tensor) => void, readonly perExample: number) {}

  view(N: number): Tensor {
    if (this.storage === null || N > this.capacity) {
      if (this.storage !== null) this.release(this.storage);
      this.storage = this.allocate(Math.max(1, N * this.perExample));
      this.capacity = N;
    }
    return this.storage;
  }

  dispose(): void {
    if (this.storage !== null) this.release(this.storage);
    this.storage = null;
    this.capacity = 0;
  }
}

/** Float buffer per batch (activations, gradients). */
export class BatchBuffer extends GrowingBuffer {
  constructor(device: Device, perExample: number) {
    super((n) => device.alloc(n), (a) => device.free(a), perExample);
  }
}

/** Int32 buffer per batch (max-pool argmax, labels). */
export class BatchBufferInt32 extends GrowingBuffer {
  constructor(device: Device, perExample: number) {
    super((n) => device.allocInt32(n), (a) => device.free(a), perExample);
  }
}
