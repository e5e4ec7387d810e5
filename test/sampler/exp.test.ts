import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastExp } from '../../src/sampler/exp.js';

/** The distance in ulps between two positive doubles (their bit patterns are ordered as they are). */
function ulps(a: number, b: number): number {
  const view = new DataView(new ArrayBuffer(16));
  view.setFloat64(0, a);
  view.setFloat64(8, b);
  return Math.abs(Number(view.getBigInt64(0) - view.getBigInt64(8)));
}

describe('fastExp', () => {
  it('is within two ulps of Math.exp over the range the draw uses and beyond', () => {
    // Math.exp is within one ulp of the true value here and fastExp within 1.7 (measured against
    // 60-digit decimals, 2026-12-06): two ulps apart at most, whichever way each rounds.
    fc.assert(
      fc.property(fc.double({ min: -708, max: 709, noNaN: true }), (x) => {
        expect(ulps(fastExp(x), Math.exp(x))).toBeLessThanOrEqual(2);
      }),
      { numRuns: 20000 },
    );
    for (let x = -60; x <= 1; x += 1 / 1024) expect(ulps(fastExp(x), Math.exp(x))).toBeLessThanOrEqual(2);
  });

  it('is exact where exp is: 1 at 0, and the library value outside its range', () => {
    expect(fastExp(0)).toBe(1);
    expect(fastExp(-0)).toBe(1);
    for (const x of [-Infinity, -1000, -708.5, -745, 709.5, 710, Infinity, Number.NaN]) expect(Object.is(fastExp(x), Math.exp(x))).toBe(true);
  });

  it('is monotone across the table boundaries (no step down where j wraps)', () => {
    for (let k = -2000; k < 2000; k++) {
      const x = (k * Math.LN2) / 128;
      const below = fastExp(x - 1e-12);
      const at = fastExp(x);
      const above = fastExp(x + 1e-12);
      expect(below).toBeLessThanOrEqual(at);
      expect(at).toBeLessThanOrEqual(above);
    }
  });
});
