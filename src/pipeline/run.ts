/**
 * One generation run: the prepared requests whose sequences are sampled together as
 * one group, from their first token to ranked results. It is the single place that
 * builds stage events, step progress, previews and timings, whoever drives the sampler:
 * `Tessera.generateMany` (CLI, batch, eval: one BatchSampler batch) and the server's
 * inference child (ContinuousBatch, one run per request sharing steps with others).
 */
import type { PreparedRequest, Tessera } from './tessera.js';
import type { GenerationEvent, GenerationResult, StageTimings } from '../types.js';

/**
 * Fills the unsampled tail of a partial grid so it can be decoded as a preview. The
 * most frequent code sampled so far is usually the background, so the preview shows
 * the finished rows over a plain continuation rather than noise.
 */
export function fillPartialGrid(codes: Int32Array, done: number): Int32Array {
  const grid = Int32Array.from(codes);
  if (done === 0 || done >= grid.length) return grid;
  const counts = new Map<number, number>();
  let mode = grid[0];
  for (let i = 0; i < done; i++) {
    const c = (counts.get(grid[i]) ?? 0) + 1;
    counts.set(grid[i], c);
    if (c > (counts.get(mode) ?? 0)) mode = grid[i];
  }
  grid.fill(mode, done);
  return grid;
}

/** Progress of the run's sequences after one sampled token. */
export interface RunProgress {
  tokensDone: number;
  tokensTotal: number;
  /** codes[s] holds the first tokensDone codes of sequence s of the run. */
  codes: Int32Array[];
  /** Rows of the graph run that sampled this token (other runs' rows included when they share steps). */
  rows?: number;
}

/** How sampling went, as told by the driver once the grids are complete. */
export interface SamplingDone {
  codes: Int32Array[];
  prefillMs: number;
  /** Set by the continuous driver: how this run's steps were shared with others. */
  batching?: { maxRowsPerStep: number; sharedSteps: number };
}

export class GenerationRun {
  readonly prepared: readonly PreparedRequest[];
  private readonly started: number;
  private readonly tokenizeMs: number;
  private lastTick = performance.now();
  private previewMs = 0;
  /** Sequences of the run, in order (request after request). */
  readonly candidates: number;
  private readonly previewEvery: number;

  constructor(
    private readonly tessera: Tessera,
    prepared: readonly PreparedRequest[],
    private readonly emit: (event: GenerationEvent) => void,
    timing: { started: number; tokenizeMs: number },
  ) {
    this.prepared = prepared;
    this.started = timing.started;
    this.tokenizeMs = timing.tokenizeMs;
    this.candidates = prepared.reduce((n, p) => n + p.sequences.length, 0);
    this.previewEvery = Math.min(...prepared.map((p) => p.resolved.settings.previewEvery));
    emit({ type: 'stage', stage: 'tokenize', ms: this.tokenizeMs });
  }

  get sequences() {
    return this.prepared.flatMap((p) => p.sequences);
  }

  /** Sampling began: `rows` graph rows (the prefill's own rows for a continuous run). */
  start(rows: number, steps: number): void {
    this.lastTick = performance.now();
    this.emit({ type: 'start', candidates: this.candidates, steps, rows });
  }

  /** One token was sampled for every sequence of the run: 'step', and a 'preview' on the preview cadence. */
  async token(progress: RunProgress): Promise<void> {
    const { tokensDone, tokensTotal, codes, rows } = progress;
    const now = performance.now();
    const tokensPerSecond = this.candidates / Math.max((now - this.lastTick) / 1000, 1e-9);
    this.emit(rows === undefined ? { type: 'step', step: tokensDone, steps: tokensTotal, tokensPerSecond } : { type: 'step', step: tokensDone, steps: tokensTotal, tokensPerSecond, rows });
    this.lastTick = now;
    if (this.previewEvery > 0 && tokensDone % this.previewEvery === 0 && tokensDone < tokensTotal) {
      // Nobody shown, nothing decoded: previews cost a full image decode of every shown candidate.
      const shown = this.shownCodes(codes);
      if (shown.length === 0) return;
      const started = performance.now();
      const images = await this.tessera.previewImages(shown, tokensDone);
      this.previewMs += performance.now() - started;
      this.emit({ type: 'preview', step: tokensDone, steps: tokensTotal, images });
    }
  }

  /** The codes of the candidates a face shows: the first previewCandidates of each request. */
  private shownCodes(codes: Int32Array[]): Int32Array[] {
    const shown: Int32Array[] = [];
    let offset = 0;
    for (const p of this.prepared) {
      shown.push(...codes.slice(offset, offset + Math.min(p.resolved.previewCandidates, p.sequences.length)));
      offset += p.sequences.length;
    }
    return shown;
  }

  /** Sampling is complete: decode every grid, rerank each request's candidates, rank, time. */
  async finish(done: SamplingDone): Promise<GenerationResult[]> {
    const { prefillMs } = done;
    // Decode is the sampling time after prefill, less the time spent decoding previews.
    const decodeMs = performance.now() - this.started - this.tokenizeMs - prefillMs - this.previewMs;
    this.emit({ type: 'stage', stage: 'prefill', ms: prefillMs });
    this.emit({ type: 'stage', stage: 'decode', ms: decodeMs });
    const imageStarted = performance.now();
    const images = await this.tessera.model.decoder.decode(done.codes);
    const imageDecodeMs = performance.now() - imageStarted;
    this.emit({ type: 'stage', stage: 'imageDecode', ms: imageDecodeMs });
    const results: GenerationResult[] = [];
    let offset = 0;
    let rerankMs = 0;
    for (const p of this.prepared) {
      const count = p.sequences.length;
      const ranked = await this.tessera.scoreAndRank(p, images.slice(offset, offset + count), done.codes.slice(offset, offset + count));
      offset += count;
      rerankMs += ranked.rerankMs;
      results.push(ranked.result);
    }
    this.emit({ type: 'stage', stage: 'rerank', ms: rerankMs });
    const timings: StageTimings = {
      tokenize: this.tokenizeMs,
      prefill: prefillMs,
      decode: decodeMs,
      imageDecode: imageDecodeMs,
      rerank: rerankMs,
      total: performance.now() - this.started,
    };
    for (const r of results) {
      r.timings = timings;
      if (done.batching) r.batching = done.batching;
    }
    return results;
  }
}
