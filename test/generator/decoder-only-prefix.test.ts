import { beforeAll, describe, expect, it } from 'vitest';
import type { DecoderOnlyGenerator } from '../../src/generator/decoder-only/generator.js';
import type { KvSlots } from '../../src/generator/kv-slots.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { TINY_MODEL } from '../helpers/tiny.js';

// writePrefix scatters a prefix into its first row and copies later rows of the same
// prefix whole (issue 12): the cache must be exactly what scattering every row gives.
let model: LoadedModel;
let generator: DecoderOnlyGenerator;
beforeAll(async () => {
  model = await loadModel({ model: TINY_MODEL, rerank: false });
  generator = model.generator as DecoderOnlyGenerator;
});

function same(a: KvSlots, b: KvSlots): boolean {
  const equal = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.keys.every((k, l) => equal(k, b.keys[l])) && a.values.every((v, l) => equal(v, b.values[l])) && equal(a.mask, b.mask);
}

describe('decoder-only writePrefix', () => {
  it('gives the cache that scattering every row gives, for interleaved prefixes', async () => {
    const t = generator.textLength;
    const texts = [Array.from({ length: t }, (_, i) => (i * 7 + 3) % 20), Array.from({ length: t }, () => 0)];
    const batch = await generator.prefill(texts);
    const rowPrefix = [0, 0, 0, 1, 1, 0, 1, 0];
    const copied = generator.allocate(rowPrefix.length) as KvSlots; // the tiny package's step graph reads a float cache
    rowPrefix.forEach((p, row) => generator.writePrefix(copied, row, batch, p));
    const scattered = generator.allocate(rowPrefix.length) as KvSlots;
    const { keys, values } = batch as unknown as { keys: Float32Array; values: Float32Array };
    rowPrefix.forEach((p, row) => scattered.writePrefix(row, keys, values, batch.count, p, t));
    expect(same(copied, scattered)).toBe(true);
    // A row rewritten with the other prefix no longer serves as the source of its old one.
    generator.writePrefix(copied, 0, batch, 1);
    scattered.writePrefix(0, keys, values, batch.count, 1, t);
    generator.writePrefix(copied, 2, batch, 0);
    scattered.writePrefix(2, keys, values, batch.count, 0, t);
    expect(same(copied, scattered)).toBe(true);
  });

  it('never copies a row that a step has written past its prefix', async () => {
    const t = generator.textLength;
    const batch = await generator.prefill([Array.from({ length: t }, (_, i) => (i * 5 + 1) % 20)]);
    const cache = generator.allocate(2) as KvSlots; // the package's 'rows' cache
    generator.writePrefix(cache, 0, batch, 0);
    generator.writePrefix(cache, 1, batch, 0);
    await generator.step(cache, Int32Array.from([4, 4]), Int32Array.from([0, 0]));
    generator.writePrefix(cache, 1, batch, 0); // row 1 starts over: only its text slots are valid
    const slots = cache.capacity;
    expect(Array.from(cache.mask.subarray(slots, 2 * slots)).filter((v) => v === 1)).toHaveLength(t);
    expect(cache.mask[t]).toBe(1); // row 0 keeps its stepped slot
  });
});
