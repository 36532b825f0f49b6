/**
 * The built-in datasets and what is known of each before its files are read: the image shape
 * [C, H, W] the loaders (idx.ts, cifar.ts) produce and the number of training images. The config
 * schema uses them to derive `training.iterations` from `training.epochs` and to check layer
 * names without loading anything; test/data/idx.test.ts (MNIST) and cifar.test.ts check them
 * against loaded datasets (Fashion-MNIST has MNIST's format and sizes).
 * An image folder (`folder:<path>`) is known only once loaded. No imports, so the schema can use
 * this module without loading the data loaders.
 */

export const BUILTIN_DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;

/** Per-example input shape [C, H, W] of each built-in dataset. */
export const INPUT_SHAPES: Readonly<Record<string, [number, number, number]>> = {
  mnist: [1, 28, 28],
  'fashion-mnist': [1, 28, 28],
  cifar10: [3, 32, 32],
};

/** Training images of each built-in dataset. */
export const TRAIN_SIZES: Readonly<Record<string, number>> = { mnist: 60000, 'fashion-mnist': 60000, cifar10: 50000 };
