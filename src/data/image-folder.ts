/**
 * Image folders in the usual layout:
 *
 *     root/train/<class>/*.jpg|jpeg|png
 *     root/test/<class>/*.jpg|jpeg|png
 *
 * Classes are the sub-folders of train/ in sorted (code-point) order, which gives the labels;
 * test/ must have the same class folders. Files are taken in sorted name order. Names starting
 * with '.' (e.g. .DS_Store) are ignored; any other entry that is not a .jpg/.jpeg/.png file is
 * an error, as is a corrupt image or one whose size differs from the others.
 *
 * Decoding is slow (about 20 s for CIFAR-10's 60,000 JPEGs), so the decoded pixels are cached
 * in one file (see folder-cache.ts), keyed by the folder's listing: every image's relative path,
 * size in bytes and modification time. Change, add or remove an image and the key changes.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileError, UserError } from '../errors.js';
import { decodeImage, readImageHeader } from './decode.js';
import { MAX_SPLIT_BYTES } from './types.js';
import { readFolderCache, writeFolderCache, type DecodedFolder } from './folder-cache.js';
import { channelStatistics } from './normalize.js';
import type { Split } from './types.js';

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];

interface Listing {
  /** the folder, absolute */
  root: string;
  classes: string[];
  /** [split][i] = { path, label } in load order */
  train: Array<{ path: string; label: number }>;
  test: Array<{ path: string; label: number }>;
  /** sha256 over relative path, size and mtime of every image */
  key: string;
}

export interface ImageFolderProgress {
  /** images decoded so far (train then test) */
  done: number;
  total: number;
}

/** statSync that follows symbolic links and reports a broken one as the user's error. */
function statOf(path: string) {
  try {
    return statSync(path);
  } catch (err) {
    throw fileError(path, `cannot be read (${(err as Error).message})`);
  }
}

function sortedEntries(dir: string) {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** True when `root` looks like an image folder (has train/ and test/ sub-folders). */
export function isImageFolder(root: string): boolean {
  return existsSync(join(root, 'train')) && existsSync(join(root, 'test'));
}

function listFolder(root: string): Listing {
  if (!existsSync(root)) {
    throw new UserError(`${root}: no such folder; an image folder holds root/train/<class>/*.jpg|png and root/test/<class>/*.jpg|png`);
  }
  for (const part of ['train', 'test']) {
    const dir = join(root, part);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new UserError(`${root}: has no ${part}/ folder; an image folder holds root/train/<class>/*.jpg|png and root/test/<class>/*.jpg|png`);
    }
  }
  const classFolders = (part: string) =>
    sortedEntries(join(root, part)).map((entry) => {
      // statSync follows symbolic links, so linked class folders work
      if (!statOf(join(root, part, entry.name)).isDirectory()) throw fileError(join(root, part, entry.name), `is not a class folder; ${part}/ must hold only one folder per class`);
      return entry.name;
    });
  const classes = classFolders('train');
  const testClasses = classFolders('test');
  if (classes.length === 0) throw new UserError(`${join(root, 'train')}: has no class folders`);
  if (testClasses.join('\n') !== classes.join('\n')) {
    throw new UserError(`${root}: test/ has class folders [${testClasses.join(', ')}] but train/ has [${classes.join(', ')}]; they must be the same`);
  }
  const hash = createHash('sha256');
  hash.update('ramanujan-lth image folder v1\n');
  const listPart = (part: string) => {
    const items: Array<{ path: string; label: number }> = [];
    classes.forEach((name, label) => {
      const dir = join(root, part, name);
      let n = 0;
      for (const entry of sortedEntries(dir)) {
        const path = join(dir, entry.name);
        const lower = entry.name.toLowerCase();
        const st = statOf(path); // follows symbolic links
        if (!st.isFile() || !IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext))) {
          throw fileError(path, 'is not an image file; class folders may hold only .jpg, .jpeg and .png files');
        }
        hash.update(`${part}/${name}/${entry.name}\t${st.size}\t${st.mtimeMs}\n`);
        items.push({ path, label });
        n++;
      }
      if (n === 0 && part === 'train') throw new UserError(`${dir}: class folder holds no images`);
    });
    return items;
  };
  const train = listPart('train');
  const test = listPart('test');
  return { root, classes, train, test, key: hash.digest('hex') };
}

/**
 * Decodes every image. Pixels go into [count, 3, H, W]; if every pixel of every image is grey
 * (R = G = B) the folder is kept as one channel [count, 1, H, W].
 */
