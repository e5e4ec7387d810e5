/**
 * The Janus generator through the seam: batches equal single runs (also with prompts of
 * different lengths in one batch), per-candidate seeds, the cache's growth, continuous
 * batching, and image_decode to pixels. Tokens are compared exactly; no floats pinned.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { KvSlots } from '../../src/generator/kv-slots.js';
import { ContinuousBatch, type FinishedGroup, type StepReport } from '../../src/sampler/continuous.js';
import type { SequenceSpec } from '../../src/sampler/sequence.js';
import { TINY_JANUS } from '../helpers/janus.js';

let tessera: Tessera;
beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_JANUS, rerank: false });
});

const asArrays = (codes: Int32Array[]) => codes.map((x) => Array.from(x));
const sequences = (prompt: string, seed: number, indices: number[], guidanceScale = 5): SequenceSpec[] =>
  tessera.prepare({ prompt, seed, candidateIndices: indices, guidanceScale, rerank: false }).sequences;

describe('Janus batching', () => {
  it('N candidates in one batch equal N single runs, in any order', async () => {
    const batch = await tessera.model.sampler.generate(sequences('a red circle', 11, [0, 1, 2, 3]));
    for (const i of [0, 1, 2, 3]) {
      const [alone] = await tessera.model.sampler.generate(sequences('a red circle', 11, [i]));
      expect(Array.from(alone!), `candidate ${i}`).toEqual(Array.from(batch[i]!));
    }
    const reversed = await tessera.model.sampler.generate(sequences('a red circle', 11, [3, 2, 1, 0]));
    expect(asArrays(reversed).reverse()).toEqual(asArrays(batch));
  });

  it('prompts of different lengths share a batch (masked text slots) and sample what they sample alone', async () => {
    const short = sequences('a cat', 5, [0]);
    const long = sequences('three large yellow triangles below a blue square', 6, [1], 3);
    const plain = sequences('a dog', 7, [2], 1);
    expect(short[0]!.textIds.indexOf(tessera.manifest.janus!.imageStartId)).not.toBe(long[0]!.textIds.indexOf(tessera.manifest.janus!.imageStartId));
    const together = await tessera.model.sampler.generate([...short, ...long, ...plain]);
    const alone = [...(await tessera.model.sampler.generate(short)), ...(await tessera.model.sampler.generate(long)), ...(await tessera.model.sampler.generate(plain))];
    expect(asArrays(together)).toEqual(asArrays(alone));
  });

  it('seeds: a candidate is its (seed, index) alone; other seeds or indices sample otherwise', async () => {
    const [a, b] = await tessera.model.sampler.generate(sequences('a red circle', 1, [0, 1]));
    const [c] = await tessera.model.sampler.generate(sequences('a red circle', 2, [0]));
    expect(Array.from(a!)).not.toEqual(Array.from(b!));
    expect(Array.from(a!)).not.toEqual(Array.from(c!));
  });

  it('the guided and unguided rows differ: guidance changes the tokens', async () => {
    const [guided] = await tessera.model.sampler.generate(sequences('a red circle', 9, [0], 5));
    const [plain] = await tessera.model.sampler.generate(sequences('a red circle', 9, [0], 1));
    expect(Array.from(guided!)).not.toEqual(Array.from(plain!));
  });
});

describe('Janus forced codes', () => {
  it('forced positions keep their codes and leave the free ones their own draws (the RNG rule)', async () => {
    const [free] = await tessera.model.sampler.generate(sequences('a red circle', 8, [0]));
    const forced = new Int32Array(free!.length).fill(-1);
    forced.set(free!.subarray(0, 10));
    const [again] = await tessera.model.sampler.generate(sequences('a red circle', 8, [0]).map((s) => ({ ...s, forced })));
    expect(Array.from(again!)).toEqual(Array.from(free!));
    const other = Int32Array.from(free!, (c, i) => (i < 10 ? (c + 1) % 256 : -1));
    const [steered] = await tessera.model.sampler.generate(sequences('a red circle', 8, [0]).map((s) => ({ ...s, forced: other })));
    expect(Array.from(steered!.subarray(0, 10))).toEqual(Array.from(other.subarray(0, 10)));
  });
});

describe('Janus cache', () => {
  it('a row holds its text, masked padding to T, then one slot per image position; the cache grows in chunks', async () => {
    const generator = tessera.model.generator;
    const [s] = sequences('a red circle', 1, [0], 1);
    const n = s!.textIds.lastIndexOf(tessera.manifest.janus!.imageStartId) + 1;
    const T = generator.textLength;
    const batch = await generator.prefill([s!.textIds]);
    const cache = generator.allocate(2) as KvSlots;
    generator.writePrefix(cache, 0, batch, 0);
    generator.writePrefix(cache, 1, batch, 0);
    const valid = (row: number) => Array.from(cache.mask.subarray(row * cache.capacity, (row + 1) * cache.capacity)).flatMap((v, slot) => (v > 0 ? [slot] : []));
    expect(valid(0)).toEqual(Array.from({ length: n }, (_, i) => i));
    const capacities: number[] = [];
    for (let j = 0; j < 20; j++) {
      await generator.step(cache, Int32Array.of(j, j), Int32Array.of(j, j));
      capacities.push(cache.capacity);
    }
    expect(valid(1)).toEqual([...Array.from({ length: n }, (_, i) => i), ...Array.from({ length: 20 }, (_, j) => T + j)]);
    expect(capacities[0]).toBe(Math.ceil((T + 1) / 16) * 16);
    expect(capacities.at(-1)).toBe(Math.ceil((T + 20) / 16) * 16);
    expect(new Set(capacities).size).toBeGreaterThan(1);
  });
});

describe('Janus continuous batching', () => {
  it('a group admitted mid-way samples exactly its tokens alone', async () => {
    const first = sequences('a red circle', 3, [0, 1]);
    const second = sequences('two blue stars', 4, [0], 3);
    const batch = new ContinuousBatch(tessera.model.sampler);
    await batch.admit('first', first);
    const reports: StepReport[] = [];
    for (let i = 0; i < 10; i++) reports.push(await batch.step());
    await batch.admit('second', second);
    while (batch.size > 0) reports.push(await batch.step());
    const finished = new Map<string, FinishedGroup>(reports.flatMap((r) => r.finished.map((f) => [f.id, f] as const)));
    expect(asArrays(finished.get('first')!.codes)).toEqual(asArrays(await tessera.model.sampler.generate(first)));
    expect(asArrays(finished.get('second')!.codes)).toEqual(asArrays(await tessera.model.sampler.generate(second)));
  });
});

describe('Janus image_decode', () => {
  it('decodes grids to images of the model size, [-1, 1] mapped to 8-bit RGB', async () => {
    const { size, grid } = tessera.manifest.image;
    const grids = [new Int32Array(grid.height * grid.width).fill(3), Int32Array.from({ length: grid.height * grid.width }, (_, i) => i % 256)];
    const images = await tessera.model.vq.toPixels(grids);
    expect(images).toHaveLength(2);
    for (const image of images) {
      expect([image.width, image.height, image.data.length]).toEqual([size, size, size * size * 3]);
      expect(new Set(image.data).size).toBeGreaterThan(1);
    }
  });

  it('a whole generation returns ranked images through the one pipeline', async () => {
    const result = await tessera.generate({ prompt: 'a red circle', seed: 3, candidates: 3, keep: 2, rerank: false });
    expect(result.candidates).toHaveLength(3);
    expect(result.kept).toHaveLength(2);
    expect(result.kept[0]!.image.width).toBe(tessera.manifest.image.size);
    expect(result.usage?.output_tokens).toBe(3 * tessera.manifest.image.grid.height * tessera.manifest.image.grid.width);
  });
});
