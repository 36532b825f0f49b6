/**
 * Decodes one JPEG or PNG file to 8-bit RGB, [H, W, 3] interleaved, with the libraries `jpeg-js`
 * and `pngjs` (pure JavaScript, so nothing native to build). The format is told by the file's
 * first bytes, not its name. Alpha is dropped; grey and palette images come out as RGB.
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

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function isPng(bytes: Uint8Array): boolean {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return bytes.length >= 8 && signature.every((b, i) => bytes[i] === b);
}

/** Decodes `bytes` read from `file` (named in errors). */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  if (isJpeg(bytes)) {
    try {
      // tolerantDecoding: false, so a damaged file is an error instead of a partly grey image.
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
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
