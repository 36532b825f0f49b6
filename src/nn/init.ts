/**
 * Initialisation (the paper's Table 3: Kaiming normal), seeded.
 *
 * Exactly:
 * - Linear and Conv2d weights: N(0, std²) with std = sqrt(2 / fan_in), fan_in = in_features
 *   (Linear) or c_in·kh·kw (Conv). This is PyTorch's `kaiming_normal_(w)` with its defaults
 *   (mode 'fan_in', nonlinearity 'leaky_relu' with a = 0, i.e. the ReLU gain sqrt(2)), which is
 *   what open_lth's `kaiming_normal` initializer calls.
 * - Biases: 0. (open_lth leaves biases at PyTorch's default uniform(±1/sqrt(fan_in)); zeros make
 *   the initial network depend on the weights alone.)
 * - BatchNorm: weight (gamma) 1, bias (beta) 0, running mean 0, running variance 1.
 *   (open_lth's default draws gamma uniformly from [0, 1); PyTorch's own default is 1.)
 * - Randomness: each weight tensor draws from `rng.fork(<parameter name>)`, so a tensor's initial
 *   values depend only on the seed and its name, not on the order or the number of other layers.
 *   Normals are drawn in Float64 (Box-Muller) on the host, uploaded (rounded to the device's
 *   precision).
 * - Masks are applied afterwards on the device: pruned weights are 0.
 */
import type { Kernels } from '../engine/kernels.js';
import type { Param } from './param.js';
import type { Rng } from './rng.js';

/** fan_in of a weight tensor: product of all dimensions but the first (PyTorch's rule). */
export function fanIn(shape: number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

export function kaimingNormalInit(params: Param[], rng: Rng, kernels: Kernels): void {
  for (const p of params) {
    if (p.kind === 'linear' || p.kind === 'conv') {
      const std = Math.sqrt(2 / fanIn(p.shape));
      const r = rng.fork(p.name);
      const values = new Float64Array(p.data.length);
      for (let i = 0; i < values.length; i++) values[i] = r.normal() * std;
      kernels.upload(p.data, values);
      if (p.mask !== null) kernels.applyMask(p.data, p.mask, p.data.length);
    } else if (p.kind === 'bias') {
      kernels.fill(p.data, 0);
    } else {
      // batchnorm: `.weight` is gamma, `.bias` is beta
      kernels.fill(p.data, p.name.endsWith('.weight') ? 1 : 0);
    }
  }
}
