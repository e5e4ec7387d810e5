/**
 * Mild degradations like those of images decoded from tokens: gaussian blur and
 * uniform per-channel noise. Used to test that the judge is stable under them.
 */
import type { Rng } from './prng.js';
import { IMAGE_SIZE } from './world.js';

export function gaussianBlur(data: Uint8Array, sigma: number): Uint8Array {
  const n = IMAGE_SIZE;
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel: number[] = [];
  for (let i = -radius; i <= radius; i++) kernel.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const total = kernel.reduce((s, v) => s + v, 0);
  const weights = kernel.map((v) => v / total);
  const pass = (src: Float32Array, horizontal: boolean): Float32Array => {
    const out = new Float32Array(src.length);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (let k = -radius; k <= radius; k++) {
            // Edge pixels are clamped (replicated), as an image decoder's padding would.
            const sx = horizontal ? Math.min(n - 1, Math.max(0, x + k)) : x;
            const sy = horizontal ? y : Math.min(n - 1, Math.max(0, y + k));
            sum += weights[k + radius] * src[(sy * n + sx) * 3 + c];
          }
          out[(y * n + x) * 3 + c] = sum;
        }
      }
    }
    return out;
  };
  const blurred = pass(pass(Float32Array.from(data), true), false);
  return Uint8Array.from(blurred, (v) => Math.round(v));
}

/** Adds independent uniform noise in [-amplitude, amplitude] to every channel. */
export function addNoise(data: Uint8Array, amplitude: number, rng: Rng): Uint8Array {
  return Uint8Array.from(data, (v) => Math.min(255, Math.max(0, Math.round(v + (rng.next() * 2 - 1) * amplitude))));
}
