import { describe, expect, it } from 'vitest';
import { hostPastFeeds, kvWriteGraph } from '../../src/generator/device-kv.js';
import { KvSlots } from '../../src/generator/kv-slots.js';
import type { StepCacheLayout } from '../../src/model/manifest.js';
import { ort } from '../../src/model/runtime.js';

// The write graph that keeps the KV cache on the device (issue 29), built by
// src/model/onnx-build.ts, run here on the CPU provider (every machine has it): its outputs
// are exactly the host cache after KvSlots.writeStep, for both key layouts. The WebGPU
// suite (test/webgpu/) runs it on the device inside generation.
const shape = { layers: 3, heads: 2, slots: 64, headDim: 4 };
// A 'filled' cache also grows on the device (by `grow` empty slots), as KvSlots.reserve grows the host copy.
const layouts: { layout: StepCacheLayout; grow: number }[] = [
  { layout: { keys: 'plain', slots: 'filled' }, grow: 16 },
  { layout: { keys: 'transposed', slots: 'filled' }, grow: 16 },
  { layout: { keys: 'transposed', slots: 'all' }, grow: 0 },
];

function seeded(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
}

describe('the KV write graph', () => {
  for (const { layout, grow } of layouts) {
    it(`writes each row's new entry at its slot and marks it valid (${layout.keys} keys, ${layout.slots} slots, grown by ${grow})`, async () => {
      const rows = 3;
      const random = seeded(7);
      const cache = new KvSlots(shape, rows, layout, 20);
      for (let l = 0; l < shape.layers; l++) {
        cache.keys[l].forEach((_, i, a) => (a[i] = random()));
        cache.values[l].forEach((_, i, a) => (a[i] = random()));
      }
      cache.mask.forEach((_, i, a) => (a[i] = i % 3 === 0 ? 1 : 0));
      const past = hostPastFeeds(cache);
      const copies = Object.fromEntries(Object.entries(past).map(([k, t]) => [k, new ort.Tensor('float32', (t.data as Float32Array).slice(), t.dims)]));
      const entries = shape.layers * rows * shape.heads * shape.headDim;
      const newKeys = Float32Array.from({ length: entries }, random); // [L, R, H, 1, D]
      const newValues = Float32Array.from({ length: entries }, random);
      const slots = [5, 19, 0];
      const session = await ort.InferenceSession.create(kvWriteGraph(shape.layers, layout.keys === 'transposed'), { executionProviders: ['cpu'] });
      const dims = [shape.layers, rows, shape.heads, 1, shape.headDim];
      const out = await session.run({
        ...copies,
        new_keys: new ort.Tensor('float32', newKeys, dims),
        new_values: new ort.Tensor('float32', newValues, dims),
        slot: new ort.Tensor('int64', BigInt64Array.from(slots, BigInt), [rows, 1]),
        grow: new ort.Tensor('int64', BigInt64Array.of(BigInt(grow)), [1]),
      });
      cache.writeStep(newKeys, newValues, slots);
      const capacity = cache.capacity;
      cache.reserve(capacity + grow);
      expect(cache.capacity).toBe(capacity + grow);
      expect(Array.from(out.present_mask.data as Float32Array)).toEqual(Array.from(cache.mask));
      for (let l = 0; l < shape.layers; l++) {
        expect(out[`present_key_${l}`].dims).toEqual(cache.keyDims);
        expect(Array.from(out[`present_key_${l}`].data as Float32Array)).toEqual(Array.from(cache.keys[l]));
        expect(Array.from(out[`present_value_${l}`].data as Float32Array)).toEqual(Array.from(cache.values[l]));
      }
      await session.release();
    });
  }
});
