import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KvSlots, SLOT_CHUNK } from '../../src/generator/kv-slots.js';
import type { StepCacheLayout } from '../../src/model/manifest.js';

const shape = { layers: 2, heads: 3, slots: 40, headDim: 4 };
// An odd head size takes the float32 copy instead of the float64 one.
const oddShape = { layers: 2, heads: 3, slots: 40, headDim: 3 };
const layouts: StepCacheLayout[] = [
  { keys: 'transposed', slots: 'all' },
  { keys: 'plain', slots: 'all' },
  { keys: 'transposed', slots: 'filled' },
  { keys: 'plain', slots: 'filled' },
];

/** Row r's slot s of layer l, head h, as [key[0..D), value[0..D)], whatever the layout. */
function entry(cache: KvSlots, l: number, r: number, h: number, s: number): number[] {
  const { heads, headDim } = cache.shape;
  const c = cache.capacity;
  const base = (r * heads + h) * c * headDim;
  const key = Array.from({ length: headDim }, (_, d) => cache.keys[l][cache.layout.keys === 'transposed' ? base + d * c + s : base + s * headDim + d]);
  const value = Array.from({ length: headDim }, (_, d) => cache.values[l][base + s * headDim + d]);
  return [...key, ...value];
}

/** Everything a row holds: its valid slots' entries and its mask. */
function rowContents(cache: KvSlots, r: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < cache.capacity; s++) {
    const valid = cache.mask[r * cache.capacity + s];
    if (valid !== 1) continue;
    for (let l = 0; l < cache.shape.layers; l++) for (let h = 0; h < cache.shape.heads; h++) out.push([s, l, h, ...entry(cache, l, r, h, s)]);
  }
  return out;
}

/** Step outputs [L, R, H, 1, D] whose values name what they are (so a misplaced write shows). */
function stepOutputs(rows: number, step: number, which: number, of = shape): Float32Array {
  const { layers, heads, headDim } = of;
  return Float32Array.from({ length: layers * rows * heads * headDim }, (_, i) => which * 1e6 + step * 1e4 + i);
}

describe('KvSlots', () => {
  it('a filled-slots cache starts small and grows in chunks, never past maxLength', () => {
    const cache = new KvSlots(shape, 2, { keys: 'plain', slots: 'filled' }, 13);
    expect(cache.capacity).toBe(SLOT_CHUNK);
    expect(cache.keyDims).toEqual([2, 3, SLOT_CHUNK, 4]);
    cache.reserve(SLOT_CHUNK + 1);
    expect(cache.capacity).toBe(2 * SLOT_CHUNK);
    cache.reserve(40);
    expect(cache.capacity).toBe(40);
    expect(cache.keys[0].length).toBe(2 * 3 * 40 * 4);
    expect(() => cache.reserve(41)).toThrow(RangeError);
    const all = new KvSlots(shape, 2, { keys: 'transposed', slots: 'all' });
    expect(all.capacity).toBe(40);
    expect(all.keyDims).toEqual([2, 3, 4, 40]);
  });

  it.each([
    ['even', shape],
    ['odd', oddShape],
  ])('holds the same entries in every layout through prefixes, steps, growth and row copies (%s head size)', (_, shape) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 27 }), fc.integer({ min: 1, max: 3 }), (prefixLength, steps, rows) => {
        const { layers, heads, headDim } = shape;
        const present = (which: number) => Float32Array.from({ length: layers * 2 * heads * prefixLength * headDim }, (_, i) => which * 1e6 + i);
        const results = layouts.map((layout) => {
          const cache = new KvSlots(shape, rows, layout, prefixLength + 1);
          for (let r = 0; r < rows; r++) cache.writePrefix(r, present(1), present(2), 2, r % 2, prefixLength);
          for (let t = 0; t < steps; t++) {
            const positions = Array.from({ length: rows }, (_, r) => prefixLength + t + (r === 0 ? 0 : 1)); // rows at different positions
            cache.writeStep(stepOutputs(rows, t, 3, shape), stepOutputs(rows, t, 4, shape), positions);
          }
          // Copy into a fresh cache (a smaller capacity grows to the source's).
          const copy = new KvSlots(shape, rows + 1, layout, 1);
          copy.copyRows(cache, 0, 1, rows);
          return { cache, copy };
        });
        const reference = results[0];
        for (const { cache, copy } of results) {
          for (let r = 0; r < rows; r++) {
            expect(rowContents(cache, r)).toEqual(rowContents(reference.cache, r));
            expect(rowContents(copy, r + 1)).toEqual(rowContents(reference.cache, r));
          }
          expect(rowContents(copy, 0)).toEqual([]);
          // A filled-slots cache lays out no more than the slots in use, rounded up to a chunk.
          if (cache.layout.slots === 'filled') expect(cache.capacity).toBe(Math.min(40, Math.ceil((prefixLength + steps + (rows > 1 ? 1 : 0)) / SLOT_CHUNK) * SLOT_CHUNK));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('copies rows from a cache with fewer slots laid out, zeroing the new ones', () => {
    const small = new KvSlots(shape, 1, { keys: 'plain', slots: 'filled' }, 3);
    small.writePrefix(0, stepOutputs(1, 0, 1).map((x) => x + 1), stepOutputs(1, 0, 2).map((x) => x + 1), 1, 0, 1);
    const big = new KvSlots(shape, 1, { keys: 'plain', slots: 'filled' }, 35);
    big.keys[0].fill(7); // stale data the copy must not leave behind
    big.mask.fill(1);
    big.copyRows(small, 0, 0, 1);
    expect(big.capacity).toBe(40);
    expect(Array.from(big.mask).filter((m) => m === 1).length).toBe(1);
    expect(rowContents(big, 0)).toEqual(rowContents(small, 0));
    expect(entry(big, 0, 0, 0, 5).every((x) => x === 0)).toBe(true);
  });

  it('refuses caches of another layout', () => {
    const a = new KvSlots(shape, 1, { keys: 'plain', slots: 'filled' });
    const b = new KvSlots(shape, 1, { keys: 'transposed', slots: 'all' });
    expect(() => a.copyRows(b, 0, 0, 1)).toThrow(/same layout/);
  });
});
