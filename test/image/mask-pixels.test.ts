/**
 * The separable mask pass (src/image/mask-pixels.ts) gives exactly what marking each
 * transparent source pixel's rectangle gives (the implementation it replaced, kept here as
 * the reference), for masks smaller, larger and of other shapes than the model's square.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transparentFromAlpha } from '../../src/image/mask-pixels.js';

function reference(alpha: Uint8Array, width: number, height: number, size: number): Uint8Array {
  const scale = size / Math.min(width, height);
  const offsetX = (width * scale - size) / 2;
  const offsetY = (height * scale - size) / 2;
  const span = (p: number, offset: number): [number, number] => [
    Math.max(0, Math.floor(p * scale - offset + 1e-9)),
    Math.min(size - 1, Math.ceil((p + 1) * scale - offset - 1e-9) - 1),
  ];
  const changed = new Uint8Array(size * size);
  for (let y = 0; y < height; y++) {
    const [y0, y1] = span(y, offsetY);
    for (let x = 0; x < width; x++) {
      if (alpha[y * width + x] !== 0) continue;
      const [x0, x1] = span(x, offsetX);
      // A pixel cropped away reaches nothing (and fill() would read a negative end from the array's end).
      if (x1 < x0) continue;
      for (let my = y0; my <= y1; my++) changed.fill(1, my * size + x0, my * size + x1 + 1);
    }
  }
  return changed;
}

describe('the mask pass', () => {
  it('equals the per-pixel rectangles on random masks of any shape', () => {
    const mask = fc
      .record({ width: fc.integer({ min: 1, max: 150 }), height: fc.integer({ min: 1, max: 150 }), size: fc.constantFrom(8, 16, 64), density: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.integer() })
      .map(({ width, height, size, density, seed }) => {
        let state = seed >>> 0 || 1;
        const alpha = new Uint8Array(width * height).map(() => {
          state = (state * 1103515245 + 12345) >>> 0;
          return state / 2 ** 32 < density ? 0 : 255;
        });
        return { alpha, width, height, size };
      });
    fc.assert(
      fc.property(mask, ({ alpha, width, height, size }) => {
        expect(Array.from(transparentFromAlpha(alpha, width, height, size))).toEqual(Array.from(reference(alpha, width, height, size)));
      }),
      { numRuns: 300 },
    );
  });
});
