import { afterEach, describe, expect, it } from 'vitest';
import { SearchIndex } from '../../src/search/index.js';
import { QuantizedRows } from '../../src/search/quantized.js';

/** The int8 first pass: its bounds hold, and the index ranks exactly as a float32 scan does. */
function source(seed: number): (dim: number, spiky?: boolean) => Float32Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (dim, spiky = false) => {
    const v = new Float32Array(dim);
    let sum = 0;
    for (let i = 0; i < dim; i++) {
      v[i] = (u() - 0.5) * (spiky && i % 37 === 0 ? 40 : 1);
      sum += v[i]! * v[i]!;
    }
    for (let i = 0; i < dim; i++) v[i]! /= Math.sqrt(sum);
    return v;
  };
}

const exactDot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('QuantizedRows', () => {
  it('every row\'s exact dot lies under its upper bound, and the k best are all at or above the threshold', () => {
    const next = source(3);
    for (const dim of [16, 128, 512]) {
      const rows = Array.from({ length: 3000 }, (_, i) => next(dim, i % 5 === 0));
      const q = QuantizedRows.create(dim)!;
      expect(q).not.toBeNull();
      rows.forEach((r, i) => q.setRow(i, r));
      for (const spiky of [false, true]) {
        const query = next(dim, spiky);
        const upper = new Float32Array(rows.length);
        const threshold = q.bounds(query, rows.length, 10, -1, upper);
        const exact = rows.map((r) => exactDot(r, query));
        exact.forEach((d, i) => expect(d).toBeLessThanOrEqual(upper[i]! + 1e-7));
        const best = [...exact].sort((a, b) => b - a).slice(0, 10);
        expect(best[9]!).toBeGreaterThanOrEqual(threshold - 1e-7);
        // The bound is tight enough to be worth it: few rows need an exact look.
        expect(upper.filter((u) => u >= threshold).length).toBeLessThan(rows.length / 4);
      }
    }
  });

  it('is not used for widths the kernel cannot take', () => {
    expect(QuantizedRows.create(8)).toBeNull();
    expect(QuantizedRows.create(24)).toBeNull();
  });
});

describe('SearchIndex with the int8 first pass', () => {
  afterEach(() => delete process.env.TESSERA_SEARCH_EXACT_SCAN);

  it('ranks exactly as the float32 scan: same ids, order and scores, duplicates, pages and "more like this"', () => {
    const next = source(11);
    const dim = 128;
    const items = Array.from({ length: 5000 }, (_, i) => ({ record: { id: `img-${i}`, prompt: `p${i}`, model: 'm', created: i, source: `s${i}` }, embedding: next(dim, i % 7 === 0) }));
    items.push({ record: { id: 'dup-a', prompt: 'd', model: 'm', created: 0, source: 'd' }, embedding: items[42]!.embedding }); // exact duplicates tie
    items.push({ record: { id: 'dup-b', prompt: 'd', model: 'm', created: 0, source: 'd' }, embedding: items[42]!.embedding });
    const bounded = SearchIndex.open(':memory:', { dim, space: 't' });
    process.env.TESSERA_SEARCH_EXACT_SCAN = '1';
    const exact = SearchIndex.open(':memory:', { dim, space: 't' });
    bounded.insertMany(items);
    exact.insertMany(items);
    for (const query of [next(dim), next(dim, true), items[42]!.embedding]) {
      for (const page of [{ offset: 0, limit: 20 }, { offset: 20, limit: 20 }, { offset: 90, limit: 10 }]) {
        const a = bounded.query(query, page);
        const b = exact.query(query, page);
        expect(a.data.map((h) => h.id)).toEqual(b.data.map((h) => h.id));
        a.data.forEach((h, i) => expect(h.score).toBeCloseTo(b.data[i]!.score, 5));
      }
    }
    const like = bounded.moreLike('img-42', { offset: 0, limit: 5 });
    expect(like.data.slice(0, 2).map((h) => h.id)).toEqual(['dup-a', 'dup-b']);
    expect(like.data.map((h) => h.id)).toEqual(exact.moreLike('img-42', { offset: 0, limit: 5 }).data.map((h) => h.id));
    bounded.close();
    exact.close();
  });
});
