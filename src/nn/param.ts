/**
 * A named trainable tensor, as PyTorch's state dict names it (`fc1.weight`, `features.0.bias`).
 * Layouts follow PyTorch: Linear weight [out, in], Conv weight [c_out, c_in, kh, kw].
 */
import type { FloatArray } from '../engine/kernels.js';
import type { Device } from './device.js';

export type ParamKind = 'linear' | 'conv' | 'bias' | 'batchnorm';

export interface Param<A extends FloatArray = Float32Array> {
  name: string;
  shape: number[];
  /** values, in engine memory */
  data: A;
  /** gradient of the loss, filled by the model's backward pass (overwritten each time) */
  grad: A;
  /**
   * 0/1 mask, same shape as data; non-null exactly for prunable Linear/Conv weights (all ones
   * until pruned). Where it is 0 the weight, its gradient and its optimiser state are exactly 0.
   */
  mask: A | null;
  /** true for Linear and Conv weights (the graphs the paper analyses); biases and BN are not */
  prunable: boolean;
  kind: ParamKind;
}

export function paramSize(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function createParam<A extends FloatArray>(
  device: Device<A>, name: string, shape: number[], kind: ParamKind, prunable: boolean,
): Param<A> {
  const size = paramSize(shape);
  let mask: A | null = null;
  if (prunable) {
    mask = device.alloc(size);
    mask.fill(1);
  }
  return { name, shape: [...shape], data: device.alloc(size), grad: device.alloc(size), mask, prunable, kind };
}
