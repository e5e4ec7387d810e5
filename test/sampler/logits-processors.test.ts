import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyGuidance,
  buildProcessors,
  kthLargest,
  processAndSample,
  sampleIndex,
  sampleTopK,
  softmaxWeights,
  temperature,
  topK,
  topP,
} from '../../src/sampler/logits-processors.js';
import { CandidateStream } from '../../src/sampler/rng.js';

/** Processors here ignore where the row is; any context will do. */
const AT = { sequence: 0, position: 0 };
const row = (...values: number[]) => Float64Array.from(values);
const kept = (logits: Float64Array) => Array.from(logits, (v, i) => (v === -Infinity ? -1 : i)).filter((i) => i >= 0);

describe('temperature', () => {
  it('1 is a no-op and 0 keeps only the argmax (lowest index on ties)', () => {
    expect(temperature(1)).toBeNull();
    const logits = row(1, 3, 3, 2);
    temperature(0)!(logits, AT);
    expect(kept(logits)).toEqual([1]);
  });
  it('divides logits, so high temperature flattens the distribution', () => {
    const logits = row(2, 4);
    temperature(2)!(logits, AT);
    expect(Array.from(logits)).toEqual([1, 2]);
  });
});

describe('top-k', () => {
  it('k <= 0 is a no-op', () => {
    expect(topK(0)).toBeNull();
    expect(topK(-3)).toBeNull();
  });
  it('k >= vocabulary size is a no-op', () => {
    const logits = row(0.1, 0.5, 0.2);
    topK(3)!(logits, AT);
    topK(10)!(logits, AT);
    expect(kept(logits)).toEqual([0, 1, 2]);
  });
  it('keeps the k largest, ties going to the lower index', () => {
    const logits = row(1, 5, 3, 5, 3, 0);
    topK(3)!(logits, AT);
    expect(kept(logits)).toEqual([1, 2, 3]);
  });
});

describe('top-p', () => {
  it('1.0 is a no-op', () => {
    expect(topP(1)).toBeNull();
  });
  it('keeps the smallest most-likely set reaching the mass', () => {
    const logits = row(Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05));
    topP(0.75)!(logits, AT);
    expect(kept(logits)).toEqual([0, 1]);
  });
  it('always keeps the most likely token, even for a tiny p', () => {
    const logits = row(0, 2, 1);
    topP(1e-9)!(logits, AT);
    expect(kept(logits)).toEqual([1]);
  });
});

describe('guidance', () => {
  it('mixes u + s * (c - u), and scale 1 returns the conditional logits', () => {
    const out = new Float64Array(2);
    applyGuidance(Float32Array.from([2, 0]), Float32Array.from([1, 1]), 3, out);
    expect(Array.from(out)).toEqual([4, -2]);
    applyGuidance(Float32Array.from([2, 0]), Float32Array.from([1, 1]), 1, out);
    expect(Array.from(out)).toEqual([2, 0]);
  });
});

describe('sampling', () => {
  it('never draws a removed token, at u near 0 and near 1', () => {
    const chain = buildProcessors({ temperature: 1, topK: 2, topP: 1 });
    for (const u of [0, 1e-12, 0.5, 1 - 2 ** -53]) {
      const token = processAndSample(row(0, 10, 9, 1), chain, u, AT);
      expect([1, 2]).toContain(token);
    }
  });

  it('draws tokens with the frequencies of the softmax (chi-square, 9 dof)', () => {
    const logits = row(0.5, -1, 2, 0, 1.5, -0.5, 1, -2, 0.2, 0.8);
    const weights = new Float64Array(logits.length);
    const total = softmaxWeights(logits, weights);
    const draws = 40_000;
    const counts = new Array(logits.length).fill(0);
    const stream = new CandidateStream(1234, 0);
    for (let n = 0; n < draws; n++) counts[sampleIndex(Float64Array.from(logits), stream.uniform())]++;
    let chiSquare = 0;
    for (let i = 0; i < logits.length; i++) {
      const expected = (draws * weights[i]) / total;
      chiSquare += (counts[i] - expected) ** 2 / expected;
    }
    // 27.88 is the 0.999 quantile of chi-square with 9 degrees of freedom.
    expect(chiSquare).toBeLessThan(27.88);
  });

  it('streams are uniform, independent of each other and reproducible', () => {
    const a = new CandidateStream(7, 0);
    const b = new CandidateStream(7, 1);
    const again = new CandidateStream(7, 0);
    let mean = 0;
    let same = 0;
    for (let n = 0; n < 10_000; n++) {
      const u = a.uniform();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      expect(again.uniform()).toBe(u);
      if (b.uniform() === u) same++;
      mean += u / 10_000;
    }
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(same).toBe(0);
  });
});

