/**
 * Small generated data files for the data tests, written into temporary folders.
 * Not a test file itself: the *.test.ts files import it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new temporary folder, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `rlth-data-${prefix}-`));
  made.push(dir);
  return dir;
}

/** IDX bytes: magic [0, 0, 0x08, ndims], big-endian dims, data. */
export function idxBytes(dims: number[], data: Uint8Array, magic?: number): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic ?? ((0x08 << 8) | dims.length), 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

export interface TinyIdx {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

/** A tiny MNIST-like set: `train` and `test` images of H x W with pixel (i, p) = (7i + p) % 256, label i % 10. */
export function tinyIdx(train: number, test: number, H = 4, W = 3): TinyIdx {
  const images = (n: number, offset: number) => Uint8Array.from({ length: n * H * W }, (_, k) => (7 * (Math.floor(k / (H * W)) + offset) + (k % (H * W))) % 256);
  const labels = (n: number, offset: number) => Uint8Array.from({ length: n }, (_, i) => (i + offset) % 10);
  return { trainImages: images(train, 0), trainLabels: labels(train, 0), testImages: images(test, 1000), testLabels: labels(test, 3) };
}

/** Writes the four IDX files into `dir` (gzipped when asked), with optional raw overrides per file. */
export function writeIdxFolder(
  dir: string,
  data: TinyIdx,
  opts: { gzip?: boolean; H?: number; W?: number; override?: Partial<Record<'train-images' | 'train-labels' | 't10k-images' | 't10k-labels', Uint8Array>> } = {},
): void {
  const H = opts.H ?? 4;
  const W = opts.W ?? 3;
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Uint8Array> = {
    'train-images': idxBytes([data.trainLabels.length, H, W], data.trainImages),
    'train-labels': idxBytes([data.trainLabels.length], data.trainLabels),
    't10k-images': idxBytes([data.testLabels.length, H, W], data.testImages),
    't10k-labels': idxBytes([data.testLabels.length], data.testLabels),
  };
  for (const [stem, bytes] of Object.entries({ ...files, ...opts.override })) {
    const kind = stem.endsWith('images') ? 'idx3' : 'idx1';
    const name = `${stem}-${kind}-ubyte${opts.gzip ? '.gz' : ''}`;
    writeFileSync(join(dir, name), opts.gzip ? gzipSync(bytes) : bytes);
  }
}

/** A PNG of an [H, W, 3] RGB image. */
export function pngBytes(width: number, height: number, rgb: Uint8Array): Buffer {
  const png = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) {
    png.data[4 * p] = rgb[3 * p];
    png.data[4 * p + 1] = rgb[3 * p + 1];
    png.data[4 * p + 2] = rgb[3 * p + 2];
    png.data[4 * p + 3] = 255;
  }
  return PNG.sync.write(png);
}

/** A JPEG (quality 90) of an [H, W, 3] RGB image. */
export function jpegBytes(width: number, height: number, rgb: Uint8Array): Buffer {
  const rgba = Buffer.alloc(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[4 * p] = rgb[3 * p];
    rgba[4 * p + 1] = rgb[3 * p + 1];
    rgba[4 * p + 2] = rgb[3 * p + 2];
    rgba[4 * p + 3] = 255;
  }
  return jpeg.encode({ width, height, data: rgba }, 90).data;
}

/** RGB pixels [H, W, 3] that differ per (seed, pixel, channel). */
export function pattern(width: number, height: number, seed: number, grey = false): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const v = (seed * 37 + p * 11) % 256;
    rgb[3 * p] = v;
    rgb[3 * p + 1] = grey ? v : (v + 50 + seed) % 256;
    rgb[3 * p + 2] = grey ? v : (v * 3 + seed) % 256;
  }
  return rgb;
}

/**
 * An image folder of PNGs: classes given in any order, `perClass` training and `testPerClass`
 * test images each, W x H; file (class c, index k) has pattern seed 100 * c + k.
 */
export function writePngFolder(root: string, classes: string[], perClass: number, testPerClass: number, width = 5, height = 4, grey = false): void {
  classes.forEach((name, c) => {
    for (const [part, n] of [['train', perClass], ['test', testPerClass]] as const) {
      const dir = join(root, part, name);
      mkdirSync(dir, { recursive: true });
      for (let k = 0; k < n; k++) writeFileSync(join(dir, `${String(k).padStart(3, '0')}.png`), pngBytes(width, height, pattern(width, height, 100 * c + k + (part === 'test' ? 50 : 0), grey)));
    }
  });
}
