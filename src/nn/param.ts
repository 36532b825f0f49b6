/**
 * A named trainable tensor, as PyTorch's state dict names it (`fc1.weight`, `features.0.bias`).
 * Layouts follow PyTorch: Linear weight [out, in], Conv weight [c_out, c_in, kh, kw].
 * The values live on the device (engine tensors); the host reads them with `download`.
 */
import type { Tensor } from '../engine/kernels.js';
import type { Device } from './device.js';

export type ParamKind = 'linear' | 'conv' | 'bias' | 'batchnorm';

export interface Param {
  name: string;
  shape: number[];
  /** values [size] */
  data: Tensor;
  /** gradient of the loss [size], filled by the model's backward pass (overwritten each time) */
  grad: Tensor;
  /**
   * 0/1 mask [size]; non-null exactly for prunable Linear/Conv weights (all ones until pruned).
   * Where it is 0 the weight, its gradient and its optimiser state are exactly 0.
   */
  mask: Tensor | null;
  /** true for Linear and Conv weights (the graphs the paper analyses); biases and BN are not */
  prunable: boolean;
  kind: ParamKind;
}

export function paramSize(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function createParam(device: Device, name: string, shape: number[], kind: ParamKind, prunable: boolean): Param {
  const size = paramSize(shape);
  let mask: Tensor | null = null;
  if (prunable) {
    mask = device.alloc(size);
    device.kernels.fill(mask, 1);
  }
  return { name, shape: [...shape], data: device.alloc(size), grad: device.alloc(size), mask, prunable, kind };
}
