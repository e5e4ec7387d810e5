/**
 * The batched sampler, in small named phases after LlamaGen: `prefill` (each distinct
 * text once, copied into every candidate's slots), `decodeStep` (one token for every
 * row), `decodeSteps`, and `generate`. All candidates of a batch share one generator step
 * per token; classifier-free guidance adds one unconditional row per candidate.
 *
 * The sampler owns rows, guidance, logits processors and random streams only; the
 * transformer, its vocabulary layout and its cache live behind the generator seam
 * (src/generator/generator.ts).
 */
import { TesseraError } from '../errors.js';
import { logitsRow, type ImageTokenGenerator } from '../generator/generator.js';
import { checkForced } from './conditioning.js';
import { buildProcessors } from './logits-processors.js';
import { CandidateStream } from './rng.js';
import { drawToken, stepInputs } from './step.js';
import { isGuided, rowsFor, type BatchState, type SequenceSpec } from './sequence.js';

export { isGuided, rowsFor, type BatchState, type SequenceSpec };

export interface SamplerStats {
  /** Rows run through the prefill phase (one per distinct text prefix). */
  prefillRows: number;
  stepCalls: number;
  /** Rows of the last step call (candidates, plus their unconditional twins). */
  stepRows: number;
  prefillMs: number;
  decodeMs: number;
}

export interface StepProgress {
  /** Image tokens sampled so far per sequence (all sequences advance together). */
  tokensDone: number;
  tokensTotal: number;
  /** codes[s] holds the first tokensDone codes of sequence s. */
  codes: Int32Array[];
}

export interface SampleOptions {
  onStep?: (progress: StepProgress) => void | Promise<void>;
  signal?: AbortSignal;
}

export class BatchSampler {
  readonly generator: ImageTokenGenerator;

  constructor(generator: ImageTokenGenerator) {
    this.generator = generator;
  }

  get stats(): SamplerStats {
    return this.generator.stats;
  }

  /** Image positions per sequence. */
  get imageTokens(): number {
    return this.generator.imageTokens;
  }

  /** Phase 1: prefill every distinct text once and lay out the rows of the batch. */
  async prefill(sequences: readonly SequenceSpec[]): Promise<BatchState> {
    const { generator } = this;
    const prefixIndex = new Map<string, number>();
    const prefixes: (readonly number[])[] = [];
    const prefixOf = (ids: readonly number[]): number => {
      const key = ids.join(',');
      let index = prefixIndex.get(key);
      if (index === undefined) {
        index = prefixes.length;
        prefixIndex.set(key, index);
        prefixes.push(ids);
      }
      return index;
    };
    for (const s of sequences) if (s.forced) checkForced(s.forced, generator.imageTokens, generator.imageVocab);
    // Rows: every conditional text, then the unconditional twins of guided sequences.
    const conditionalRow = new Int32Array(sequences.length);
    const unconditionalRow = new Int32Array(sequences.length).fill(-1);
    const rowPrefix: number[] = [];
    sequences.forEach((s, i) => {
      conditionalRow[i] = rowPrefix.length;
      rowPrefix.push(prefixOf(s.textIds));
    });
    sequences.forEach((s, i) => {
      if (isGuided(s)) {
        unconditionalRow[i] = rowPrefix.length;
        rowPrefix.push(prefixOf(s.unconditionalIds as readonly number[]));
      }
    });
    const rows = rowPrefix.length;
    const batch = await generator.prefill(prefixes);
    const cache = generator.allocate(rows);
    rowPrefix.forEach((p, row) => generator.writePrefix(cache, row, batch, p));
    return {
      sequences: [...sequences],
      conditionalRow,
      unconditionalRow,
      rows,
      cache,
      streams: sequences.map((s) => new CandidateStream(s.seed, s.candidateIndex)),
      chains: sequences.map((s) => buildProcessors(s.processors)),
      codes: sequences.map(() => new Int32Array(generator.imageTokens)),
      tokensDone: 0,
      logits: batch.logits,
      logitsRow: Int32Array.from(rowPrefix),
    };
  }

  /** Samples (or takes the forced code of) the next image position of every sequence from the current logits. */
  sampleNext(state: BatchState): void {
    const { imageVocab } = this.generator;
    const mixed = new Float64Array(imageVocab);
    const scratch = new Float64Array(imageVocab);
    const position = state.tokensDone;
    const rowLogits = (row: number) => logitsRow(state.logits, state.logitsRow[row], imageVocab); // [imageVocab]
    state.sequences.forEach((s, i) => {
      const uncondRow = state.unconditionalRow[i];
      state.codes[i][position] = drawToken(s, state.streams[i], state.chains[i], { sequence: i, position }, () => rowLogits(state.conditionalRow[i]), uncondRow < 0 ? null : () => rowLogits(uncondRow), mixed, scratch);
    });
    state.tokensDone = position + 1;
  }

  /** Phase 2: feeds every row its last code and runs one generator step. */
  async decodeStep(state: BatchState): Promise<void> {
    const { codes, positions } = stepInputs([{ state, offset: 0 }], state.rows);
    state.logits = await this.generator.step(state.cache, codes, positions);
    state.logitsRow = Int32Array.from({ length: state.rows }, (_, r) => r);
  }

  /** Phase 3: samples until every sequence has `count` more tokens (or the grid is full). */
  async decodeSteps(state: BatchState, count: number, options: SampleOptions = {}): Promise<void> {
    const total = this.generator.imageTokens;
    const target = Math.min(total, state.tokensDone + count);
    while (state.tokensDone < target) {
      if (options.signal?.aborted) {
        throw new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled', { cause: options.signal.reason });
      }
      if (state.tokensDone > 0) await this.decodeStep(state);
      this.sampleNext(state);
      await options.onStep?.({ tokensDone: state.tokensDone, tokensTotal: total, codes: state.codes });
    }
  }

  /** Sampling with `state` is over: its KV cache's memory may serve the next batch's (the state's codes stay). */
  release(state: BatchState): void {
    state.cache.release?.();
  }

  /** Phase 4: prefill, then sample every image token of every sequence. Returns codes per sequence. */
  async generate(sequences: readonly SequenceSpec[], options: SampleOptions = {}): Promise<Int32Array[]> {
    const state = await this.prefill(sequences);
    await this.decodeSteps(state, this.generator.imageTokens, options);
    this.release(state);
    return state.codes;
  }
}
