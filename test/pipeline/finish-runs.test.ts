import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagePromptFromBytes } from '../../src/pipeline/image-prompt.js';
import { finishRuns, type GenerationRun } from '../../src/pipeline/run.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { GenerateRequest, GenerationEvent, GenerationResult } from '../../src/types.js';
import { testPicture } from '../helpers/images.js';
import { TINY_MODEL } from '../helpers/tiny.js';

// The server finishes the requests that complete on one step together: one image decode
// and one CLIP pass for all of them (finishRuns). Each must get exactly what finishing
// it alone gives.
let tessera: Tessera;
let requests: GenerateRequest[];

beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL });
  const vary = await imagePromptFromBytes({ mode: 'vary', image: await testPicture(64, 64, 'png'), keepShare: 0.5 }, tessera.manifest);
  requests = [
    { prompt: 'a red circle', seed: 1, candidates: 5, keep: 2 },
    { prompt: 'two blue stars', seed: 2, candidates: 3, keep: 3 },
    { prompt: 'a red circle', seed: 3, candidates: 4, keep: 1, rerank: false },
    { prompt: '', image: vary, seed: 4, candidates: 3, keep: 2 },
  ];
});
afterAll(async () => {
  await tessera.dispose();
});

/** A run of one request, sampled to the end; its events are collected. */
async function sampled(request: GenerateRequest): Promise<{ run: GenerationRun; codes: Int32Array[]; events: GenerationEvent[] }> {
  const events: GenerationEvent[] = [];
  const prepared = await tessera.prepareRequest(request);
  const run = tessera.startRun([prepared], (event) => events.push(event));
  const codes = await tessera.model.sampler.generate(run.sequences);
  return { run, codes, events };
}

/** What a result says about its images, without the times. */
function outcome(result: GenerationResult) {
  return {
    prompt: result.prompt,
    seed: result.seed,
    candidates: result.candidates.map((c) => ({ index: c.index, rank: c.rank, score: c.score, pixels: Buffer.from(c.image.data).toString('base64'), embedding: c.embedding && Array.from(c.embedding) })),
    kept: result.kept.map((c) => c.index),
    usage: result.usage,
  };
}

describe('finishRuns', () => {
  it('gives every run what finishing it alone gives, with one decode and one CLIP pass', async () => {
    const alone: GenerationResult[][] = [];
    for (const request of requests) {
      const { run, codes } = await sampled(request);
      alone.push(await run.finish({ codes, prefillMs: 1 }));
    }
    const runs = await Promise.all(requests.map((request) => sampled(request)));
    const decode = tessera.model.vq.toPixels.bind(tessera.model.vq);
    let decodes = 0;
    tessera.model.vq.toPixels = (codes) => {
      decodes += 1;
      return decode(codes);
    };
    try {
      const together = await finishRuns(runs.map(({ run, codes }) => ({ run, done: { codes, prefillMs: 1 } })));
      expect(decodes).toBe(1);
      expect(together.map((results) => results.map(outcome))).toEqual(alone.map((results) => results.map(outcome)));
      // The variation is ranked by likeness to its source, the rest by their prompts; rerank: false keeps candidate order.
      expect(together[2][0].candidates.map((c) => c.score)).toEqual([null, null, null, null]);
      expect(together[3][0].candidates.every((c) => typeof c.score === 'number')).toBe(true);
      for (const { events } of runs) expect(events.filter((e) => e.type === 'stage').map((e) => (e as { stage: string }).stage)).toEqual(['tokenize', 'prefill', 'decode', 'imageDecode', 'rerank']);
    } finally {
      tessera.model.vq.toPixels = decode;
    }
  });

  it('finishes nothing when given nothing', async () => {
    expect(await finishRuns([])).toEqual([]);
  });
});
