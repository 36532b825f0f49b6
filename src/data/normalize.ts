/**
 * Normalisation constants and the lookup table that turns raw pixel bytes into network inputs.
 *
 * A network input is (byte / 255 - mean[c]) / std[c] for channel c. Because a pixel is one of
 * 256 byte values, the whole map is a table of C x 256 floats built once per dataset; writing a
 * batch is then one table lookup per pixel.
 */

export interface Normalization {
  /** per-channel mean on the [0,1] scale */
  mean: number[];
  /** per-channel standard deviation on the [0,1] scale */
  std: number[];
}

/**
 * Documented constants (docs/data.md), computed over each training set on the [0,1] scale:
 * population mean and standard deviation of all pixels of a channel.
 * - MNIST: the customary 0.1307 / 0.3081.
 * - Fashion-MNIST: 0.2860 / 0.3530.
 * - CIFAR-10: per channel (R, G, B); the std is the true per-channel std of the training pixels
 *   (0.2470, 0.2435, 0.2616), not the often-copied (0.2023, 0.1994, 0.2010), which is the mean of
 *   per-image stds.
 */
export const KNOWN_NORMALIZATION: Readonly<Record<'mnist' | 'fashion-mnist' | 'cifar10', Normalization>> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
};

/**
 * Per-channel mean and population standard deviation on the [0,1] scale of `count` images
 * stored as bytes [count, C, H, W]. Used for image folders, whose constants are not known in
 * advance. Sums are kept per channel as byte-value histograms, so the result is exact.
 */
export function channelStatistics(images: Uint8Array, count: number, shape: [number, number, number]): Normalization {
  const [C, H, W] = shape;
  const plane = H * W;
  // histogram[c * 256 + v] = how many pixels of channel c have byte value v
  const histogram = new Float64Array(C * 256);
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < C; c++) {
      const start = (i * C + c) * plane;
      const base = c * 256;
      for (let p = start; p < start + plane; p++) histogram[base + images[p]]++;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < C; c++) {
    let n = 0;
    let sum = 0;
    let sumSquares = 0;
    for (let v = 0; v < 256; v++) {
      const k = histogram[c * 256 + v];
      const x = v / 255;
      n += k;
      sum += k * x;
      sumSquares += k * x * x;
    }
    const m = n > 0 ? sum / n : 0;
    const variance = n > 0 ? Math.max(0, sumSquares / n - m * m) : 0;
    mean.push(m);
    // A constant channel would divide by zero; 1 leaves it merely centred.
    std.push(variance > 0 ? Math.sqrt(variance) : 1);
  }
  return { mean, std };
}

/** table[c * 256 + v] = (v / 255 - mean[c]) / std[c], as Float32. */
export function normalizationTable(norm: Normalization): Float32Array {
  const C = norm.mean.length;
  const table = new Float32Array(C * 256);
  for (let c = 0; c < C; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = (v / 255 - norm.mean[c]) / norm.std[c];
  }
  return table;
}
