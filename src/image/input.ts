/**
 * Input images of image prompts (completion, edits, variations): any format sharp reads,
 * brought to the model's square size, and masks whose fully transparent pixels mark what
 * to change (OpenAI's edits convention). Everything here is pixels; codes are the
 * VQ codec's business (src/vq/vq-codec.ts).
 */
import sharp, { type Sharp } from 'sharp';
import { TesseraError } from '../errors.js';
import type { RgbImage } from '../types.js';

/** Bytes of one uploaded image or mask: OpenAI's limit for edits and variations (4 MB). */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;
/** Pixels of one input image: 4096x4096 (decompression bombs are refused before decoding). */
export const MAX_INPUT_PIXELS = 4096 * 4096;

/** What an input image was before it was brought to the model's size. */
export interface InputOrigin {
  width: number;
  height: number;
  format: string;
}

export interface InputImage {
  /** The image at the model's size, alpha flattened onto white. */
  image: RgbImage;
  origin: InputOrigin;
  /** What was done to fit the model ("resized from 300x200 and centre-cropped to 64x64"), or null when nothing was. */
  adjusted: string | null;
  /** Per model pixel, 1 where the source was fully transparent (size * size); null when the source is opaque. */
  transparent: Uint8Array | null;
}

function inputError(param: string, message: string, cause?: unknown): TesseraError {
  return new TesseraError('TESSERA_ERR_INPUT_IMAGE', message, cause === undefined ? { param } : { param, cause });
}

function checkBytes(data: Uint8Array, param: string): void {
  if (data.length === 0) throw inputError(param, `${param} is empty (0 bytes): send a PNG, JPEG or WebP image`);
  if (data.length > MAX_INPUT_BYTES) {
    throw new TesseraError('TESSERA_ERR_INPUT_IMAGE_TOO_LARGE', `${param} has ${data.length} bytes; at most ${MAX_INPUT_BYTES} (4 MiB) are allowed`, { param });
  }
}

async function originOf(data: Uint8Array, param: string): Promise<InputOrigin & { hasAlpha: boolean }> {
  try {
    const meta = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    if (meta.width === undefined || meta.height === undefined || meta.format === undefined) throw new Error('no size');
    if (meta.width * meta.height > MAX_INPUT_PIXELS) {
      throw inputError(param, `${param} is ${meta.width}x${meta.height}; at most ${MAX_INPUT_PIXELS} pixels (4096x4096) are allowed`);
    }
    return { width: meta.width, height: meta.height, format: meta.format, hasAlpha: meta.hasAlpha === true };
  } catch (error) {
    if (error instanceof TesseraError) throw error;
    throw inputError(param, `${param} is not an image sharp can read (PNG, JPEG, WebP, GIF, TIFF, AVIF): ${(error as Error).message}`, error);
  }
}

/** Square crop of the centre, resized to size x size: "cover", as image prompts need the model's square. */
function toModelSize(data: Uint8Array, size: number): Sharp {
  return sharp(data, { limitInputPixels: MAX_INPUT_PIXELS }).rotate().resize(size, size, { fit: 'cover', position: 'centre', kernel: 'lanczos3' });
}

function describeAdjustment(origin: InputOrigin, size: number, hasAlpha: boolean): string | null {
  const notes: string[] = [];
  if (origin.width !== size || origin.height !== size) {
    const cropped = origin.width !== origin.height ? ' and centre-cropped' : '';
    notes.push(`resized from ${origin.width}x${origin.height}${cropped} to ${size}x${size}`);
  }
  if (origin.format !== 'png') notes.push(`converted from ${origin.format}`);
  if (hasAlpha) notes.push('transparency flattened onto white');
  return notes.length === 0 ? null : notes.join(', ');
}

