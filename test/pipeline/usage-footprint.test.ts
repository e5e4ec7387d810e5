import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationBytes, generationFlops, modelCost } from '../../src/footprint/flops.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { cosine } from '../../src/rerank/clip-reranker.js';
import { independentGenerator } from '../footprint/independent.js';
import { TINY_MODEL } from '../helpers/tiny.js';

/**
 * Every generation carries OpenAI's `usage` (text tokens in, image tokens sampled) and
 * its footprint, whichever face asks: the fields are checked here against counts made
 * without the code under test (the tokenizer's own counts, the manifest's grid, the
 * generator's FLOPs counted from the manifest's shapes).
 */
let tessera: Tessera;
const INTENSITY = 300;

beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL, footprint: { grid: { kind: 'fixed', gPerKWh: INTENSITY }, energy: { useRapl: false, wattsPerCore: 7 } } });
});
afterAll(async () => tessera.dispose());

const gridTokens = (): number => tessera.manifest.image.grid.height * tessera.manifest.image.grid.width;
const tokens = (text: string): number => Math.min(tessera.model.tokenizer.encode(text).tokenCount, tessera.manifest.text.length);

describe('usage', () => {
  it('input = the prompt and negative prompt tokens fed to the generator, output = every image token of every candidate', async () => {
    const result = await tessera.generate({ prompt: 'a red circle left of a blue star', negativePrompt: 'a green square', guidanceScale: 2, candidates: 3, keep: 1, seed: 5 });
    const text = tokens('a red circle left of a blue star') + tokens('a green square');
    expect(text).toBeGreaterThan(0);
    expect(result.usage).toEqual({
      input_tokens: text,
      output_tokens: 3 * gridTokens(),
      total_tokens: text + 3 * gridTokens(),
      input_tokens_details: { text_tokens: text, image_tokens: 0 },
    });
  });

  it('a negative prompt without guidance is not fed, so it is not counted', async () => {
    const result = await tessera.generate({ prompt: 'a red circle', negativePrompt: 'a green square', guidanceScale: 1, candidates: 2, keep: 1, seed: 5, rerank: false });
    expect(result.usage?.input_tokens_details.text_tokens).toBe(tokens('a red circle'));
    expect(result.usage?.output_tokens).toBe(2 * gridTokens());
  });
});

describe('footprint', () => {
  it('FLOPs match the independent count; energy, CPU time and gCO2e are consistent', async () => {
    const result = await tessera.generate({ prompt: 'a red circle', guidanceScale: 2, candidates: 4, keep: 2, seed: 9, rerank: false });
    const f = result.footprint!;
    const independent = independentGenerator(tessera.manifest, 4, true);
    expect(f.flops!.prefill).toBe(independent.prefill);
    expect(f.flops!.decode).toBe(independent.decode);
    expect(f.flops!.clipText + f.flops!.clipVision).toBe(0); // reranking off: no CLIP
    expect(f.flops!.vqDecode).toBeGreaterThan(0);
    expect(f.flops!.total).toBe(f.flops!.prefill + f.flops!.decode + f.flops!.vqDecode);
    expect(f.wallSeconds).toBeGreaterThan(0);
    expect(f.cpuSeconds).toBeGreaterThan(0);
    expect(f.energyMethod).toBe('cpu-time');
    expect(f.energyJoules).toBeCloseTo(7 * f.cpuSeconds, 9);
    expect(f.energyNote).toContain('7 W per busy core');
    expect(f.gridGPerKWh).toBe(INTENSITY);
    expect(f.co2eGrams).toBeCloseTo((f.energyJoules / 3.6e6) * INTENSITY, 12);
  });

  it('with reranking, CLIP stages are counted; several requests in one batch split the run by their FLOPs', async () => {
    const [a, b] = await tessera.generateMany([
      { prompt: 'a red circle', candidates: 2, keep: 1, seed: 1, guidanceScale: 1 },
      { prompt: 'a blue star', candidates: 6, keep: 1, seed: 2, guidanceScale: 1 },
    ]);
    const cost = modelCost(tessera.model.dir, tessera.manifest);
    const expected = (n: number) => generationFlops(cost, { candidates: n, guidance: false, rerank: true });
    expect(a.footprint!.flops).toEqual(expected(2));
    expect(b.footprint!.flops).toEqual(expected(6));
    // Bytes are each request's own too, as the generator counts them for its rows.
    expect(a.footprint!.bytes).toEqual(generationBytes(cost, { candidates: 2, guidance: false, rerank: true }));
    expect(b.footprint!.bytes).toEqual(generationBytes(cost, { candidates: 6, guidance: false, rerank: true }));
    expect(b.footprint!.bytes!.decode.kvRead).toBe(3 * a.footprint!.bytes!.decode.kvRead);
    expect(a.footprint!.flops!.clipVision).toBeGreaterThan(0);
    // Each request's energy is its FLOPs share of one shared measurement.
    const share = expected(2).total / (expected(2).total + expected(6).total);
    const whole = a.footprint!.energyJoules + b.footprint!.energyJoules;
    expect(a.footprint!.energyJoules / whole).toBeCloseTo(share, 9);
    expect(a.footprint!.energyNote).toMatch(/FLOPs share/);
  });

  it('keeps the CLIP image embedding of every candidate, the one its score came from', async () => {
    const result = await tessera.generate({ prompt: 'a red circle', candidates: 3, keep: 1, seed: 4 });
    const [text] = await tessera.model.reranker!.embedText(['a red circle']);
    for (const c of result.candidates) {
      expect(c.embedding).toBeInstanceOf(Float32Array);
      expect(cosine(text, c.embedding!)).toBeCloseTo(c.score!, 6);
    }
  });

  it('a grid signal with no period for now: the image still comes, with a warning and no footprint', async () => {
    const t = tessera.footprintSettings;
    tessera.footprintSettings = { grid: { kind: 'signal', file: 'old.csv', forecast: { source: 'old.csv', periods: [{ from: 0, to: 1000, intensity: 100 }] } } };
    try {
      const result = await tessera.generate({ prompt: 'a red circle', candidates: 1, keep: 1, seed: 4, rerank: false });
      expect(result.footprint).toBeUndefined();
      expect(result.warnings.join('\n')).toMatch(/footprint not measured: .*no period covers/);
    } finally {
      tessera.footprintSettings = t;
    }
  });
});
