import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { checkForced, forcedOutsideMask, forcedPrefix, FREE } from '../../src/sampler/conditioning.js';
import { ContinuousBatch } from '../../src/sampler/continuous.js';
import type { ProcessorContext } from '../../src/sampler/logits-processors.js';
import { NaiveSampler } from '../../src/sampler/naive-sampler.js';
import { CandidateStream } from '../../src/sampler/rng.js';
import type { SequenceSpec } from '../../src/sampler/sampler.js';
import { drawToken } from '../../src/sampler/step.js';
import { loadReference, sequencesOf, TINY_MODEL } from '../helpers/tiny.js';

const reference = loadReference();
const guided = reference.sampling.find((c) => c.name === 'guided')!;
let model: LoadedModel;

beforeAll(async () => {
  model = await loadModel({ model: TINY_MODEL, rerank: false });
});

const asArrays = (codes: Int32Array[]) => codes.map((x) => Array.from(x));
const withForced = (sequences: SequenceSpec[], forced: (i: number) => Int32Array) => sequences.map((s, i) => ({ ...s, forced: forced(i) }));

describe('forced codes (image prefixes and edits)', () => {
  it('forcing the codes a candidate samples anyway changes nothing: forcing never shifts the stream', async () => {
    const plain = await model.sampler.generate(sequencesOf(guided));
    // Force every third position to what was sampled there: the rest must come out identical.
    const forced = withForced(sequencesOf(guided), (i) => Int32Array.from(plain[i], (code, j) => (j % 3 === 0 ? code : FREE)));
    expect(asArrays(await model.sampler.generate(forced))).toEqual(asArrays(plain));
  });

  it('a forced prefix is kept and the rest is sampled; batch, continuous and naive samplers agree', async () => {
    const tokens = model.manifest.image.grid.height * model.manifest.image.grid.width;
    const prefix = Array.from({ length: 3 * model.manifest.image.grid.width }, (_, j) => (j * 37) % model.manifest.image.vocabSize);
    const sequences = withForced(sequencesOf(guided), () => forcedPrefix(prefix, tokens));
    const batched = await model.sampler.generate(sequences);
    for (const grid of batched) expect(Array.from(grid.subarray(0, prefix.length))).toEqual(prefix);
    // The prefix conditions what follows: some candidate's tail differs from the unforced run.
    const plain = await model.sampler.generate(sequencesOf(guided));
    expect(batched.some((grid, i) => grid.some((code, j) => j >= prefix.length && code !== plain[i][j]))).toBe(true);

    const naive = await new NaiveSampler(model.generator).generate(sequences);
    expect(asArrays(naive)).toEqual(asArrays(batched));

    const batch = new ContinuousBatch(model.sampler);
    await batch.admit('other', sequencesOf(reference.sampling[0], [0, 1]));
    await batch.step();
    await batch.admit('forced', sequences);
    let codes: Int32Array[] | undefined;
    while (batch.size > 0) {
      const report = await batch.step();
      codes ??= report.finished.find((f) => f.id === 'forced')?.codes;
    }
    expect(asArrays(codes!)).toEqual(asArrays(batched));
  });

  it('a masked edit keeps every code outside the mask', async () => {
    const plain = await model.sampler.generate(sequencesOf(guided, [0]));
    const source = Int32Array.from(plain[0], (_, j) => (j * 11) % model.manifest.image.vocabSize);
    const resample = Array.from(source, (_, j) => j % 8 >= 4); // right half of an 8-wide grid
    const [edited] = await model.sampler.generate(withForced(sequencesOf(guided, [0]), () => forcedOutsideMask(source, resample)));
    source.forEach((code, j) => {
      if (!resample[j]) expect(edited[j]).toBe(code);
    });
  });

  it('rejects forced grids of the wrong size or with codes outside the codebook', async () => {
    expect(() => checkForced(new Int32Array(3), 64, 512)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_INFERENCE' }));
    expect(() => checkForced(Int32Array.from([FREE, 512]), 2, 512)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_INFERENCE' }));
    expect(() => forcedPrefix([1, 2, 3], 2)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION' }));
    expect(() => forcedOutsideMask([1, 2], [true])).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION' }));
    const bad = withForced(sequencesOf(guided, [0]), () => new Int32Array(5));
    await expect(model.sampler.generate(bad)).rejects.toMatchObject({ code: 'TESSERA_ERR_INFERENCE' });
  });
});

describe('processors see where they are', () => {
  it('every processor is called with the sequence and image position it samples; forced positions skip the chain', () => {
    const seen: ProcessorContext[] = [];
    const chain = [(_: Float64Array, context: ProcessorContext) => void seen.push({ ...context })];
    const spec = { ...sequencesOf(guided, [0])[0], forced: Int32Array.from([FREE, 7, FREE]) };
    const logits = () => Float32Array.from({ length: 4 }, (_, i) => i);
    const mixed = new Float64Array(4);
    const stream = new CandidateStream(1, 0);
    const twin = new CandidateStream(1, 0);
    const drawn = [0, 1, 2].map((position) => drawToken(spec, stream, chain, { sequence: 5, position }, logits, null, mixed));
    expect(drawn[1]).toBe(7);
    expect(seen).toEqual([
      { sequence: 5, position: 0 },
      { sequence: 5, position: 2 },
    ]);
    // One uniform per position, forced or not: both streams are now three draws in.
    for (let k = 0; k < 3; k++) twin.uniform();
    expect(stream.uniform()).toBe(twin.uniform());
  });
});
