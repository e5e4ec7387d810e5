/**
 * The OpenAI Images API `usage` object, filled from what Tessera actually ran. OpenAI
 * bills gpt-image requests by tokens: input = the prompt's text tokens (plus input
 * image tokens for edits), output = image tokens generated. Tessera's counterparts:
 * input text tokens are the generator's text tokens (the prompt, and a negative
 * prompt's tokens where guidance uses one), output tokens every image token sampled,
 * over all candidates, not only the kept ones: that is the work done.
 */

import type { ImagesUsage } from '../types.js';

export type { ImagesUsage };

export interface UsageInput {
  /** Non-pad tokens of the prompt as the generator's tokenizer made them (after truncation). */
  promptTokens: number;
  /** Non-pad tokens of the negative prompt, when one was given and guidance used it. */
  negativePromptTokens?: number;
  /** Candidates sampled (all of them, kept or not). */
  candidates: number;
  /** Image tokens per candidate (grid height × width). */
  imageTokensPerCandidate: number;
  /** Codes of an input image the generator was given (an image prompt's kept codes). */
  inputImageTokens?: number;
  /**
   * Image tokens actually sampled when the run stopped early (cancelled, timed out);
   * defaults to candidates × imageTokensPerCandidate.
   */
  sampledImageTokens?: number;
}

function count(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

export function imagesUsage(input: UsageInput): ImagesUsage {
  const text = count(input.promptTokens, 'promptTokens') + count(input.negativePromptTokens ?? 0, 'negativePromptTokens');
  const image = count(input.inputImageTokens ?? 0, 'inputImageTokens');
  const output = count(input.sampledImageTokens ?? count(input.candidates, 'candidates') * count(input.imageTokensPerCandidate, 'imageTokensPerCandidate'), 'sampledImageTokens');
  return {
    input_tokens: text + image,
    output_tokens: output,
    total_tokens: text + image + output,
    input_tokens_details: { text_tokens: text, image_tokens: image },
  };
}

/** Tokens a prompt put into the generator: its token count, cut at the model's text length. */
export function fedTokens(prompt: { tokenCount: number; truncated: boolean }, textLength: number): number {
  return Math.min(prompt.tokenCount, textLength);
}

/**
 * Usage of one request from its tokenized prompts (src/text/tokenizer.ts EncodedPrompt)
 * and the model's shapes. A negative prompt counts only when guidance used it (scale
 * not 1); the manifest's own unconditional text is no input of the caller's and counts 0.
 */
export function usageFor(
  model: { text: { length: number }; image: { grid: { height: number; width: number } } },
  request: {
    prompt: { tokenCount: number; truncated: boolean };
    negative: { tokenCount: number; truncated: boolean } | null;
    guidanceScale: number;
    candidates: number;
    sampledImageTokens?: number;
    /** Image positions an image prompt fixed from its source (the same for every candidate). */
    forcedImageTokens?: number;
  },
): ImagesUsage {
  const perCandidate = model.image.grid.height * model.image.grid.width;
  const forced = request.forcedImageTokens ?? 0;
  const guided = request.guidanceScale !== 1;
  return imagesUsage({
    promptTokens: fedTokens(request.prompt, model.text.length),
    negativePromptTokens: guided && request.negative !== null ? fedTokens(request.negative, model.text.length) : 0,
    candidates: request.candidates,
    // Forced positions are input (the source's codes, given once), not sampled output.
    inputImageTokens: forced,
    imageTokensPerCandidate: perCandidate - forced,
    ...(request.sampledImageTokens === undefined ? {} : { sampledImageTokens: request.sampledImageTokens }),
  });
}

/** The usage of several requests together (a batch run's summary). */
export function sumUsage(parts: readonly ImagesUsage[]): ImagesUsage {
  const add = (pick: (u: ImagesUsage) => number): number => parts.reduce((s, u) => s + pick(u), 0);
  return {
    input_tokens: add((u) => u.input_tokens),
    output_tokens: add((u) => u.output_tokens),
    total_tokens: add((u) => u.total_tokens),
    input_tokens_details: { text_tokens: add((u) => u.input_tokens_details.text_tokens), image_tokens: add((u) => u.input_tokens_details.image_tokens) },
  };
}