describe('kthLargest', () => {
  const bySort = (values: Float64Array, k: number) => Float64Array.from(values).sort()[values.length - k];

  it('is the value a sort gives, for any k, with ties and -Infinity', () => {
    // Small integer ranges make many ties; -Infinity is what earlier processors write.
    const value = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constant(-Infinity), fc.double({ min: -50, max: 50, noNaN: true }));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 300 }), fc.nat(), (items, pick) => {
        const values = Float64Array.from(items);
        const k = 1 + (pick % values.length);
        // + 0 makes -0 and +0 one value: the sort orders them, the selection (< and >) does
        // not, and top-k's comparisons treat them alike (a run with both failed on Node 24).
        expect(kthLargest(values, k, new Float64Array(values.length + 3)) + 0).toBe(bySort(values, k) + 0);
      }),
      { numRuns: 500 },
    );
  });

  it('handles a long run of equal values and leaves its input alone', () => {
    const values = new Float64Array(5000).fill(2);
    values[17] = 9;
    const copy = Float64Array.from(values);
    expect(kthLargest(values, 1, new Float64Array(5000))).toBe(9);
    expect(kthLargest(values, 2, new Float64Array(5000))).toBe(2);
    expect(values).toEqual(copy);
  });
});

describe('sampleTopK (the fused top-k draw processAndSample uses)', () => {
  it('draws the token topK then sampleIndex draw, for any row, k and u, ties and -Infinity included', () => {
    const value = fc.oneof(fc.integer({ min: -4, max: 4 }), fc.constant(-Infinity), fc.double({ min: -60, max: 60, noNaN: true }));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 400 }), fc.nat(), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (items, pick, u) => {
        const logits = Float64Array.from(items);
        const k = 1 + (pick % (logits.length + 2)); // k >= length too: a no-op top-k
        const masked = Float64Array.from(logits);
        topK(k)!(masked, AT);
        const expected = sampleIndex(masked, u);
        const fused = processAndSample(Float64Array.from(logits), [topK(k)!], u, AT, new Float64Array(logits.length));
        expect(fused).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('takes the fused path only when top-k ends the chain, after the processors before it', () => {
    const logits = row(0, 3, 1, 3, 2, -Infinity, 3);
    const chain = [temperature(0.5)!, topK(2)!];
    for (const u of [0, 0.3, 0.6, 0.99]) {
      const masked = Float64Array.from(logits);
      for (const p of chain) p(masked, AT);
      expect(processAndSample(Float64Array.from(logits), chain, u, AT)).toBe(sampleIndex(masked, u));
    }
    // Ties at the threshold: the lower indices keep their places (1 and 3 of the three 3s).
    const draws = new Set([0, 0.2, 0.4, 0.6, 0.8, 0.99].map((u) => processAndSample(Float64Array.from(logits), [topK(2)!], u, AT)));
    expect([...draws].sort()).toEqual([1, 3]);
  });

  it("draws the masked walk's token on long rows whose stride sample misleads (the floor above the k-th largest: the exact path)", () => {
    // sampleTopK first bounds the threshold from every 8th value; these rows put their largest values on that stride,
    // or only off it, or sorted, or all ties, so the floor it finds is too high, too low or exact.
    const shapes = ['on-stride', 'off-stride', 'rising', 'falling', 'ties'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...shapes), fc.integer({ min: 64, max: 3000 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (shape, n, k, seed, u) => {
        const stream = new CandidateStream(seed, 0);
        const logits = Float64Array.from({ length: n }, (_, i) => {
          const noise = stream.uniform();
          if (shape === 'on-stride') return i % 8 === 0 ? 50 + noise : noise;
          if (shape === 'off-stride') return i % 8 === 0 ? noise : 50 + noise;
          if (shape === 'rising') return i;
          if (shape === 'falling') return -i;
          return Math.floor(noise * 3);
        });
        const masked = Float64Array.from(logits);
        topK(k)!(masked, AT);
        expect(sampleTopK(Float64Array.from(logits), k, u, new Float64Array(n))).toBe(sampleIndex(masked, u));
      }),
      { numRuns: 300 },
    );
  });

  it('gives the tokens of the masked walk on DALL·E Mini-sized rows (16,384 codes, k = 256)', () => {
    const stream = new CandidateStream(7, 0);
    for (let r = 0; r < 20; r++) {
      const logits = Float64Array.from({ length: 16384 }, () => 8 * (stream.uniform() - 0.5) + (stream.uniform() < 0.01 ? 6 : 0));
      const u = stream.uniform();
      const masked = Float64Array.from(logits);
      topK(256)!(masked, AT);
      expect(processAndSample(Float64Array.from(logits), [topK(256)!], u, AT, new Float64Array(16384))).toBe(sampleIndex(masked, u));
    }
  });
});
