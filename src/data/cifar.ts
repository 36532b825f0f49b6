/**
 * CIFAR-10's binary release (`cifar-10-batches-bin`): data_batch_1.bin .. data_batch_5.bin and
 * test_batch.bin, each 10,000 records of 1 label byte + 3,072 pixel bytes (1,024 red, 1,024
 * green, 1,024 blue, rows of 32), which is already the [C, H, W] order we keep.
 * Hand-written: a fixed-size record format needs no library.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileError, UserError } from '../errors.js';
import { checkLabels } from './idx.js';
import type { Split } from './types.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const CIFAR_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR_TEST_FILE = 'test_batch.bin';

const PIXELS = 3 * 32 * 32;
const RECORD = 1 + PIXELS;
const RECORDS_PER_BATCH = 10000;
const BATCH_BYTES = RECORD * RECORDS_PER_BATCH;

/**
 * True when `dir` holds at least one of the six batch files; throws naming the missing ones
 * when it holds only some (a partial copy must not load as a smaller dataset).
 */
export function hasCifarBatches(dir: string): boolean {
  const all = [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE];
  const missing = all.filter((name) => !existsSync(join(dir, name)));
  if (missing.length === all.length) return false;
  if (missing.length > 0) throw new UserError(`${dir}: holds some CIFAR-10 batch files but not ${missing.join(', ')}`);
  return true;
}

/** Reads the batch files into one split, in file order. */
function readBatches(files: string[]): Split {
  const count = files.length * RECORDS_PER_BATCH;
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  files.forEach((file, b) => {
    const size = statSync(file).size;
    if (size !== BATCH_BYTES) {
      throw fileError(file, `is ${size} bytes; a CIFAR-10 batch is ${BATCH_BYTES} bytes (${RECORDS_PER_BATCH} records of 1 label byte + ${PIXELS} pixel bytes)`);
    }
    const bytes = readFileSync(file);
    const batchLabels = new Uint8Array(RECORDS_PER_BATCH);
    for (let r = 0; r < RECORDS_PER_BATCH; r++) {
      const offset = r * RECORD;
      batchLabels[r] = bytes[offset];
      images.set(bytes.subarray(offset + 1, offset + RECORD), (b * RECORDS_PER_BATCH + r) * PIXELS);
    }
    checkLabels(batchLabels, CIFAR10_CLASSES.length, file, 'record');
    labels.set(batchLabels, b * RECORDS_PER_BATCH);
  });
  return { count, images, labels };
}

/** Loads the six batches from `dir` (50,000 training and 10,000 test images, [3, 32, 32]). */
export function loadCifarBinary(dir: string): { train: Split; test: Split; shape: [number, number, number]; classes: string[] } {
  return {
    train: readBatches(CIFAR_TRAIN_FILES.map((name) => join(dir, name))),
    test: readBatches([join(dir, CIFAR_TEST_FILE)]),
    shape: [3, 32, 32],
    classes: [...CIFAR10_CLASSES],
  };
}
