import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packedBlockLengths, releaseBuffers, spareFloats } from '../../src/generator/kv-buffers.js';
import { Int8KvSlots, int8KvSlotsFloats, quantizeEntry } from '../../src/generator/kv-slots-int8.js';
import { KvSlots, SLOT_CHUNK } from '../../src/generator/kv-slots.js';
import type { StepCacheLayout } from '../../src/model/manifest.js';

const shape = { layers: 2, heads: 3, slots: 40, headDim: 4 };
const layouts: StepCacheLayout[] = [
  { keys: 'transposed', slots: 'all' },
  { keys: 'transposed', slots: 'filled' },
];

/** Seeded values in [-3, 3) whose entries differ in size (so every entry gets its own scale). */
function floats(count: number, seed: number): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: count }, (_, i) => {
    a = (Math.imul(a ^ (a >>> 15), 2246822519) + 3266489917) >>> 0;
    return ((a / 4294967296) * 6 - 3) * (1 + (i % 7));
  });
}

/** What the int8 cache must hold for row r, slot s, layer l, head h: the float cache's entry quantized on its own. */
function expected(float: KvSlots, l: number, r: number, h: number, s: number): { key: number[]; value: number[]; keyScale: number; valueScale: number } {
  const { heads, headDim } = float.shape;
  const c = float.capacity;
  const base = (r * heads + h) * c * headDim;
  const key = Float32Array.from({ length: headDim }, (_, d) => float.keys[l][base + d * c + s]); // transposed float keys
  const value = float.values[l].slice(base + s * headDim, base + (s + 1) * headDim);
  const [k8, v8] = [new Int8Array(headDim), new Int8Array(headDim)];
  const keyScale = quantizeEntry(key, 0, headDim, k8, 0, 1);
  const valueScale = quantizeEntry(value, 0, headDim, v8, 0, 1);
  return { key: [...k8], value: [...v8], keyScale: Math.fround(keyScale), valueScale: Math.fround(valueScale) };
}

/** Every valid slot of every row of `int8` against `float` (same writes), and equal masks. */
function expectSame(int8: Int8KvSlots, float: KvSlots): void {
  expect(int8.capacity).toBe(float.capacity);
  expect([...int8.mask]).toEqual([...float.mask]);
  const { layers, heads, headDim } = int8.shape;
  const c = int8.capacity;
  for (let r = 0; r < int8.rows; r++) {
    for (let s = 0; s < c; s++) {
      if (int8.mask[r * c + s] !== 1) continue;
      for (let l = 0; l < layers; l++) {
        for (let h = 0; h < heads; h++) {
          const want = expected(float, l, r, h, s);
          const base = (r * heads + h) * c * headDim;
          expect(Array.from({ length: headDim }, (_, d) => int8.keys[l][base + d * c + s])).toEqual(want.key);
          expect([...int8.values[l].subarray(base + s * headDim, base + (s + 1) * headDim)]).toEqual(want.value);
          expect(int8.keyScales[l][(r * heads + h) * c + s]).toBe(want.keyScale);
          expect(int8.valueScales[l][(r * heads + h) * c + s]).toBe(want.valueScale);
        }
      }
    }
  }
}

