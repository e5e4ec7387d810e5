import { TesseraError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import { ort } from '../model/runtime.js';
import { KvSlots } from './kv-cache.js';
import { applyGuidance, buildProcessors, processAndSample, type LogitsProcessor, type ProcessorSettings } from './logits-processors.js';
import { CandidateStream } from './rng.js';

/** One candidate image to sample: its text, its guidance and its own random stream. */
export interface SequenceSpec {
  textIds: readonly number[];
  /** Text of the unconditional row (the manifest's, or a negative prompt); null disables guidance. */
  unconditionalIds: readonly number[] | null;
  guidanceScale: number;
  seed: number;
  candidateIndex: number;
  processors: ProcessorSettings;
}

export interface SamplerStats {
  /** Rows run through the prefill graph (one per distinct text prefix). */
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

interface Dims {
  textVocab: number;
  imageVocab: number;
  vocab: number;
  textLength: number;
  imageTokens: number;
  layers: number;
  heads: number;
  headDim: number;
  slots: number;
}

/** A prepared batch: rows, their slots, streams and processors, between phases. */
export interface BatchState {
  sequences: SequenceSpec[];
  /** conditionalRow[s], unconditionalRow[s] (-1 when unguided). */
  conditionalRow: Int32Array;
  unconditionalRow: Int32Array;
  rows: number;
  cache: KvSlots;
  streams: CandidateStream[];
  chains: LogitsProcessor[][];
  codes: Int32Array[];
  tokensDone: number;
  /** Next-token logits per row ([rows, vocab]) from the last prefill/step. */
  logits: Float32Array;
}

function tensorData(value: ort.Tensor): Float32Array {
  return value.data as Float32Array;
}

/**
 * The batched sampler, in small named phases after LlamaGen: `prefill` (each distinct
 * text once, copied into every candidate's slots), `decodeStep` (one token for every
 * row), `decodeSteps`, and `generate`. All candidates of a batch share one graph run
 * per step; classifier-free guidance adds one unconditional row per candidate.
 */
export class BatchSampler {
  readonly dims: Dims;
  readonly stats: SamplerStats = { prefillRows: 0, stepCalls: 0, stepRows: 0, prefillMs: 0, decodeMs: 0 };
  private readonly prefillSession: ort.InferenceSession;
  private readonly stepSession: ort.InferenceSession;

  constructor(manifest: ModelManifest, prefillSession: ort.InferenceSession, stepSession: ort.InferenceSession) {
    const { text, image, generator } = manifest;
    this.dims = {
      textVocab: text.vocabSize,
      imageVocab: image.vocabSize,
      vocab: text.vocabSize + image.vocabSize,
      textLength: text.length,
      imageTokens: image.grid.height * image.grid.width,
      layers: generator.layers,
      heads: generator.heads,
      headDim: generator.headDim,
      slots: generator.maxLength,
    };
    this.prefillSession = prefillSession;
    this.stepSession = stepSession;
  }

  /** Runs the prefill graph over distinct prefixes; returns its raw outputs. */
  async runPrefill(prefixes: readonly (readonly number[])[]): Promise<{ logits: Float32Array; keys: Float32Array; values: Float32Array }> {
    const { textLength } = this.dims;
    const ids = new BigInt64Array(prefixes.length * textLength); // [P, T]
    prefixes.forEach((prefix, p) => prefix.forEach((id, t) => (ids[p * textLength + t] = BigInt(id))));
    const started = performance.now();
    const out = await this.prefillSession.run({ input_ids: new ort.Tensor('int64', ids, [prefixes.length, textLength]) });
    this.stats.prefillMs += performance.now() - started;
    this.stats.prefillRows += prefixes.length;
    return { logits: tensorData(out.logits), keys: tensorData(out.present_keys), values: tensorData(out.present_values) };
  }

  /** Phase 1: prefill every distinct text once and lay out the rows of the batch. */
  async prefill(sequences: readonly SequenceSpec[]): Promise<BatchState> {
    const { textLength, vocab, layers, heads, headDim, slots, imageTokens } = this.dims;
    for (const s of sequences) {
      if (s.textIds.length !== textLength || (s.unconditionalIds !== null && s.unconditionalIds.length !== textLength)) {
        throw new TesseraError('TESSERA_ERR_INFERENCE', `every text must hold exactly ${textLength} ids`);
      }
    }
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
    const conditionalRow = new Int32Array(sequences.length);
    const unconditionalRow = new Int32Array(sequences.length).fill(-1);
    const rowPrefix: number[] = [];
    sequences.forEach((s, i) => {
      conditionalRow[i] = rowPrefix.length;
      rowPrefix.push(prefixOf(s.textIds));
    });
    sequences.forEach((s, i) => {
      if (s.unconditionalIds !== null && s.guidanceScale !== 1) {
        unconditionalRow[i] = rowPrefix.length;
        rowPrefix.push(prefixOf(s.unconditionalIds));
      }
    });
    const rows = rowPrefix.length;
    const present = await this.runPrefill(prefixes);
    const cache = new KvSlots({ layers, heads, slots, headDim }, rows);
    const logits = new Float32Array(rows * vocab); // [rows, vocab]
    rowPrefix.forEach((p, row) => {
      cache.writePrefix(row, present.keys, present.values, prefixes.length, p, textLength);
      logits.set(present.logits.subarray(p * vocab, (p + 1) * vocab), row * vocab);
    });
    return {
      sequences: [...sequences],
      conditionalRow,
      unconditionalRow,
      rows,
      cache,
      streams: sequences.map((s) => new CandidateStream(s.seed, s.candidateIndex)),
      chains: sequences.map((s) => buildProcessors(s.processors)),
      codes: sequences.map(() => new Int32Array(imageTokens)),
      tokensDone: 0,
      logits,
    };
  }

  /** Samples the next image token of every sequence from the current logits. */
  sampleNext(state: BatchState): void {
    const { textVocab, imageVocab, vocab } = this.dims;
    const mixed = new Float64Array(imageVocab);
    const scratch = new Float64Array(imageVocab);
    const j = state.tokensDone;
    state.sequences.forEach((s, i) => {
      // Only the image range of the combined vocabulary is ever sampled.
      const condStart = state.conditionalRow[i] * vocab + textVocab;
      const conditional = state.logits.subarray(condStart, condStart + imageVocab); // [imageVocab]
      const uncondRow = state.unconditionalRow[i];
      const unconditional = uncondRow < 0 ? null : state.logits.subarray(uncondRow * vocab + textVocab, uncondRow * vocab + textVocab + imageVocab);
      applyGuidance(conditional, unconditional, s.guidanceScale, mixed);
      state.codes[i][j] = processAndSample(mixed, state.chains[i], state.streams[i].uniform(), scratch);
    });
    state.tokensDone = j + 1;
  }

  /** Phase 2: feeds every row its last token and runs one step of the step graph. */
  async decodeStep(state: BatchState): Promise<void> {
    const { textVocab, textLength } = this.dims;
    const rows = state.rows;
    const fed = state.tokensDone - 1; // index of the image token fed this step
    const inputIds = new BigInt64Array(rows); // [R, 1]
    const positions = new Int32Array(rows).fill(textLength + fed);
    state.sequences.forEach((_, i) => {
      const token = BigInt(textVocab + state.codes[i][fed]);
      inputIds[state.conditionalRow[i]] = token;
      if (state.unconditionalRow[i] >= 0) inputIds[state.unconditionalRow[i]] = token;
    });
    state.logits = await this.runStep(state.cache, inputIds, positions);
  }

  /**
   * Runs the step graph once over every row of `cache`: row r is fed `inputIds[r]` at
   * `positions[r]` (rows may sit at different positions), its new key/value entries are
   * written into its slot at that position, and the next-token logits ([rows, vocab]) returned.
   */
  async runStep(cache: KvSlots, inputIds: BigInt64Array, positions: Int32Array): Promise<Float32Array> {
    const { vocab, layers, heads, headDim, slots } = this.dims;
    const rows = cache.rows;
    const positionIds = BigInt64Array.from(positions, (p) => BigInt(p)); // [R, 1]
    const keyDims = [rows, heads, headDim, slots]; // keys stored transposed
    const valueDims = [rows, heads, slots, headDim];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [rows, 1]),
      position_ids: new ort.Tensor('int64', positionIds, [rows, 1]),
      attention_mask: new ort.Tensor('float32', cache.mask, [rows, slots]),
    };
    for (let l = 0; l < layers; l++) {
      feeds[`past_key_${l}`] = new ort.Tensor('float32', cache.keys[l], keyDims);
      feeds[`past_value_${l}`] = new ort.Tensor('float32', cache.values[l], valueDims);
    }
    const started = performance.now();
    const out = await this.stepSession.run(feeds);
    this.stats.decodeMs += performance.now() - started;
    this.stats.stepCalls += 1;
    this.stats.stepRows = rows;
    cache.writeStep(tensorData(out.new_keys), tensorData(out.new_values), positions);
    const logits = tensorData(out.logits);
    if (logits.length !== rows * vocab) {
      throw new TesseraError('TESSERA_ERR_INFERENCE', `step graph returned ${logits.length} logits, expected ${rows}x${vocab}`);
    }
    return logits;
  }

  /** Phase 3: samples until every sequence has `count` more tokens (or the grid is full). */
  async decodeSteps(state: BatchState, count: number, options: SampleOptions = {}): Promise<void> {
    const total = this.dims.imageTokens;
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

  /** Phase 4: prefill, then sample every image token of every sequence. Returns codes per sequence. */
  async generate(sequences: readonly SequenceSpec[], options: SampleOptions = {}): Promise<Int32Array[]> {
    const state = await this.prefill(sequences);
    await this.decodeSteps(state, this.dims.imageTokens, options);
    return state.codes;
  }
}
