/**
 * Raw RGB images (the pipeline's RgbImage) at the boundary with sharp: the one
 * TESSERA_ERR_IMAGE constructor of the image modules, the size check, and the
 * conversions to and from a sharp pipeline.
 */
import sharp, { type Sharp } from 'sharp';
import { TesseraError } from '../errors.js';
import type { RgbImage } from '../types.js';

/** A TESSERA_ERR_IMAGE error: a bad, corrupt or mis-sized image. */
export function imageError(message: string, options: { param?: string; cause?: unknown } = {}): TesseraError {
  return new TesseraError('TESSERA_ERR_IMAGE', message, options);
}

/** Throws TESSERA_ERR_IMAGE unless `image` has a positive integer size and width * height * 3 bytes. */
export function validateRgbImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw imageError(`invalid image size ${width}x${height}: expected positive integers`);
  }
  if (data.length !== width * height * 3) {
    throw imageError(`image data has ${data.length} bytes, expected ${width * height * 3} (width * height * 3, RGB)`);
  }
}

/** A sharp pipeline reading `image`'s pixels in place (no copy). */
export function sharpFromRgb(image: RgbImage): Sharp {
  validateRgbImage(image);
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
}

/** Runs `pipeline` to raw RGB pixels (alpha dropped). */
export async function rgbFromSharp(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw imageError(`image processing produced ${info.channels} channels, expected 3`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
