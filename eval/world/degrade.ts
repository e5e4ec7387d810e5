/**
 * Mild degradations like those of images decoded from tokens: gaussian blur and
 * uniform per-channel noise. Used to test that the judge is stable under them.
 */
import type { Rng } from './prng.js';

/** Blurs an n x n RGB image (row-major, interleaved). */
export function gaussianBlur(data: Uint8Array, sigma: number, n: number): Uint8Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel: number[] = [];
  for (let i = -radius; i <= radius; i++) kernel.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const total = kernel.reduce((s, v) => s + v, 0);
  const weights = kernel.map((v) => v / total);
  // Edge pixels are clamped (replicated), as an image decoder's padding would be.
  const clamp = (v: number): number => (v < 0 ? 0 : v >= n ? n - 1 : v);
  const pass = (src: Float32Array, horizontal: boolean): Float32Array => {
    const out = new Float32Array(src.length);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = -radius; k <= radius; k++) {
          const q = 3 * (horizontal ? y * n + clamp(x + k) : clamp(y + k) * n + x);
          const w = weights[k + radius];
          r += w * src[q];
          g += w * src[q + 1];
          b += w * src[q + 2];
        }
        const p = 3 * (y * n + x);
        out[p] = r;
        out[p + 1] = g;
        out[p + 2] = b;
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
