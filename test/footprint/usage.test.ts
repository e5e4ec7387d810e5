import { describe, expect, it } from 'vitest';
import { imagesUsage, usageFor } from '../../src/footprint/usage.js';

const model = { text: { length: 16 }, image: { grid: { height: 8, width: 8 } } };

describe('OpenAI Images usage', () => {
  it('counts text tokens in and every sampled image token out, over all candidates', () => {
    const usage = usageFor(model, { prompt: { tokenCount: 5, truncated: false }, negative: null, guidanceScale: 1, candidates: 32 });
    expect(usage).toEqual({ input_tokens: 5, output_tokens: 32 * 64, total_tokens: 5 + 2048, input_tokens_details: { text_tokens: 5, image_tokens: 0 } });
  });

  it('counts a truncated prompt as the tokens fed, and a negative prompt only under guidance', () => {
    const long = { tokenCount: 40, truncated: true };
    const negative = { tokenCount: 3, truncated: false };
    expect(usageFor(model, { prompt: long, negative, guidanceScale: 1, candidates: 1 }).input_tokens).toBe(16);
    const guided = usageFor(model, { prompt: long, negative, guidanceScale: 3, candidates: 2 });
    expect(guided.input_tokens_details.text_tokens).toBe(19);
    expect(guided.output_tokens).toBe(128); // unconditional twin rows produce no image of their own
  });

  it('counts what was sampled when a run stopped early, and rejects impossible counts', () => {
    const usage = imagesUsage({ promptTokens: 4, candidates: 8, imageTokensPerCandidate: 64, sampledImageTokens: 8 * 20 });
    expect(usage.output_tokens).toBe(160);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    expect(() => imagesUsage({ promptTokens: -1, candidates: 1, imageTokensPerCandidate: 64 })).toThrow(RangeError);
  });
});
