/**
 * The calls of bench/contract-nets.ts (`NetKernels`, device contract) on a CPU backend that still
 * implements the host-view contract (`HostKernels`): tensors are engine arrays, offsets become
 * subarrays. Only for the webgpu-versus-CPU training tests, until the CPU backends implement the
 * device contract themselves (then this file goes).
 */
import type { Conv2dGeometry, DType, HostKernels, HostMaskedWeight, MaskedWeight, Tensor } from '../../src/engine/kernels.js';
import type { NetKernels } from '../../bench/contract-nets.js';

interface HostTensor extends Tensor {
  readonly data: Float32Array | Int32Array;
}

function f(t: Tensor): Float32Array {
  const d = (t as HostTensor).data;
  if (!(d instanceof Float32Array)) throw new Error('host facade: an f32 tensor was expected');
  return d;
}

function i32(t: Tensor): Int32Array {
  const d = (t as HostTensor).data;
  if (!(d instanceof Int32Array)) throw new Error('host facade: an i32 tensor was expected');
  return d;
}

class FacadeMaskedWeight implements MaskedWeight {
  constructor(readonly host: HostMaskedWeight) {}
  get rows() { return this.host.rows; }
  get cols() { return this.host.cols; }
  get density() { return this.host.density; }
  get sparse() { return this.host.sparse; }
  refreshValues(): void { this.host.refreshValues(); }
  dispose(): void { this.host.dispose(); }
}

const hostOf = (mw: MaskedWeight): HostMaskedWeight => (mw as FacadeMaskedWeight).host;

export function hostFacade(k: HostKernels): NetKernels {
  return {
    tensor(length: number, dtype: DType = 'f32'): Tensor {
      const data = dtype === 'f32' ? k.alloc(length) : k.allocInt32(length);
      return { length, dtype, data } as HostTensor;
    },
    free: (t) => k.free((t as HostTensor).data),
    upload: (t, data, offset = 0) => (t as HostTensor).data.set(data as ArrayLike<number>, offset),
    download: async (t, offset = 0, length) => f(t).slice(offset, offset + (length ?? t.length - offset)),
    fill: (t, value, offset = 0, length) => void (t as HostTensor).data.fill(value, offset, offset + (length ?? t.length - offset)),
    createMaskedWeight: (W, mask, rows, cols) => new FacadeMaskedWeight(k.createMaskedWeight(f(W), f(mask), rows, cols)),
    maskedForward: (mw, X, N, bias, Y) => k.maskedForward(hostOf(mw), f(X), N, bias === null ? null : f(bias), f(Y)),
    maskedBackwardInput: (mw, dY, N, dX) => k.maskedBackwardInput(hostOf(mw), f(dY), N, f(dX)),
    maskedBackwardWeight: (mw, dY, X, N, dW) => k.maskedBackwardWeight(hostOf(mw), f(dY), f(X), N, f(dW)),
    conv2dForward: (mw, x, bias, g: Conv2dGeometry, y, ws) => k.conv2dForward(hostOf(mw), f(x), bias === null ? null : f(bias), g, f(y), f(ws)),
    conv2dBackward: (mw, x, dy, g, dW, dBias, dx, ws) => k.conv2dBackward(hostOf(mw), f(x), f(dy), g, f(dW), dBias === null ? null : f(dBias), dx === null ? null : f(dx), f(ws)),
    conv2dWorkspaceSize: (g) => k.conv2dWorkspaceSize(g),
    maxPool2dForward: (x, g, y, argmax) => k.maxPool2dForward(f(x), g, f(y), i32(argmax)),
    maxPool2dBackward: (dy, argmax, g, dx) => k.maxPool2dBackward(f(dy), i32(argmax), g, f(dx)),
    avgPool2dForward: (x, g, y) => k.avgPool2dForward(f(x), g, f(y)),
    avgPool2dBackward: (dy, g, dx) => k.avgPool2dBackward(f(dy), g, f(dx)),
    reluForward: (x, y, n) => k.reluForward(f(x).subarray(0, n), f(y).subarray(0, n)),
    reluBackward: (y, dy, dx, n) => k.reluBackward(f(y).subarray(0, n), f(dy).subarray(0, n), f(dx).subarray(0, n)),
    biasBackward: (dy, N, C, S, dBias) => k.biasBackward(f(dy), N, C, S, f(dBias)),
    softmaxCrossEntropy: (logits, labels, N, C, dLogits, stats, statsOffset = 0) => {
      const { loss, correct } = k.softmaxCrossEntropy(f(logits), i32(labels), N, C, f(dLogits));
      if (stats !== null) {
        f(stats)[statsOffset] += loss * N;
        f(stats)[statsOffset + 1] += correct;
      }
    },
    batchNormForwardTrain: (x, N, C, S, gamma, beta, eps, momentum, rm, rv, y, sm, sis) =>
      k.batchNormForwardTrain(f(x), N, C, S, f(gamma), f(beta), eps, momentum, f(rm), f(rv), f(y), f(sm), f(sis)),
    batchNormBackward: (x, dy, N, C, S, gamma, sm, sis, dx, dg, db) =>
      k.batchNormBackward(f(x), f(dy), N, C, S, f(gamma), f(sm), f(sis), f(dx), f(dg), f(db)),
    sgdStep: (p, g, vel, mask, lr, momentum, nesterov, wd, dampening, step) => k.sgdStep(f(p), f(g), f(vel), mask === null ? null : f(mask), lr, momentum, nesterov, wd, dampening, step),
    adamStep: (p, g, m, v, mask, lr, b1, b2, eps, wd, step) => k.adamStep(f(p), f(g), f(m), f(v), mask === null ? null : f(mask), lr, b1, b2, eps, wd, step),
  };
}
