import { describe, expect, it } from 'vitest';
import { architectureOf } from '../../src/generator/architectures.js';
import { packedBlockLengths, packedBuffers, releaseBuffers, spareFloats, warmBuffers } from '../../src/generator/kv-buffers.js';
import { kvSlotsFloats } from '../../src/generator/kv-slots.js';
import { readManifest } from '../../src/model/manifest.js';
import { loadModel } from '../../src/pipeline/loader.js';
import { BatchSampler } from '../../src/sampler/sampler.js';
import { sequenceSpec, TINY_MODEL } from '../helpers/tiny.js';

const drain = () => releaseBuffers([]);

describe('the KV cache mapped ahead (warmBuffers)', () => {
  it("maps packedBuffers' blocks on another thread and hands them over zeroed", async () => {
    drain();
    expect(packedBlockLengths(5, 100)).toEqual([500]);
    await warmBuffers(5, 100);
    expect(spareFloats()).toBe(500);
    const views = packedBuffers(5, 100);
    expect(spareFloats()).toBe(0); // taken
    expect(views.map((v) => v.length)).toEqual([100, 100, 100, 100, 100]);
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
    expect(views.every((v) => v.every((x) => x === 0))).toBe(true);
    drain();
  });

  it('a cache much smaller than the spare block leaves it alone', async () => {
    drain();
    await warmBuffers(4, 1000);
    const small = packedBuffers(4, 10); // 40 floats: not from a 4,000-float block
    expect(spareFloats()).toBe(4000);
    releaseBuffers(small); // the released small cache becomes the spare
    expect(spareFloats()).toBe(40);
    drain();
  });

  it('loadModel with firstRows leaves the first cache mapped, and the codes are those of a cold cache', async () => {
    drain();
    const manifest = readManifest(TINY_MODEL);
    const { count, size } = kvSlotsFloats(architectureOf(manifest).rowSlots!(manifest), 4);
    const warm = await loadModel({ model: TINY_MODEL, rerank: false, firstRows: 4 });
    expect(spareFloats()).toBe(packedBlockLengths(count, size).reduce((a, b) => a + b, 0));
    const length = warm.generator.textLength;
    const text = Array.from({ length }, (_, i) => 1 + (i % 5));
    const specs = [0, 1].map((i) => ({ ...sequenceSpec(i, true), textIds: text, unconditionalIds: new Array<number>(length).fill(0) })); // 2 guided sequences: 4 rows
    const warmCodes = await new BatchSampler(warm.generator).generate(specs);
    drain();
    const cold = await loadModel({ model: TINY_MODEL, rerank: false });
    expect(spareFloats()).toBe(0);
    expect(await new BatchSampler(cold.generator).generate(specs)).toEqual(warmCodes);
    drain();
  });

  it('with lanes, this thread maps its own part only (with a row to spare for a guided pair)', async () => {
    drain();
    const manifest = readManifest(TINY_MODEL);
    const model = await loadModel({ model: TINY_MODEL, rerank: false, firstRows: 16, lanes: 2 });
    const { count, size } = kvSlotsFloats(architectureOf(manifest).rowSlots!(manifest), 9); // laneRows(16, 2) + 1
    expect(spareFloats()).toBe(packedBlockLengths(count, size).reduce((a, b) => a + b, 0));
    await model.lanes?.close();
    drain();
  });
});
