import type { Candidate, GenerationResult } from '../../src/types.js';
import { patternImage } from '../image/helpers.js';

/** A ranked result of `count` 8x8 candidates (no model): candidates in rank order (`order` lists their indices), the first `keep` kept. */
export function fakeResult(order: number[], keep: number, overrides: Partial<GenerationResult> = {}): GenerationResult {
  const candidates: Candidate[] = order.map((index, r) => ({
    index,
    tokens: new Int32Array(4),
    image: patternImage(8, 8, index),
    score: 0.5 / 2 ** r, // exact in binary, so records compare with toEqual
    rank: r + 1,
  }));
  return {
    prompt: 'A red circle, on blue!',
    negativePrompt: null,
    seed: 42,
    settings: { candidates: order.length, keep, temperature: 1, topK: 0, topP: 1, guidanceScale: 3, previewEvery: 0 },
    model: 'shapes-tiny',
    candidates,
    kept: candidates.slice(0, keep),
    timings: { tokenize: 1, prefill: 2, decode: 3, imageDecode: 4, rerank: 5, total: 15 },
    warnings: ['a warning'],
    unknownWords: [],
    promptTruncated: false,
    ...overrides,
  };
}
