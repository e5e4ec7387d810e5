/** Plain inputs for the engine's unit tests: request params over the tiny model's manifest, a small generation result. */
import { readManifest } from '../../src/model/manifest.js';
import type { Candidate, GenerationResult } from '../../src/types.js';
import { parseImageParams, type ImageParams, type ModelRef } from '../../src/server/params.js';
import { TINY_MODEL } from './helpers.js';

export function tinyRef(): ModelRef {
  const manifest = readManifest(TINY_MODEL);
  return { id: manifest.name, dir: TINY_MODEL, manifest };
}

export function tinyParams(body: Record<string, unknown> = { prompt: 'a red circle', candidates: 3, n: 2, seed: 5 }): ImageParams {
  return parseImageParams(body, { models: [tinyRef()], maxCandidates: 64, defaultPreviewEvery: 8 });
}

/** A result of `count` candidates of `side` x `side` solid colours, the first `keep` kept. */
export function fakeResult(count: number, keep: number, side = 8): GenerationResult {
  const candidates: Candidate[] = Array.from({ length: count }, (_, i) => ({
    index: count - 1 - i,
    tokens: new Int32Array(16),
    image: { width: side, height: side, data: new Uint8Array(side * side * 3).fill(40 * (i + 1)) },
    score: 0.3 - i * 0.01,
    rank: i + 1,
  }));
  return {
    prompt: 'a red circle',
    negativePrompt: null,
    seed: 5,
    settings: { candidates: count, keep, temperature: 1, topK: 0, topP: 1, guidanceScale: 1, previewEvery: 0 },
    model: 'tiny-random',
    candidates,
    kept: candidates.slice(0, keep),
    timings: { tokenize: 1, prefill: 2, decode: 3, imageDecode: 4, rerank: 5, total: 15 },
    warnings: [],
    unknownWords: [],
    promptTruncated: false,
  };
}

/** Where `value` is not plain JSON data (only plain objects, arrays and JSON primitives may appear); empty when it is. */
export function plainJsonViolations(value: unknown, at = '$'): string[] {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return [];
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [`${at}: non-finite number`];
  if (value === undefined) return []; // an absent optional field; JSON drops it
  if (typeof value !== 'object') return [`${at}: ${typeof value}`];
  const proto = Object.getPrototypeOf(value) as unknown;
  if (Array.isArray(value)) return value.flatMap((v, i) => plainJsonViolations(v, `${at}[${i}]`));
  if (proto !== Object.prototype && proto !== null) return [`${at}: instance of ${(value as object).constructor?.name ?? 'unknown'}`];
  return Object.entries(value).flatMap(([k, v]) => plainJsonViolations(v, `${at}.${k}`));
}