function decodeFolder(listing: Listing, onProgress?: (p: ImageFolderProgress) => void, expect?: ExpectedSize): Omit<DecodedFolder, 'key'> {
  const total = listing.train.length + listing.test.length;
  let width = 0;
  let height = 0;
  let firstFile = '';
  let allGrey = true;
  let done = 0;
  const decodePart = (items: Array<{ path: string; label: number }>, part: 'train' | 'test'): Split => {
    const labels = new Uint8Array(items.length);
    let images = new Uint8Array(0);
    if (items.length === 0) throw fileError(join(listing.root, part), 'holds no images; a dataset split needs at least one');
    items.forEach((item, i) => {
      const bytes = readFileSync(item.path);
      // The header's size is checked against the folder's before the image is decoded (the
      // decoder allocates what the header claims).
      const header = readImageHeader(bytes, item.path);
      if (expect && (header.width !== expect.width || header.height !== expect.height)) {
        throw fileError(item.path, `is ${header.width}x${header.height} but ${expect.what} images are ${expect.width}x${expect.height}; load the folder as folder:${listing.root} instead`);
      }
      if (firstFile !== '' && (header.width !== width || header.height !== height)) {
        throw fileError(item.path, `is ${header.width}x${header.height} but the other images are ${width}x${height} (e.g. ${firstFile}); all images must have one size`);
      }
      const img = decodeImage(bytes, item.path);
      if (firstFile === '') {
        width = img.width;
        height = img.height;
        firstFile = item.path;
      } else if (img.width !== width || img.height !== height) {
        throw fileError(item.path, `is ${img.width}x${img.height} but the other images are ${width}x${height} (e.g. ${firstFile}); all images must have one size`);
      }
      if (images.length === 0) {
        const total = items.length * 3 * height * width;
        if (total > MAX_SPLIT_BYTES) {
          throw fileError(join(listing.root, part), `${items.length} images of ${width}x${height} would take ${total} bytes, more than the ${MAX_SPLIT_BYTES} bytes a dataset split may hold`);
        }
        images = new Uint8Array(total);
      }
      // [H, W, 3] interleaved -> [3, H, W] planes
      const plane = height * width;
      const base = i * 3 * plane;
      const rgb = img.rgb;
      for (let p = 0; p < plane; p++) {
        const r = rgb[3 * p];
        const g = rgb[3 * p + 1];
        const b = rgb[3 * p + 2];
        images[base + p] = r;
        images[base + plane + p] = g;
        images[base + 2 * plane + p] = b;
        if (r !== g || g !== b) allGrey = false;
      }
      labels[i] = item.label;
      done++;
      if (onProgress && (done % 1000 === 0 || done === total)) onProgress({ done, total });
    });
    return { count: items.length, images, labels };
  };
  let train = decodePart(listing.train, 'train');
  let test = decodePart(listing.test, 'test');
  let channels = 3;
  if (allGrey) {
    const toGrey = (split: Split): Split => {
      const plane = height * width;
      const images = new Uint8Array(split.count * plane);
      for (let i = 0; i < split.count; i++) images.set(split.images.subarray(i * 3 * plane, i * 3 * plane + plane), i * plane);
      return { ...split, images };
    };
    train = toGrey(train);
    test = toGrey(test);
    channels = 1;
  }
  const shape: [number, number, number] = [channels, height, width];
  const { mean, std } = channelStatistics(train.images, train.count, shape);
  return { classes: listing.classes, shape, mean, std, train, test };
}

/** The image size a folder must have (e.g. 32x32 for cifar10), checked on each header before decoding. */
export interface ExpectedSize {
  width: number;
  height: number;
  /** what needs that size, for the message (e.g. "cifar10") */
  what: string;
}

export interface LoadedImageFolder extends DecodedFolder {
  /** true when the pixels came from the cache */
  fromCache: boolean;
  cacheFile: string;
}

/**
 * Loads an image folder, from the cache in `cacheDir` when the folder has not changed since it
 * was decoded; otherwise decodes it and writes the cache (atomically).
 */
export function loadImageFolder(root: string, opts: { cacheDir: string; onProgress?: (p: ImageFolderProgress) => void; expect?: ExpectedSize }): LoadedImageFolder {
  const absRoot = resolve(root);
  const listing = listFolder(absRoot);
  const cacheFile = join(resolve(opts.cacheDir), `image-folder-${listing.key.slice(0, 32)}.bin`);
  const cached = readFolderCache(cacheFile, listing.key);
  if (cached) return { ...cached, fromCache: true, cacheFile };
  const decoded: DecodedFolder = { key: listing.key, ...decodeFolder(listing, opts.onProgress, opts.expect) };
  writeFolderCache(cacheFile, decoded);
  return { ...decoded, fromCache: false, cacheFile };
}
