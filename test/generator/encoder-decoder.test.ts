import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generationFlops, modelCost } from '../../src/footprint/flops.js';
import { EncoderDecoderGenerator } from '../../src/generator/encoder-decoder/generator.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ContinuousBatch } from '../../src/sampler/continuous.js';
import { greedySequence, MIN_DALLE_FIXTURE, minDalleReference } from '../helpers/min-dalle.js';

// The tiny min-dalle package (scripts/convert/min_dalle.py on random weights in min-dalle's
// exact layout) and min-dalle's own greedy tokens on those weights (docs/min-dalle.md).
const FIXTURE = MIN_DALLE_FIXTURE;
const PACKAGE = path.join(FIXTURE, 'package');
const ref = minDalleReference;
const { top_k: topK, supercondition_factor: guidanceScale } = ref.greedy.settings;

let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel({ model: PACKAGE, rerank: false });
});

const greedy = greedySequence;

describe('encoder-decoder generator behind the seam (min-dalle format)', () => {
  it('the loader picks it from manifest.architecture', () => {
    expect(model.generator).toBeInstanceOf(EncoderDecoderGenerator);
    expect(model.generator.imageTokens).toBe(256);
  });

  it("tokenizes prompts into min-dalle's ids", () => {
    for (const c of ref.greedy.cases) expect(model.tokenizer.encode(c.prompt).ids).toEqual(c.conditionalIds);
  });

  it("samples exactly min-dalle's greedy tokens (top-k 1, supercondition 16), all cases in one batch", async () => {
    const codes = await model.sampler.generate(ref.greedy.cases.map((c) => greedy(c)));
    expect(codes.map((grid) => Array.from(grid))).toEqual(ref.greedy.cases.map((c) => c.tokens));
    // One prefill row per distinct text: the prompts plus the one shared empty text.
    expect(model.sampler.stats.stepRows).toBe(2 * ref.greedy.cases.length);
  });

  it('gives each group the same tokens in a continuous batch with staggered admission', async () => {
    const batch = new ContinuousBatch(model.sampler);
    const [first, second] = ref.greedy.cases;
    await batch.admit('a', [greedy(first)]);
    for (let i = 0; i < 5; i++) await batch.step();
    await batch.admit('b', [greedy(second)]);
    const done = new Map<string, number[]>();
    while (batch.size > 0) for (const f of (await batch.step()).finished) done.set(f.id, Array.from(f.codes[0]));
    expect(done.get('a')).toEqual(first.tokens);
    expect(done.get('b')).toEqual(second.tokens);
  });

  it('runs end to end through Tessera: sampled candidates, decoded to 256x256 images', async () => {
    const tessera = await Tessera.load({ model: PACKAGE, rerank: false });
    // Greedy: every candidate is min-dalle's grid, decoded by the converted VQGAN.
    const result = await tessera.generate({ prompt: ref.greedy.cases[0].prompt, candidates: 2, keep: 1, seed: 4, topK, guidanceScale });
    expect(result.kept).toHaveLength(1);
    expect(result.candidates.map((c) => [c.image.width, c.image.height])).toEqual([[256, 256], [256, 256]]);
    for (const c of result.candidates) expect(Array.from(c.tokens)).toEqual(ref.greedy.cases[0].tokens);
    // FLOPs are counted from the package's own graphs (test/footprint/encoder-decoder-flops.test.ts):
    // guidance on, so two text rows and four step rows, no CLIP.
    expect(result.footprint?.flops).toEqual(generationFlops(modelCost(PACKAGE, tessera.manifest), { candidates: 2, guidance: true, rerank: false }));
    expect(result.footprint?.energyJoules).toBeGreaterThan(0);
    expect(result.usage?.output_tokens).toBe(2 * tessera.manifest.image.grid.height * tessera.manifest.image.grid.width);
    await tessera.dispose();
  });
});
