import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillPartialGrid, Tessera } from '../../src/pipeline/tessera.js';
import type { GenerationEvent } from '../../src/types.js';
import { loadReference, TINY_MODEL } from '../helpers/tiny.js';

let tessera: Tessera;
const reference = loadReference();

beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL });
});
afterAll(async () => {
  await tessera.dispose();
});

describe('generate end to end (tiny random model)', () => {
  it('samples the pinned tokens, decodes, reranks and keeps the best', async () => {
    const c = reference.sampling.find((x) => x.name === 'guided')!;
    const result = await tessera.generate({
      prompt: c.prompt,
      seed: c.seed,
      candidates: 4,
      keep: 2,
      temperature: c.temperature,
      topK: c.topK,
      topP: c.topP,
      guidanceScale: c.guidanceScale,
    });
    expect(result.candidates).toHaveLength(4);
    expect(result.kept.map((k) => k.rank)).toEqual([1, 2]);
    const byIndex = new Map(result.candidates.map((cand) => [cand.index, cand]));
    expect(Array.from(byIndex.get(0)!.tokens)).toEqual(c.tokens[0]);
    expect(Array.from(byIndex.get(3)!.tokens)).toEqual(c.tokens[1]);
    const scores = result.candidates.map((cand) => cand.score!);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    for (const cand of result.candidates) {
      expect(cand.image.width).toBe(64);
      expect(cand.image.data).toHaveLength(64 * 64 * 3);
    }
  });

  it('reproduces one candidate alone from (seed, index)', async () => {
    const full = await tessera.generate({ prompt: 'a red star', seed: 99, candidates: 6, rerank: false });
    const alone = await tessera.generate({ prompt: 'a red star', seed: 99, candidateIndices: [4], rerank: false });
    expect(Array.from(alone.candidates[0].tokens)).toEqual(Array.from(full.candidates.find((c) => c.index === 4)!.tokens));
    expect(Buffer.from(alone.candidates[0].image.data).equals(Buffer.from(full.candidates.find((c) => c.index === 4)!.image.data))).toBe(true);
  });

  it('keeps index order with null scores when reranking is off', async () => {
    const result = await tessera.generate({ prompt: 'a star', seed: 1, candidates: 3, rerank: false });
    expect(result.candidates.map((c) => [c.index, c.score])).toEqual([[0, null], [1, null], [2, null]]);
  });

  it('emits steps, previews and stage timings', async () => {
    const events: GenerationEvent[] = [];
    await tessera.generate({ prompt: 'a circle', seed: 3, candidates: 2, previewEvery: 16 }, { onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'step')).toHaveLength(64);
    const previews = events.filter((e) => e.type === 'preview');
    expect(previews.map((e) => e.step)).toEqual([16, 32, 48]);
    expect(new Set(events.filter((e) => e.type === 'stage').map((e) => e.type === 'stage' && e.stage))).toEqual(
      new Set(['tokenize', 'prefill', 'decode', 'imageDecode', 'rerank']),
    );
  });

  it('warns about unknown words and truncation', async () => {
    const result = await tessera.generate({ prompt: 'a red zebra ' + 'star '.repeat(20), seed: 1, candidates: 1, rerank: false });
    expect(result.unknownWords).toEqual(['zebra']);
    expect(result.promptTruncated).toBe(true);
    expect(result.warnings.join('\n')).toMatch(/zebra/);
    expect(result.warnings.join('\n')).toMatch(/only the first 12/);
  });

  it('warns that a negative prompt does nothing without guidance', async () => {
    const unguided = tessera.prepare({ prompt: 'a red star', negativePrompt: 'a blue circle', guidanceScale: 1 });
    expect(unguided.warnings.join('\n')).toMatch(/negative prompt has no effect without guidance/);
    const guided = tessera.prepare({ prompt: 'a red star', negativePrompt: 'a blue circle', guidanceScale: 2 });
    expect(guided.warnings).toEqual([]);
  });

  it('cancels between steps', async () => {
    const controller = new AbortController();
    const run = tessera.generate(
      { prompt: 'a circle', seed: 3, candidates: 2 },
      { signal: controller.signal, onEvent: (e) => e.type === 'step' && e.step === 5 && controller.abort() },
    );
    await expect(run).rejects.toMatchObject({ code: 'TESSERA_ERR_CANCELLED' });
  });
});

describe('bad input', () => {
  const cases: [string, object, string][] = [
    ['empty prompt', { prompt: '' }, 'TESSERA_ERR_PROMPT'],
    ['whitespace prompt', { prompt: ' \n\t ' }, 'TESSERA_ERR_PROMPT'],
    ['non-string prompt', { prompt: 42 }, 'TESSERA_ERR_PROMPT'],
    ['zero candidates', { prompt: 'a', candidates: 0 }, 'TESSERA_ERR_OPTION'],
    ['fractional candidates', { prompt: 'a', candidates: 2.5 }, 'TESSERA_ERR_OPTION'],
    ['keep above candidates', { prompt: 'a', candidates: 2, keep: 3 }, 'TESSERA_ERR_OPTION'],
    ['negative temperature', { prompt: 'a', temperature: -1 }, 'TESSERA_ERR_OPTION'],
    ['top-p of 0', { prompt: 'a', topP: 0 }, 'TESSERA_ERR_OPTION'],
    ['top-p above 1', { prompt: 'a', topP: 1.5 }, 'TESSERA_ERR_OPTION'],
    ['negative top-k', { prompt: 'a', topK: -1 }, 'TESSERA_ERR_OPTION'],
    ['seed out of range', { prompt: 'a', seed: 2 ** 32 }, 'TESSERA_ERR_OPTION'],
    ['NaN guidance', { prompt: 'a', guidanceScale: NaN }, 'TESSERA_ERR_OPTION'],
    ['empty negative prompt', { prompt: 'a', negativePrompt: ' ' }, 'TESSERA_ERR_PROMPT'],
  ];
  for (const [name, request, code] of cases) {
    it(`${name} -> ${code}`, () => {
      expect(() => tessera.prepare(request as never)).toThrow(expect.objectContaining({ code }));
    });
  }
});

describe('previews', () => {
  it('fills the unsampled tail with the most frequent code so far', () => {
    expect(Array.from(fillPartialGrid(Int32Array.from([5, 2, 5, 0, 0, 0]), 3))).toEqual([5, 2, 5, 5, 5, 5]);
  });
});

describe('previews decode only what is shown', () => {
  it('decodes none without a listener, and only previewCandidates per request with one', async () => {
    const decoded: number[] = [];
    const original = tessera.previewImages.bind(tessera);
    tessera.previewImages = async (codes, done) => {
      decoded.push(codes.length);
      return original(codes, done);
    };
    try {
      await tessera.generate({ prompt: 'a red circle', seed: 3, candidates: 6, previewEvery: 8, rerank: false });
      expect(decoded).toEqual([]);
      const previews: number[] = [];
      await tessera.generate(
        { prompt: 'a red circle', seed: 3, candidates: 6, previewEvery: 8, previewCandidates: 2, rerank: false },
        { onEvent: (e) => e.type === 'preview' && previews.push(e.images.length) },
      );
      expect(previews.length).toBeGreaterThan(0);
      expect(new Set([...previews, ...decoded])).toEqual(new Set([2]));
      decoded.length = 0;
      await tessera.generate({ prompt: 'a red circle', seed: 3, candidates: 6, previewEvery: 8, previewCandidates: 0, rerank: false }, { onEvent: () => undefined });
      expect(decoded).toEqual([]);
    } finally {
      tessera.previewImages = original;
    }
  });
});
