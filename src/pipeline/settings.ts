import { TesseraError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import { MAX_SEED, randomSeed } from '../sampler/rng.js';
import type { GenerateRequest, SamplingSettings } from '../types.js';
import { resolveImagePrompt, type ResolvedImagePrompt } from './image-prompt.js';

/** Bounds of every request field, shared by the CLI, the HTTP API and the batch runner. */
export const LIMITS = {
  promptCharacters: 4000,
  candidates: { min: 1, max: 1024 },
  temperature: { min: 0, max: 10 },
  topK: { min: 0, max: 1_000_000 },
  topP: { min: 0, max: 1 },
  guidanceScale: { min: 0, max: 50 },
  previewEvery: { min: 0, max: 4096 },
  seed: { min: 0, max: MAX_SEED },
} as const;

function optionError(param: string, message: string): TesseraError {
  return new TesseraError('TESSERA_ERR_OPTION', `${param} ${message}`, { param });
}

function integerIn(param: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw optionError(param, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function numberIn(param: string, value: unknown, min: number, max: number, { minExclusive = false } = {}): number {
  const belowMin = typeof value === 'number' && (minExclusive ? value <= min : value < min);
  if (typeof value !== 'number' || !Number.isFinite(value) || belowMin || value > max) {
    const range = minExclusive ? `greater than ${min} and at most ${max}` : `from ${min} to ${max}`;
    throw optionError(param, `must be a number ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Characters a prompt may not hold: C0 controls but tab, line feed and carriage return,
 * DEL and the C1 controls, and the noncharacters U+FFFE/U+FFFF. Prompt text is written
 * into PNG text chunks (Latin-1/UTF-8 without NUL), XMP (XML 1.0 forbids these), SQLite,
 * SSE lines and logs; rejecting them up front keeps every one of those lossless.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFFFE\uFFFF]/u;

/** Prompt length in Unicode code points (what LIMITS.promptCharacters counts): an emoji is one character. */
export function promptLength(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

function describeCharacter(text: string, index: number): string {
  const code = text.codePointAt(index) ?? 0;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Throws TESSERA_ERR_PROMPT for a missing, empty or oversized prompt, or one holding a forbidden character or a lone surrogate. */
export function checkPrompt(prompt: unknown, param = 'prompt'): string {
  if (typeof prompt !== 'string') {
    throw new TesseraError('TESSERA_ERR_PROMPT', `${param} must be a string, got ${JSON.stringify(prompt)}`, { param });
  }
  // In a /u regex a surrogate class matches only unpaired halves (a pair is one code point).
  if (/[\uD800-\uDFFF]/u.test(prompt)) {
    throw new TesseraError('TESSERA_ERR_PROMPT', `${param} holds a lone UTF-16 surrogate (malformed Unicode text)`, { param });
  }
  const forbidden = FORBIDDEN_CHARACTER.exec(prompt);
  if (forbidden !== null) {
    const position = promptLength(prompt.slice(0, forbidden.index)) + 1;
    throw new TesseraError(
      'TESSERA_ERR_PROMPT',
      `${param} holds the control character ${describeCharacter(prompt, forbidden.index)} at character ${position}; only tab, line feed and carriage return are allowed among control characters`,
      { param },
    );
  }
  if (prompt.trim() === '') {
    throw new TesseraError('TESSERA_ERR_PROMPT', `${param} is empty: describe the image to generate`, { param });
  }
  const length = promptLength(prompt);
  if (length > LIMITS.promptCharacters) {
    throw new TesseraError('TESSERA_ERR_PROMPT', `${param} has ${length} characters (Unicode code points); at most ${LIMITS.promptCharacters} are allowed`, { param });
  }
  return prompt;
}

export interface ResolvedRequest {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  settings: SamplingSettings;
  candidateIndices: number[];
  rerank: boolean;
  /** Previews decode only the first this many candidates (the ones a face shows). */
  previewCandidates: number;
  /** The image prompt (completion, edit, variation); null for text alone. */
  image: ResolvedImagePrompt | null;
}

/** Applies the manifest's defaults to a request and checks every field's range. */
export function resolveRequest(request: GenerateRequest, manifest: ModelManifest): ResolvedRequest {
  const image = request.image === undefined || request.image === null ? null : resolveImagePrompt(request.image, manifest);
  // A variation needs no text: an absent or empty caption samples unconditioned on text.
  const uncaptioned = image?.mode === 'vary' && (request.prompt === undefined || request.prompt === null || request.prompt === '');
  const prompt = uncaptioned ? '' : checkPrompt(request.prompt);
  const negativePrompt = request.negativePrompt === undefined || request.negativePrompt === null ? null : checkPrompt(request.negativePrompt, 'negativePrompt');
  const d = manifest.sampling;
  const candidates = integerIn('candidates', request.candidates ?? d.candidates, LIMITS.candidates.min, LIMITS.candidates.max);
  const keep = integerIn('keep', request.keep ?? Math.min(d.keep, candidates), 1, candidates);
  const settings: SamplingSettings = {
    candidates,
    keep,
    temperature: numberIn('temperature', request.temperature ?? d.temperature, LIMITS.temperature.min, LIMITS.temperature.max),
    topK: integerIn('topK', request.topK ?? d.topK, LIMITS.topK.min, LIMITS.topK.max),
    topP: numberIn('topP', request.topP ?? d.topP, LIMITS.topP.min, LIMITS.topP.max, { minExclusive: true }),
    guidanceScale: numberIn('guidanceScale', request.guidanceScale ?? d.guidanceScale, LIMITS.guidanceScale.min, LIMITS.guidanceScale.max),
    previewEvery: integerIn('previewEvery', request.previewEvery ?? d.previewEvery, LIMITS.previewEvery.min, LIMITS.previewEvery.max),
  };
  const seed = request.seed === undefined ? randomSeed() : integerIn('seed', request.seed, LIMITS.seed.min, LIMITS.seed.max);
  let candidateIndices: number[];
  if (request.candidateIndices === undefined) {
    candidateIndices = Array.from({ length: candidates }, (_, i) => i);
  } else {
    if (!Array.isArray(request.candidateIndices) || request.candidateIndices.length === 0) {
      throw optionError('candidateIndices', 'must be a non-empty array of candidate indices');
    }
    candidateIndices = request.candidateIndices.map((i) => integerIn('candidateIndices', i, 0, 1_000_000));
    if (new Set(candidateIndices).size !== candidateIndices.length) throw optionError('candidateIndices', 'must not repeat an index');
    settings.candidates = candidateIndices.length;
    settings.keep = Math.min(settings.keep, candidateIndices.length);
  }
  const previewCandidates =
    request.previewCandidates === undefined ? settings.candidates : Math.min(settings.candidates, integerIn('previewCandidates', request.previewCandidates, 0, LIMITS.candidates.max));
  return { prompt, negativePrompt, seed, settings, candidateIndices, rerank: request.rerank ?? true, previewCandidates, image };
}
