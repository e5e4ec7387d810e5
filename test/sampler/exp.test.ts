import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expNonPositive } from '../../src/sampler/exp.js';

/** Distance in units in the last place of b (b a normal double). */
const ulps = (a: number, b: number) => Math.abs(a - b) / (Number.EPSILON * 2 ** Math.floor(Math.log2(b)));

describe('expNonPositive', () => {
  it('is within 2 ulp of Math.exp over the softmax range (x <= 0)', () => {
    // Logit gaps are mostly small; the far tail runs down to where results turn subnormal.
    const x = fc.oneof(fc.double({ min: -40, max: 0, noNaN: true }), fc.double({ min: -708, max: 0, noNaN: true }));
    fc.assert(
      fc.property(x, (v) => {
        expect(ulps(expNonPositive(v), Math.exp(v))).toBeLessThanOrEqual(2);
      }),
      { numRuns: 20000 },
    );
  });

  it('is exact at 0, table points and powers of two', () => {
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-0)).toBe(1);
    expect(expNonPositive(-Math.LN2)).toBeCloseTo(0.5, 15);
    expect(expNonPositive(-10 * Math.LN2)).toBeCloseTo(2 ** -10, 18);
  });

  it('maps -Infinity and deep underflow to 0, keeps NaN, and stays tiny but finite near the subnormal edge', () => {
    expect(expNonPositive(-Infinity)).toBe(0);
    expect(expNonPositive(-1e6)).toBe(0);
    expect(expNonPositive(-746)).toBe(0);
    expect(expNonPositive(Number.NaN)).toBeNaN();
    const edge = expNonPositive(-740);
    expect(edge).toBeGreaterThan(0);
    expect(Math.abs(edge - Math.exp(-740)) / Math.exp(-740)).toBeLessThan(1e-6); // subnormal: fewer bits to match
  });
});