/** Reads an input image (bytes of any format sharp reads) at the model's size; TESSERA_ERR_INPUT_IMAGE(_TOO_LARGE) on bad input. */
export async function readInputImage(data: Uint8Array, size: number, param = 'image'): Promise<InputImage> {
  checkBytes(data, param);
  const origin = await originOf(data, param);
  try {
    const flat = await toModelSize(data, size).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const image: RgbImage = { width: size, height: size, data: new Uint8Array(flat.data.buffer, flat.data.byteOffset, flat.data.byteLength) };
    // An alpha channel that is opaque everywhere (a canvas export, say) flattens to nothing: not worth a notice.
    const translucent = origin.hasAlpha && !(await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS }).stats()).isOpaque;
    const transparent = translucent ? await transparentPixels(data, size) : null;
    const { hasAlpha: _hasAlpha, ...plain } = origin;
    return { image, origin: plain, adjusted: describeAdjustment(plain, size, translucent), transparent };
  } catch (error) {
    if (error instanceof TesseraError) throw error;
    throw inputError(param, `${param} cannot be decoded: ${(error as Error).message}`, error);
  }
}

/**
 * Per model pixel, 1 where the source was fully transparent (alpha 0), under the same
 * centre "cover" crop as the image. Each transparent source pixel marks every model pixel
 * its area reaches, so the region to change only grows (never a blurred edge's guess).
 */
async function transparentPixels(data: Uint8Array, size: number): Promise<Uint8Array> {
  const { data: alpha, info } = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS }).rotate().ensureAlpha().extractChannel(3).raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const scale = size / Math.min(width, height);
  const offsetX = (width * scale - size) / 2;
  const offsetY = (height * scale - size) / 2;
  // The model pixels [first, last] a source pixel's extent [p*scale - offset, (p+1)*scale - offset) reaches.
  const span = (p: number, offset: number): [number, number] => [
    Math.max(0, Math.floor(p * scale - offset + 1e-9)),
    Math.min(size - 1, Math.ceil((p + 1) * scale - offset - 1e-9) - 1),
  ];
  const changed = new Uint8Array(size * size); // [size, size]
  for (let y = 0; y < height; y++) {
    const [y0, y1] = span(y, offsetY);
    for (let x = 0; x < width; x++) {
      if (alpha[y * width + x] !== 0) continue; // alpha: [h, w]
      const [x0, x1] = span(x, offsetX);
      for (let my = y0; my <= y1; my++) changed.fill(1, my * size + x0, my * size + x1 + 1);
    }
  }
  return changed;
}

/**
 * Reads a mask: a PNG with an alpha channel, the same size as the image it masks, whose
 * fully transparent pixels mark what to change. Returns the changed pixels at the model's size.
 */
export async function readMask(data: Uint8Array, image: InputOrigin, size: number, param = 'mask'): Promise<Uint8Array> {
  checkBytes(data, param);
  const origin = await originOf(data, param);
  if (origin.format !== 'png') throw new TesseraError('TESSERA_ERR_MASK', `${param} must be a PNG (its fully transparent pixels mark what to change), got ${origin.format}`, { param });
  if (!origin.hasAlpha) throw new TesseraError('TESSERA_ERR_MASK', `${param} has no alpha channel: make the pixels to change fully transparent`, { param });
  if (origin.width !== image.width || origin.height !== image.height) {
    throw new TesseraError('TESSERA_ERR_MASK', `${param} is ${origin.width}x${origin.height}; it must be the image's size, ${image.width}x${image.height}`, { param });
  }
  const changed = await transparentPixels(data, size);
  if (!changed.includes(1)) throw new TesseraError('TESSERA_ERR_MASK', `${param} has no fully transparent pixel: nothing would change`, { param });
  return changed;
}

/**
 * Changed pixels (size * size) to grid cells: a cell is resampled when any of its pixels
 * is to change. A code covers a whole cell, so a mask is rounded outwards to cell edges.
 */
export function maskToGrid(changed: Uint8Array, size: number, grid: { height: number; width: number }): Uint8Array {
  const cells = new Uint8Array(grid.height * grid.width); // [gh, gw]
  for (let y = 0; y < size; y++) {
    const gy = Math.min(grid.height - 1, Math.floor((y * grid.height) / size));
    for (let x = 0; x < size; x++) {
      if (changed[y * size + x]) cells[gy * grid.width + Math.min(grid.width - 1, Math.floor((x * grid.width) / size))] = 1;
    }
  }
  return cells;
}
