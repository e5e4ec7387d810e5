/**
 * Input images of image prompts (completion, edits, variations): PNG, JPEG or WebP
 * (formats.ts: sniffed from the bytes before any decoder runs), brought to the model's
 * square size, and masks whose fully transparent pixels mark what to change (OpenAI's
 * edits convention). Everything here is pixels; codes are the VQ codec's business
 * (src/vq/vq-codec.ts).
 *
 * Every decode is bounded (issue 23): bytes (MAX_INPUT_BYTES), pixels (sharp's
 * limitInputPixels), time (sharp's timeout, DECODE_TIMEOUT_SECONDS) and how many run at
 * once (DECODE_CONCURRENCY, so uploads never take every libuv thread from the server's
 * file work). sharp decodes on its own threads; the one JavaScript per-pixel loop (the
 * mask's) runs in a worker thread (pixel-pool.ts). Nothing here runs on the event loop
 * for longer than a few copies of the model-size image.
 */
import sharp, { type Sharp } from 'sharp';
import { TesseraError } from '../errors.js';
import type { RgbImage } from '../types.js';
import { ACCEPTED_FORMATS_TEXT, INPUT_FORMATS, refusedFormatOf, sniffInputFormat, type InputFormat } from './formats.js';
import { transparentInWorker } from './pixel-pool.js';

/** Bytes of one uploaded image or mask: OpenAI's limit for edits and variations (4 MB). */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;
/** Pixels of one input image: 4096x4096 (decompression bombs are refused before decoding). */
export const MAX_INPUT_PIXELS = 4096 * 4096;
/**
 * Longest one decode may run (sharp's timeout, whole seconds; the mask's pixel pass has the
 * same bound). A 4096x4096 JPEG or PNG takes well under a second on an idle core; the bound
 * leaves room for a machine 20 times oversubscribed (measured: 13 s there) and still ends
 * what a decoder should never do.
 */
export const DECODE_TIMEOUT_SECONDS = 30;
/** Input decodes at once in this process; the rest wait their turn. */
export const DECODE_CONCURRENCY = 2;

let decoding = 0;
const waiting: (() => void)[] = [];

/** Runs `work` when fewer than DECODE_CONCURRENCY decodes are running. */
async function bounded<T>(work: () => Promise<T>): Promise<T> {
  if (decoding >= DECODE_CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve));
  decoding += 1;
  try {
    return await work();
  } finally {
    decoding -= 1;
    waiting.shift()?.();
  }
}

/** A sharp pipeline over an input with every bound set. */
function decoder(data: Uint8Array): Sharp {
  return sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).timeout({ seconds: DECODE_TIMEOUT_SECONDS });
}

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

/** Size, then format: the bytes must be PNG, JPEG or WebP before any decoder sees them. */
function checkBytes(data: Uint8Array, param: string): InputFormat {
  if (data.length === 0) throw inputError(param, `${param} is empty (0 bytes): send a ${ACCEPTED_FORMATS_TEXT} image`);
  if (data.length > MAX_INPUT_BYTES) {
    throw new TesseraError('TESSERA_ERR_INPUT_IMAGE_TOO_LARGE', `${param} has ${data.length} bytes; at most ${MAX_INPUT_BYTES} (4 MiB) are allowed`, { param });
  }
  const format = sniffInputFormat(data);
  if (format !== null) return format;
  const refused = refusedFormatOf(data);
  if (refused !== null) {
    throw new TesseraError('TESSERA_ERR_INPUT_FORMAT', `${param} is ${refused}; accepted image formats are ${ACCEPTED_FORMATS_TEXT} (${INPUT_FORMATS.join(', ')})`, { param });
  }
  throw inputError(param, `${param} is not an image (its first bytes are no PNG, JPEG or WebP signature): send a ${ACCEPTED_FORMATS_TEXT} image`);
}

/** The decoder's failure in our words: its own text (libvips') goes to the cause, for the log only. */
function decodeError(param: string, format: InputFormat, error: unknown): TesseraError {
  if (error instanceof TesseraError) return error;
  const message = (error as Error).message ?? '';
  if (/timeout|took longer/i.test(message)) return inputError(param, `${param} took longer than ${DECODE_TIMEOUT_SECONDS} s to decode`, error);
  if (/pixel limit/i.test(message)) return inputError(param, `${param} has more than ${MAX_INPUT_PIXELS} pixels (4096x4096), the limit`, error);
  return inputError(param, `${param} cannot be decoded as ${format.toUpperCase()} (corrupt or truncated)`, error);
}

