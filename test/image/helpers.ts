import type { RgbImage } from '../../src/types.js';
import type { ImageMetadata } from '../../src/image/metadata.js';

/** A deterministic test pattern: every pixel differs from its neighbours. */
export function patternImage(width: number, height: number, salt = 0): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + salt * 101) % 256;
  return { width, height, data };
}

export function solidImage(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

export const SAMPLE_META: ImageMetadata = {
  prompt: 'a red cube on a blue sphere',
  negativePrompt: 'blurry',
  seed: 7,
  candidateIndex: 3,
  steps: 64,
  temperature: 1,
  topK: 0,
  topP: 1,
  guidanceScale: 3,
  candidates: 32,
  model: 'shapes-tiny',
  score: 0.3121,
  rank: 1,
};
