/**
 * Decodes one JPEG or PNG file to 8-bit RGB, [H, W, 3] interleaved, with the libraries `jpeg-js`
 * and `pngjs` (pure JavaScript, so nothing native to build). The format is told by the file's
 * first bytes, not its name. Alpha is dropped; grey and palette images come out as RGB.
 *
 * Before a file is decoded, its header (PNG IHDR, JPEG SOF) is read and checked, because the
 * decoders allocate what the header claims: a PNG claiming 2^31-1 x 2^31-1 pixels aborted node
 * inside zlib, and a 380 KB PNG of 20000 x 20000 took 3.5 GB. Refused are: a side above
 * MAX_IMAGE_SIDE; a PNG whose IDAT bytes cannot inflate to the pixels it declares (deflate never
 * exceeds about 1032 : 1), or that declares more than MAX_PIXELS_PER_BYTE pixels per IDAT byte
 * beyond a megapixel; a JPEG whose coded data is too short to hold one bit per 8x8 block of its
 * declared size (every Huffman-coded block codes its DC coefficient). So what is allocated stays
 * within a fixed multiple of the file's size (about 2,600 times for PNG, 7,700 for JPEG: 512
 * pixels per byte, 15 bytes per pixel in jpeg-js and here).
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { fileError } from '../errors.js';

export interface RgbImage {
  width: number;
  height: number;
  /** [height, width, 3] */
  rgb: Uint8Array;
}

/** Largest width or height accepted (16.7 megapixels; a 4096 x 4096 RGB image is 48 MiB). */
export const MAX_IMAGE_SIDE = 4096;

/** Largest ratio of inflated to deflated bytes accepted in a PNG (deflate's own limit is 1032 : 1). */
const MAX_DEFLATE_RATIO = 1100;
/**
 * Pixels per compressed byte accepted in a PNG of more than FREE_PIXELS pixels: decoded, a pixel
 * takes about 10 bytes (pngjs's RGBA, the RGB copy, the dataset's planes), so memory stays
 * within a few thousand times the file. An 8-bit RGB image cannot pass 344 pixels per byte
 * anyway; only near-uniform grey or 1-bit images over a megapixel are refused.
 */
const MAX_PIXELS_PER_BYTE = 256;
const FREE_PIXELS = 2 ** 20;