async function originOf(data: Uint8Array, param: string, format: InputFormat): Promise<InputOrigin & { hasAlpha: boolean }> {
  try {
    const meta = await decoder(data).metadata();
    if (meta.width === undefined || meta.height === undefined || meta.format === undefined) throw new Error('no size');
    if (meta.width * meta.height > MAX_INPUT_PIXELS) {
      throw inputError(param, `${param} is ${meta.width}x${meta.height}; at most ${MAX_INPUT_PIXELS} pixels (4096x4096) are allowed`);
    }
    return { width: meta.width, height: meta.height, format: meta.format, hasAlpha: meta.hasAlpha === true };
  } catch (error) {
    throw decodeError(param, format, error);
  }
}

/** Square crop of the centre, resized to size x size: "cover", as image prompts need the model's square. */
function toModelSize(data: Uint8Array, size: number): Sharp {
  return decoder(data).rotate().resize(size, size, { fit: 'cover', position: 'centre', kernel: 'lanczos3' });
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

/** Reads an input image (PNG, JPEG or WebP bytes) at the model's size; TESSERA_ERR_INPUT_IMAGE(_TOO_LARGE, _FORMAT) on bad input. */
export async function readInputImage(data: Uint8Array, size: number, param = 'image'): Promise<InputImage> {
  const format = checkBytes(data, param);
  return bounded(() => decodeInputImage(data, size, param, format));
}

async function decodeInputImage(data: Uint8Array, size: number, param: string, format: InputFormat): Promise<InputImage> {
  const origin = await originOf(data, param, format);
  try {
    const flat = await toModelSize(data, size).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const image: RgbImage = { width: size, height: size, data: new Uint8Array(flat.data.buffer, flat.data.byteOffset, flat.data.byteLength) };
    // An alpha channel that is opaque everywhere (a canvas export, say) flattens to nothing: not worth a notice.
    const translucent = origin.hasAlpha && !(await decoder(data).stats()).isOpaque;
    const transparent = translucent ? await transparentPixels(data, size) : null;
    const { hasAlpha: _hasAlpha, ...plain } = origin;
    return { image, origin: plain, adjusted: describeAdjustment(plain, size, translucent), transparent };
  } catch (error) {
    throw decodeError(param, format, error);
  }
}

/**
 * Per model pixel, 1 where the source was fully transparent (alpha 0), under the same
 * centre "cover" crop as the image (mask-pixels.ts, in the worker thread).
 */
async function transparentPixels(data: Uint8Array, size: number): Promise<Uint8Array> {
  const { data: alpha, info } = await decoder(data).rotate().ensureAlpha().extractChannel(3).raw().toBuffer({ resolveWithObject: true });
  return transparentInWorker(alpha, info.width, info.height, size, DECODE_TIMEOUT_SECONDS * 1000);
}

/**
 * Reads a mask: a PNG with an alpha channel, the same size as the image it masks, whose
 * fully transparent pixels mark what to change. Returns the changed pixels at the model's size.
 */
export async function readMask(data: Uint8Array, image: InputOrigin, size: number, param = 'mask'): Promise<Uint8Array> {
  const format = checkBytes(data, param);
  return bounded(() => decodeMask(data, image, size, param, format));
}

async function decodeMask(data: Uint8Array, image: InputOrigin, size: number, param: string, format: InputFormat): Promise<Uint8Array> {
  const origin = await originOf(data, param, format);
  if (origin.format !== 'png') throw new TesseraError('TESSERA_ERR_MASK', `${param} must be a PNG (its fully transparent pixels mark what to change), got ${origin.format}`, { param });
  if (!origin.hasAlpha) throw new TesseraError('TESSERA_ERR_MASK', `${param} has no alpha channel: make the pixels to change fully transparent`, { param });
  if (origin.width !== image.width || origin.height !== image.height) {
    throw new TesseraError('TESSERA_ERR_MASK', `${param} is ${origin.width}x${origin.height}; it must be the image's size, ${image.width}x${image.height}`, { param });
  }
  const changed = await transparentPixels(data, size).catch((error: unknown) => {
    throw decodeError(param, format, error);
  });
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
