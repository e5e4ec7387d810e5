/**
 * Encoding and resizing: RGB pixels to PNG, JPEG or WebP bytes that say what they
 * are (metadata.ts builds what they say), and nearest/lanczos upscaling.
 *
 * - PNG: sharp encodes, then the parameters, XMP and tessera chunks are added.
 * - JPEG and WebP (through sharp's withXmp/withExif, libvips writes APP1 /
 *   RIFF XMP and EXIF): the same XMP packet, which also carries the parameters text
 *   as `dc:description` (UTF-8, so nothing is lost), and the parameters text as the
 *   EXIF UserComment, as A1111 does for JPEG. libvips writes EXIF strings as ASCII
 *   and turns other characters into '?', so the UserComment is written only when
 *   the text is ASCII; the XMP description always has it. There is no `tessera`
 *   JSON in JPEG/WebP.
 */
import { TesseraError } from '../errors.js';
import type { RgbImage } from '../types.js';
import { addPngMetadata, buildXmpPacket, digitalSourceTypeOf, formatParameters, validateMetadata, type ImageMetadata } from './metadata.js';
import { rgbFromSharp, sharpFromRgb } from './rgb.js';

export type ImageFormat = 'png' | 'jpeg' | 'webp';
export const IMAGE_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp'];

export type UpscaleKernel = 'nearest' | 'lanczos3';

/** Encodes an RGB image as PNG (sharp, no metadata of its own) and adds Tessera's chunks. */
export async function encodePng(image: RgbImage, meta: ImageMetadata): Promise<Buffer> {
  const png = await sharpFromRgb(image).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer();
  return addPngMetadata(png, meta);
}

/**
 * A PNG with no metadata at sharp's default settings: pictures about images
 * (contact sheets, sample pages, previews) rather than generated images.
 * `opaqueAlpha` writes RGBA with alpha 255, the form the eval contact sheet and the
 * shapes sample page have always had (sharp's composite added the channel), so
 * their bytes stay the same.
 */
export async function encodePlainPng(image: RgbImage, { opaqueAlpha = false }: { opaqueAlpha?: boolean } = {}): Promise<Buffer> {
  const pipeline = sharpFromRgb(image);
  return (opaqueAlpha ? pipeline.ensureAlpha(1) : pipeline).png().toBuffer();
}

/** Encodes in any supported format; see the module comment for what each format carries. `quality` (1-100) applies to jpeg and webp. */
export async function encodeImage(image: RgbImage, format: ImageFormat, meta: ImageMetadata, quality = 92): Promise<Buffer> {
  if (format === 'png') return encodePng(image, meta);
  if (format !== 'jpeg' && format !== 'webp') {
    throw new TesseraError('TESSERA_ERR_OPTION', `invalid image format ${JSON.stringify(format)}: expected one of "png", "jpeg", "webp"`, {
      param: 'format',
    });
  }
  validateMetadata(meta);
  const parameters = formatParameters(meta, image);
  let pipeline = sharpFromRgb(image).withXmp(buildXmpPacket(parameters, digitalSourceTypeOf(meta)));
  // libvips writes EXIF strings as ASCII (other characters become '?'): only write a lossless UserComment.
  // IFD2 is libexif's EXIF sub-IFD, where UserComment (tag 0x9286) lives.
  // eslint-disable-next-line no-control-regex -- an ASCII test includes the control range
  if (/^[\x00-\x7f]*$/.test(parameters)) pipeline = pipeline.withExif({ IFD2: { UserComment: parameters } });
  pipeline = format === 'jpeg' ? pipeline.jpeg({ quality, mozjpeg: true }) : pipeline.webp({ quality });
  return pipeline.toBuffer();
}

/**
 * Resizes to `size` (a square side or width/height). Nearest keeps the token
 * grid's hard edges; lanczos3 is smoother for photographs.
 */
export async function upscale(
  image: RgbImage,
  size: number | { width: number; height: number },
  kernel: UpscaleKernel = 'nearest',
): Promise<RgbImage> {
  const { width, height } = typeof size === 'number' ? { width: size, height: size } : size;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 16384 || height > 16384) {
    throw new TesseraError('TESSERA_ERR_OPTION', `invalid output size ${width}x${height}: expected integers in [1, 16384]`, {
      param: 'size',
    });
  }
  return rgbFromSharp(sharpFromRgb(image).resize(width, height, { kernel, fit: 'fill' }));
}
