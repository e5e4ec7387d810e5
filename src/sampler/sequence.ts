/** What the samplers share about the sequences they sample: a sequence's spec, its rows, a batch's state between phases. */
import type { ImageLogits, RowCache } from '../generator/generator.js';
import type { LogitsProcessor, ProcessorSettings } from './logits-processors.js';
import type { CandidateStream } from './rng.js';

/** One candidate image to sample: its text, its guidance, its own random stream and any forced codes. */
export interface SequenceSpec {
  textIds: readonly number[];
  /** Text of the unconditional row (the manifest's, or a negative prompt); null disables guidance. */
  unconditionalIds: readonly number[] | null;
  guidanceScale: number;
  seed: number;
  candidateIndex: number;
  processors: ProcessorSettings;
  /**
   * Codes fixed in advance, one per image position (FREE = sampled): an image prompt's
   * prefix, or the kept part of an edit. See conditioning.ts for the RNG rule.
   */
  forced?: Int32Array | null;
}

/** Whether a sequence runs an unconditional twin row. */
export function isGuided(s: SequenceSpec): boolean {
  return s.unconditionalIds !== null && s.guidanceScale !== 1;
}

/** Rows a set of sequences occupies: one per candidate plus one per guided candidate's unconditional twin. */
export function rowsFor(sequences: readonly SequenceSpec[]): number {
  return sequences.reduce((rows, s) => rows + (isGuided(s) ? 2 : 1), 0);
}

/** A prepared batch: rows, their slots, streams and processors, between phases. */
export interface BatchState {
  sequences: SequenceSpec[];
  /** conditionalRow[s], unconditionalRow[s] (-1 when unguided). */
  conditionalRow: Int32Array;
  unconditionalRow: Int32Array;
  rows: number;
  cache: RowCache;
  streams: CandidateStream[];
  chains: LogitsProcessor[][];
  codes: Int32Array[];
  tokensDone: number;
  /** Next-token image logits per row from the last prefill/step. */
  logits: ImageLogits;
  /** Row of `logits` that holds each batch row's logits (the prefix's row right after prefill). */
  logitsRow: Int32Array;
}