export interface ImageHeader {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function isPng(bytes: Uint8Array): boolean {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return bytes.length >= 8 && signature.every((b, i) => bytes[i] === b);
}

/** Samples per pixel of each PNG colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA). */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** The PNG's IHDR size, and the bytes it inflates to and the IDAT bytes it holds. */
function pngHeader(bytes: Uint8Array, file: string): ImageHeader & { inflated: number; idat: number } {
  const corrupt = (why: string) => fileError(file, `is a corrupt PNG (${why})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 33 || Buffer.from(bytes.subarray(12, 16)).toString('latin1') !== 'IHDR') throw corrupt('no IHDR chunk after the signature');
  const width = view.getUint32(16, false);
  const height = view.getUint32(20, false);
  const depth = bytes[24];
  const channels = PNG_CHANNELS[bytes[25]] ?? 4;
  // bytes once inflated: one filter byte per row, then the packed pixels (Adam7 adds at most a
  // few bytes per pass row, covered by the ratio's margin)
  const inflated = height * (1 + Math.ceil((width * channels * depth) / 8));
  let idat = 0;
  for (let at = 8; at + 8 <= bytes.length; ) {
    const length = view.getUint32(at, false);
    const type = Buffer.from(bytes.subarray(at + 4, at + 8)).toString('latin1');
    if (type === 'IDAT') idat += Math.min(length, bytes.length - at - 8);
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return { format: 'png', width, height, inflated, idat };
}

/** JPEG start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic). */
const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The JPEG's frame size and the bytes from its first scan on (the coded data and what follows). */
function jpegHeader(bytes: Uint8Array, file: string): ImageHeader & { coded: number } {
  const corrupt = (why: string) => fileError(file, `is a corrupt JPEG (${why})`);
  let frame: { width: number; height: number } | null = null;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw corrupt(`no marker at byte ${at}`);
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd9) break; // end of image
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // markers without a length
      continue;
    }
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    if (SOF_MARKERS.has(marker)) {
      if (at + 9 > bytes.length) break;
      frame = { height: (bytes[at + 5] << 8) | bytes[at + 6], width: (bytes[at + 7] << 8) | bytes[at + 8] };
    }
    if (marker === 0xda) {
      if (!frame) throw corrupt('no frame header (SOF) before the first scan');
      return { format: 'jpeg', ...frame, coded: bytes.length - at };
    }
    at += 2 + length;
  }
  if (!frame) throw corrupt('no frame header (SOF)');
  return { format: 'jpeg', ...frame, coded: 0 };
}

/** The format and declared size of a JPEG or PNG file, read from its header alone. */
export function readImageHeader(bytes: Uint8Array, file: string): ImageHeader {
  if (isJpeg(bytes)) {
    const { format, width, height } = jpegHeader(bytes, file);
    return { format, width, height };
  }
  if (isPng(bytes)) {
    const { format, width, height } = pngHeader(bytes, file);
    return { format, width, height };
  }
  throw fileError(file, 'is neither a JPEG nor a PNG image (its first bytes are not a JPEG or PNG signature)');
}

/** Refuses a declared size that is out of bounds or that the file's data cannot hold (see the module comment). */
function checkDeclaredSize(bytes: Uint8Array, file: string): void {
  const h = isJpeg(bytes) ? jpegHeader(bytes, file) : isPng(bytes) ? pngHeader(bytes, file) : null;
  if (h === null) return; // decodeImage names the problem
  if (h.width === 0 || h.height === 0) throw fileError(file, `is ${h.width}x${h.height} pixels; an image needs at least one pixel`);
  if (h.width > MAX_IMAGE_SIDE || h.height > MAX_IMAGE_SIDE) {
    throw fileError(file, `is ${h.width}x${h.height} pixels; images up to ${MAX_IMAGE_SIDE}x${MAX_IMAGE_SIDE} are supported`);
  }
  if ('inflated' in h && h.inflated > MAX_DEFLATE_RATIO * h.idat + 1024) {
    throw fileError(file, `declares ${h.width}x${h.height} pixels (${h.inflated} bytes once inflated) but holds only ${h.idat} bytes of compressed data (truncated or damaged?)`);
  }
  if ('inflated' in h && h.width * h.height > MAX_PIXELS_PER_BYTE * h.idat + FREE_PIXELS) {
    // possible for 1- to 8-bit grey images, but each pixel becomes 10 bytes once decoded
    throw fileError(file, `declares ${h.width}x${h.height} pixels in only ${h.idat} bytes of compressed data; images over ${FREE_PIXELS} pixels may hold at most ${MAX_PIXELS_PER_BYTE} pixels per compressed byte`);
  }
  if ('coded' in h) {
    // One coded bit per 8x8 block at least: every Huffman-coded block codes its DC coefficient
    // (the standard tables take 6 bits for an empty luminance block), and the luminance
    // component has a block for every 8x8 pixels.
    const blocks = Math.ceil(h.width / 8) * Math.ceil(h.height / 8);
    if (8 * h.coded < blocks) {
      throw fileError(file, `declares ${h.width}x${h.height} pixels but holds only ${h.coded} bytes of coded data, too few for that many 8x8 blocks (truncated or damaged?)`);
    }
  }
}

/** Decodes `bytes` read from `file` (named in errors), after checking the size its header declares. */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  checkDeclaredSize(bytes, file);
  if (isJpeg(bytes)) {
    try {
      // tolerantDecoding: false, so a damaged file is an error instead of a partly grey image.
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        tolerantDecoding: false,
        maxResolutionInMP: (MAX_IMAGE_SIDE * MAX_IMAGE_SIDE) / 1e6,
        maxMemoryUsageInMB: 512,
      });
      if (img.data.length !== img.width * img.height * 3) throw new Error('unexpected pixel count');
      return { width: img.width, height: img.height, rgb: img.data };
    } catch (err) {
      throw fileError(file, `is a corrupt JPEG (${(err as Error).message ?? String(err)})`);
    }
  }
  if (isPng(bytes)) {
    let png: { width: number; height: number; data: Uint8Array };
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (err) {
      throw fileError(file, `is a corrupt PNG (${(err as Error).message ?? String(err)})`);
    }
    // pngjs gives RGBA with 8 bits per channel (16-bit images are rescaled).
    const n = png.width * png.height;
    const rgb = new Uint8Array(n * 3);
    for (let p = 0; p < n; p++) {
      rgb[3 * p] = png.data[4 * p];
      rgb[3 * p + 1] = png.data[4 * p + 1];
      rgb[3 * p + 2] = png.data[4 * p + 2];
    }
    return { width: png.width, height: png.height, rgb };
  }
  throw fileError(file, 'is neither a JPEG nor a PNG image (its first bytes are not a JPEG or PNG signature)');
}
