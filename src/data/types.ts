/**
 * A classification dataset in memory, as every loader in src/data returns it.
 * Pixels are kept as raw bytes (0..255) in [N, C, H, W] order; normalisation and noise are applied
 * when batches are written into engine buffers.
 */
/**
 * Most pixel bytes one split (or one dataset file) may hold: 2^32 - 1, the longest Uint8Array
 * Node allows. A header that promises more is refused before anything is allocated.
 */
export const MAX_SPLIT_BYTES = 2 ** 32 - 1;

export interface Split {
  /** number of examples */
  count: number;
  /** pixels, [count, C, H, W], 0..255 */
  images: Uint8Array;
  /** labels, [count], 0..classes-1 */
  labels: Uint8Array;
}

export interface Dataset {
  /** short name: 'mnist', 'fashion-mnist', 'cifar10', or 'folder:<path>' */
  name: string;
  /** where the files were found (a folder or a package path) */
  source: string;
  /** class names in label order */
  classes: string[];
  /** [C, H, W] */
  shape: [number, number, number];
  /** per-channel mean and standard deviation on the [0,1] scale, used for normalisation */
  mean: number[];
  std: number[];
  train: Split;
  test: Split;
  /** examples held out of the training set when a validation split was asked for (see subsets.ts) */
  validation?: Split;
}
