import { beforeAll, describe, expect, it } from 'vitest';
import { packedBuffers, releaseBuffers, spareFloats } from '../../src/generator/kv-buffers.js';
import { KvSlots } from '../../src/generator/kv-slots.js';
import { isTesseraError } from '../../src/errors.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { BatchSampler } from '../../src/sampler/sampler.js';
import { sequenceSpec, TINY_MODEL } from '../helpers/tiny.js';

const shape = { layers: 2, heads: 3, slots: 40, headDim: 4 };

/** Leaves no spare block behind for the next test. */
const drain = () => releaseBuffers([]);

describe('released KV cache memory', () => {
  it('packedBuffers reuses the last released block that fits, zeroed', () => {
    drain();
    const first = packedBuffers(4, 100);
    first.forEach((view, i) => view.fill(i + 1));
    releaseBuffers(first);
    expect(spareFloats()).toBe(400);
    const second = packedBuffers(3, 100); // smaller: fits
    expect(second[0].buffer).toBe(first[0].buffer);
    expect(second.every((view) => view.every((x) => x === 0))).toBe(true);
    expect(spareFloats()).toBe(0);
    releaseBuffers(second);
    const larger = packedBuffers(5, 100); // does not fit: new memory, the spare stays
    expect(larger[0].buffer).not.toBe(first[0].buffer);
    expect(spareFloats()).toBe(400);
    releaseBuffers(larger); // only the last released cache's blocks are kept
    expect(spareFloats()).toBe(500);
    releaseBuffers(packedBuffers(4, 0)); // an empty cache's release leaves the spare alone
    expect(spareFloats()).toBe(500);
    drain();
    expect(spareFloats()).toBe(0);
  });

  it('a released cache throws on use, and the next cache gets its storage', () => {
    drain();
    const cache = new KvSlots(shape, 2, { keys: 'plain', slots: 'filled' });
    const storage = cache.keys[0].buffer;
    cache.writeStep(new Float32Array(2 * 2 * 3 * 4).fill(7), new Float32Array(2 * 2 * 3 * 4).fill(7), [0, 0]);
    cache.release();
    cache.release(); // twice is harmless
    let code: string | null = null;
    try {
      cache.writeStep(new Float32Array(48), new Float32Array(48), [1, 1]);
    } catch (error) {
      code = isTesseraError(error) ? error.code : 'other';
    }
    expect(code).toBe('TESSERA_ERR_INTERNAL');
    const next = new KvSlots(shape, 2, { keys: 'plain', slots: 'filled' });
    expect(next.keys[0].buffer).toBe(storage);
    expect(next.keys.every((b) => b.every((x) => x === 0)) && next.values.every((b) => b.every((x) => x === 0))).toBe(true);
    expect(next.mask.every((x) => x === 0)).toBe(true);
    drain();
  });

  describe('sampling twice in one thread (tiny model)', () => {
    let model: LoadedModel;
    beforeAll(async () => {
      model = await loadModel({ model: TINY_MODEL, rerank: false });
    });

    it('the second batch samples in the first one\'s cache memory, the same codes as in fresh memory', async () => {
      drain();
      const sampler = new BatchSampler(model.generator);
      const length = model.generator.textLength;
      const text = Array.from({ length }, (_, i) => 1 + (i % 5));
      const sequences = [0, 1, 2].map((i) => ({ ...sequenceSpec(i, i === 1), textIds: text, ...(i === 1 ? { unconditionalIds: new Array<number>(length).fill(0) } : {}) }));
      const fresh = await sampler.generate(sequences); // fresh memory, released at the end
      expect(spareFloats()).toBeGreaterThan(0);
      const state = await sampler.prefill(sequences);
      expect(spareFloats()).toBe(0); // the released cache's block was taken
      await sampler.decodeSteps(state, sampler.imageTokens);
      sampler.release(state);
      expect(state.codes).toEqual(fresh);
      drain();
    });
  });
});