describe('Int8KvSlots', () => {
  it('quantizes an entry symmetrically: round(x / scale), scale = max |x| / 127, error at most half a step', () => {
    const source = Float32Array.from([0.5, -1.27, 0.004, 1]);
    const target = new Int8Array(4);
    const scale = quantizeEntry(source, 0, 4, target, 0, 1);
    expect(scale).toBeCloseTo(0.01, 8); // 1.27 as a float32
    expect([...target]).toEqual([50, -127, 0, 100]);
    for (let d = 0; d < 4; d++) expect(Math.abs(target[d] * scale - source[d])).toBeLessThanOrEqual(scale / 2 + 1e-12);
    const zeros = new Int8Array(2);
    expect(quantizeEntry(new Float32Array(2), 0, 2, zeros, 0, 1)).toBe(0);
    expect([...zeros]).toEqual([0, 0]);
  });

  it('lays keys out transposed and grows a filled cache in chunks', () => {
    const cache = new Int8KvSlots(shape, 2, { keys: 'plain', slots: 'filled' }, 13);
    expect(cache.capacity).toBe(SLOT_CHUNK);
    expect(cache.keyDims).toEqual([2, 3, 4, SLOT_CHUNK]); // transposed whatever the float layout says
    expect(cache.valueDims).toEqual([2, 3, SLOT_CHUNK, 4]);
    expect(cache.scaleDims).toEqual([2, 3, SLOT_CHUNK]);
    cache.reserve(SLOT_CHUNK + 1);
    expect(cache.capacity).toBe(2 * SLOT_CHUNK);
    expect(() => cache.reserve(41)).toThrow(RangeError);
    const feeds = cache.feeds();
    expect(feeds.past_key_1.type).toBe('int8');
    expect(feeds.past_key_1.dims).toEqual([2, 3, 4, 2 * SLOT_CHUNK]);
    expect(feeds.past_value_scale_0.dims).toEqual([2, 3, 2 * SLOT_CHUNK]);
    expect(feeds.attention_mask.dims).toEqual([2, 2 * SLOT_CHUNK]);
  });

  it.each(layouts)('holds what a float cache holds, each entry quantized (prefix, steps past a chunk, entry, row copies): %o', (layout) => {
    const rows = 3;
    const length = 5;
    const [int8, float] = [new Int8KvSlots(shape, rows, layout, length), new KvSlots(shape, rows, layout, length)];
    const { layers, heads, headDim } = shape;
    const presentKeys = floats(layers * 2 * heads * length * headDim, 1); // [L, P=2, H, length, D]
    const presentValues = floats(presentKeys.length, 2);
    for (let r = 0; r < rows; r++) {
      int8.writePrefix(r, presentKeys, presentValues, 2, r % 2, length);
      float.writePrefix(r, presentKeys, presentValues, 2, r % 2, length);
    }
    expectSame(int8, float);
    for (let step = 0; step < SLOT_CHUNK + 3; step++) {
      const positions = Int32Array.from({ length: rows }, (_, r) => length + step + (r === 2 ? 1 : 0)); // [R]: rows need not agree
      const newKeys = floats(layers * rows * heads * headDim, 100 + step); // [L, R, H, 1, D]
      const newValues = floats(newKeys.length, 200 + step);
      int8.writeStep(newKeys, newValues, positions);
      float.writeStep(newKeys, newValues, positions);
    }
    expectSame(int8, float);
    const source = floats(layers * 4 * heads * headDim, 7); // [L, 4, H, 1, D]
    int8.writeEntry(1, source, source, 4, 3, 2, true);
    float.writeEntry(1, source, source, 4, 3, 2, true);
    expectSame(int8, float);
    // Rows copied within one cache and from a smaller one into a grown one.
    int8.copyRows(int8, 0, 2, 1);
    float.copyRows(float, 0, 2, 1);
    expectSame(int8, float);
    const [small8, small] = [new Int8KvSlots(shape, 1, layout, 3), new KvSlots(shape, 1, layout, 3)];
    small8.writePrefix(0, presentKeys, presentValues, 2, 1, 3);
    small.writePrefix(0, presentKeys, presentValues, 2, 1, 3);
    int8.copyRows(small8, 0, 0, 1);
    float.copyRows(small, 0, 0, 1);
    expectSame(int8, float);
    expect(() => int8.copyRows(float, 0, 0, 1)).toThrow(TypeError);
    expect(() => int8.copyRows(small8, 0, 3, 1)).toThrow(RangeError);
  });

  it('reads back within half a quantization step of what was written (any values)', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -1e3, max: 1e3, noNaN: true, noDefaultInfinity: true }), { minLength: 4 * 3 * 2 * 4, maxLength: 4 * 3 * 2 * 4 }), (data) => {
        const one = { layers: 2, heads: 3, slots: 16, headDim: 4 };
        const cache = new Int8KvSlots(one, 2, { keys: 'transposed', slots: 'all' });
        const entries = Float32Array.from(data); // [L, R, H, 1, D]
        cache.writeStep(entries, entries, [7, 0]);
        for (let l = 0; l < 2; l++) {
          for (let r = 0; r < 2; r++) {
            const s = r === 0 ? 7 : 0;
            for (let h = 0; h < 3; h++) {
              const scale = cache.valueScales[l][(r * 3 + h) * 16 + s];
              for (let d = 0; d < 4; d++) {
                const x = entries[((l * 2 + r) * 3 + h) * 4 + d];
                const back = cache.values[l][((r * 3 + h) * 16 + s) * 4 + d] * scale;
                const key = cache.keys[l][(r * 3 + h) * 4 * 16 + d * 16 + s] * cache.keyScales[l][(r * 3 + h) * 16 + s];
                expect(Math.abs(back - x)).toBeLessThanOrEqual(scale / 2 + 1e-6 * Math.abs(x) + 1e-30);
                expect(key).toBe(back);
              }
            }
          }
        }
      }),
      { numRuns: 50 },
    );
  });

  it('keeps keys and values in packed blocks: released, they go to the next cache, zeroed; a released cache refuses use', () => {
    releaseBuffers([]); // this thread's spare, emptied
    const layout: StepCacheLayout = { keys: 'transposed', slots: 'filled' };
    const first = new Int8KvSlots(shape, 2, layout, 1);
    const { count, size } = int8KvSlotsFloats(shape, 2)!;
    expect(first.keys[0].buffer.byteLength).toBe(packedBlockLengths(count, size).reduce((a, b) => a + b, 0) * 4); // every layer's keys and values in one block
    first.writeStep(floats(2 * 3 * 4 * 2, 1), floats(2 * 3 * 4 * 2, 2), [0, 0]);
    const block = first.keys[0].buffer;
    first.release();
    expect(spareFloats()).toBe(block.byteLength / 4);
    expect(() => first.reserve(2)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_INTERNAL' }));
    const next = new Int8KvSlots(shape, 2, layout, 1);
    expect(next.keys[0].buffer).toBe(block);
    expect(spareFloats()).toBe(0);
    for (let l = 0; l < shape.layers; l++) expect(next.keys[l].every((x) => x === 0) && next.values[l].every((x) => x === 0)).toBe(true);
    expect(int8KvSlotsFloats({ ...shape, slots: 41, headDim: 3 }, 1)).toBeNull(); // 3 * 41 * 3 bytes a layer: not whole floats, arrays of its own
    const own = new Int8KvSlots({ ...shape, slots: 41, headDim: 3 }, 1, layout, 1);
    own.release();
    expect(spareFloats()).toBe(0);
    releaseBuffers([]);
  });
});
