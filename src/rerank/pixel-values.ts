import { ImageProcessor, Processor, RawImage } from '@huggingface/transformers';
import type { RgbImage } from '../types.js';

/**
 * CLIP's input for images that are already its size, without transformers.js's processor
 * (issue 27: its JavaScript resize/crop/normalize took 20–68 ms for 32 images of 64x64, where
 * resize and crop do nothing). The arithmetic is the processor's own, in the same float32
 * steps, so the tensor is bit-for-bit the one it would build:
 *   pixelData = Float32Array.from(uint8)            (exact)
 *   pixelData[i] = rescale_factor * pixelData[i]    (rounded to float32 on store)
 *   pixelData[i] = (pixelData[i] - mean[c]) / std[c] (rounded to float32 on store)
 *   HWC -> CHW, images stacked: [N, 3, H, W]
 * (transformers.js 4.3 src/image_processors_utils.js, ImageProcessor.preprocess). As each
 * channel value is one of 256 bytes, the two roundings are tabulated once per channel.
 */
export interface DirectPixels {
  readonly width: number;
  readonly height: number;
  /** table[c * 256 + byte]: the normalized float32 of `byte` in channel c. */
  readonly table: Float32Array; // [3 * 256]
}

/** The fields of transformers.js's ImageProcessor that decide what preprocess() does (set by its constructor). */
interface ProcessorFields {
  do_crop_margin?: boolean;
  do_resize?: boolean;
  size?: unknown;
  do_thumbnail?: boolean;
  do_center_crop?: boolean;
  crop_size?: number | { width: number; height: number };
  do_rescale?: boolean;
  rescale_factor: number;
  do_normalize?: boolean;
  image_mean?: number | number[];
  image_std?: number | number[];
  do_pad?: boolean;
  do_flip_channel_order?: boolean;
  get_resize_output_image_size(image: RawImage, size: unknown): [number, number];
}

/**
 * The direct path for `width` x `height` RGB images through `processor`, or null when it is
 * not provably the processor's identity geometry: the processor must be transformers.js's
 * plain ImageProcessor code (no subclass overriding preprocess, resize, rescale or _call);
 * no crop-margin, thumbnail, padding or channel flip; its own resize rule must give back the
 * same size (RawImage.resize then returns the image untouched) and its centre crop, if any,
 * must be that size too (center_crop then returns it untouched).
 */
export function directPixels(processor: Processor, width: number, height: number): DirectPixels | null {
  const image = processor.image_processor;
  if (image === undefined || processor._call !== Processor.prototype._call) return null;
  const base = ImageProcessor.prototype;
  if (image.preprocess !== base.preprocess || image.resize !== base.resize || image.rescale !== base.rescale || image._call !== base._call) return null;
  const p = image as unknown as ProcessorFields;
  if (p.do_crop_margin || p.do_thumbnail || p.do_pad || p.do_flip_channel_order) return null;
  if (p.do_resize) {
    const [w, h] = p.get_resize_output_image_size(new RawImage(new Uint8ClampedArray(width * height * 3), width, height, 3), p.size);
    if (w !== width || h !== height) return null;
  }
  if (p.do_center_crop) {
    const crop = typeof p.crop_size === 'number' ? { width: p.crop_size, height: p.crop_size } : p.crop_size;
    if (crop === undefined || crop.width !== width || crop.height !== height) return null;
  }
  const perChannel = (value: number | number[] | undefined): number[] | null => {
    const values = Array.isArray(value) ? value : value === undefined ? [] : [value, value, value];
    return values.length === 3 ? values : null;
  };
  const mean = perChannel(p.image_mean);
  const std = perChannel(p.image_std);
  if (p.do_normalize && (mean === null || std === null)) return null;
  const table = new Float32Array(3 * 256); // [3 * 256]
  const step = new Float32Array(1); // one float32 store, as the processor's pixelData[i] = ...
  for (let c = 0; c < 3; c++) {
    for (let byte = 0; byte < 256; byte++) {
      step[0] = byte;
      if (p.do_rescale) step[0] = p.rescale_factor * step[0];
      if (p.do_normalize && mean !== null && std !== null) step[0] = (step[0] - mean[c]) / std[c];
      table[c * 256 + byte] = step[0];
    }
  }
  return { width, height, table };
}

/** The normalized pixels of `images` (each `direct.width` x `direct.height` RGB) as CLIP's pixel_values: [N, 3, H, W] float32. */
export function pixelValues(images: readonly RgbImage[], direct: DirectPixels): Float32Array {
  const { width, height, table } = direct;
  const plane = width * height;
  const out = new Float32Array(images.length * 3 * plane); // [N, 3, H, W]
  images.forEach((image, n) => {
    if (image.width !== width || image.height !== height || image.data.length !== plane * 3) {
      throw new RangeError(`pixelValues: image ${n} is ${image.width}x${image.height}, the direct path is for ${width}x${height} RGB`);
    }
    const data = image.data; // [H, W, 3]
    const base = n * 3 * plane;
    for (let i = 0; i < plane; i++) {
      out[base + i] = table[data[3 * i]];
      out[base + plane + i] = table[256 + data[3 * i + 1]];
      out[base + 2 * plane + i] = table[512 + data[3 * i + 2]];
    }
  });
  return out;
}
