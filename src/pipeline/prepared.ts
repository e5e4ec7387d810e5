import type { SequenceSpec } from '../sampler/sampler.js';
import type { ResolvedRequest } from './settings.js';

/** A request after settings resolution and tokenization: what the sampler needs, and what ranking needs after. */
export interface PreparedRequest {
  resolved: ResolvedRequest;
  warnings: string[];
  unknownWords: string[];
  promptTruncated: boolean;
  sequences: SequenceSpec[];
  /** Tokens the prompt (and negative prompt) had, for the `usage` object. */
  textTokens: { prompt: { tokenCount: number; truncated: boolean }; negative: { tokenCount: number; truncated: boolean } | null };
}
