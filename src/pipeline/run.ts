/**
 * One generation run: the prepared requests whose sequences are sampled together as
 * one group, from their first token to ranked results. It is the single place that
 * builds stage events, step progress, previews and timings, whoever drives the sampler:
 * `Tessera.generateMany` (CLI, batch, eval: one BatchSampler batch) and the server's
 * inference child (ContinuousBatch, one run per request sharing steps with others).
 */
import type { LoadedModel } from './loader.js';
import type { PreparedRequest } from './prepared.js';
import type { FootprintSettings } from '../footprint/report.js';
import { rowsFor } from '../sampler/sampler.js';
import { requestGroupShares } from '../sampler/row-groups.js';
import { finishFootprint, partOf, shareOf, startFootprint } from '../footprint/report.js';
import type { EnergySnapshot } from '../footprint/energy.js';
import type { Footprint, GenerationEvent, GenerationResult, RgbImage, StageBytes, StageFlops, StageTimings } from '../types.js';

/**
 * What a run needs of the pipeline that drives it (Tessera implements it): the image
 * VQ codec, previews, FLOPs and bytes, and ranking. The run sits below the orchestrator, not beside it.
 */
export interface RunStages {
  readonly model: Pick<LoadedModel, 'vq'>;
  readonly footprintSettings: FootprintSettings;
  previewImages(codes: Int32Array[], done: number): Promise<RgbImage[]>;
  /** `groups`: the request's candidates in each row group it sampled in (default: one group). */
  flopsOf(p: PreparedRequest, previewImages: number, groups?: readonly number[]): StageFlops | null;
  bytesOf(p: PreparedRequest, groups?: readonly number[]): StageBytes | null;
  scoreAndRankAll(requests: readonly { p: PreparedRequest; images: RgbImage[]; codes: Int32Array[] }[]): Promise<{ results: GenerationResult[]; rerankMs: number }>;
}

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
  /**
   * Set when the run samples in row groups (sample-groups.ts): codes are then the group's
   * sequences, and the run's step is index x tokensTotal + tokensDone of count x tokensTotal.
   */
  group?: { index: number; count: number };
}

/** How sampling went, as told by the driver once the grids are complete. */
export interface SamplingDone {
  codes: Int32Array[];
  prefillMs: number;
  /** Set by the continuous driver: how this run's steps were shared with others. */
  batching?: { maxRowsPerStep: number; sharedSteps: number };
  /** Set when the run sampled in row groups (sample-groups.ts): its sequences in each group, in order. */
  groups?: number[];
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
  /** Energy, CPU time and clock when the run began (its footprint is measured from here). */
  private readonly energy: EnergySnapshot;
  /** Preview images decoded per request (they cost VQ decodes too). */
  private readonly previewsDecoded: number[];
  /** Over the steps that reported their graph rows: this run's own rows, and all rows (shared steps include others'). */
  private ownStepRows = 0;
  /** Graph rows of this run's own sequences (two per guided candidate). */
  private readonly rows: number;
  private allStepRows = 0;

  constructor(
    readonly stages: RunStages,
    prepared: readonly PreparedRequest[],
    private readonly emit: (event: GenerationEvent) => void,
    timing: { started: number; tokenizeMs: number },
  ) {
    this.prepared = prepared;
    this.started = timing.started;
    this.tokenizeMs = timing.tokenizeMs;
    this.candidates = prepared.reduce((n, p) => n + p.sequences.length, 0);
    this.previewEvery = Math.min(...prepared.map((p) => p.resolved.settings.previewEvery));
    this.energy = startFootprint(stages.footprintSettings);
    this.previewsDecoded = prepared.map(() => 0);
    this.rows = rowsFor(prepared.flatMap((p) => p.sequences));
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

  /** A later row group's prefill is done: its first step's rate is timed from here, not across the prefill. */
  resume(): void {
    this.lastTick = performance.now();
  }

  /**
   * One token was sampled for every sequence of the run (of its row group): 'step', and a
   * 'preview' on the preview cadence. In row groups, steps count over the whole run
   * (group index x tokensTotal + tokensDone of groups x tokensTotal), and previews come
   * only while the first group samples, of the shown candidates in it: a later group's
   * partial grids would be shown beside the first group's finished ones.
   */
  async token(progress: RunProgress): Promise<void> {
    const { tokensDone, tokensTotal, codes, rows } = progress;
    const group = progress.group ?? { index: 0, count: 1 };
    const step = group.index * tokensTotal + tokensDone;
    const steps = group.count * tokensTotal;
    const now = performance.now();
    // codes: this token's sequences (the run's, or its group's).
    const tokensPerSecond = codes.length / Math.max((now - this.lastTick) / 1000, 1e-9);
    this.emit(rows === undefined ? { type: 'step', step, steps, tokensPerSecond } : { type: 'step', step, steps, tokensPerSecond, rows });
    this.lastTick = now;
    if (rows !== undefined && rows > 0) {
      this.ownStepRows += this.rows;
      this.allStepRows += rows;
    }
    if (group.index === 0 && this.previewEvery > 0 && tokensDone % this.previewEvery === 0 && tokensDone < tokensTotal) {
      // Nobody shown, nothing decoded: previews cost a full image decode of every shown candidate.
      const shown = this.shownCodes(codes);
      if (shown.length === 0) return;
      const started = performance.now();
      const images = await this.stages.previewImages(shown, tokensDone);
      this.previewMs += performance.now() - started;
      this.emit({ type: 'preview', step, steps, images });
    }
  }

  /** The codes of the candidates a face shows: the first previewCandidates of each request (those among `codes`, the run's first sequences). */
  private shownCodes(codes: Int32Array[]): Int32Array[] {
    const shown: Int32Array[] = [];
    let offset = 0;
    this.prepared.forEach((p, i) => {
      const count = Math.min(p.resolved.previewCandidates, p.sequences.length);
      const own = codes.slice(offset, offset + count);
      shown.push(...own);
      this.previewsDecoded[i] += own.length;
      offset += p.sequences.length;
    });
    return shown;
  }

  /** Sampling is complete: decode every grid, rerank each request's candidates, rank, time. */
  async finish(done: SamplingDone): Promise<GenerationResult[]> {
    return (await finishRuns([{ run: this, done }]))[0];
  }

  /** Decode time as this run saw it: the sampling time after prefill, less the time spent decoding previews. */
  sampledMs(prefillMs: number): number {
    return performance.now() - this.started - this.tokenizeMs - prefillMs - this.previewMs;
  }

  /** The last phase of finishRuns: this run's results from the shared image decode and CLIP pass. */
  complete(done: SamplingDone, results: GenerationResult[], stages: { decodeMs: number; imageDecodeMs: number; rerankMs: number }): GenerationResult[] {
    const { prefillMs } = done;
    this.emit({ type: 'stage', stage: 'prefill', ms: prefillMs });
    this.emit({ type: 'stage', stage: 'decode', ms: stages.decodeMs });
    this.emit({ type: 'stage', stage: 'imageDecode', ms: stages.imageDecodeMs });
    this.emit({ type: 'stage', stage: 'rerank', ms: stages.rerankMs });
    const timings: StageTimings = {
      tokenize: this.tokenizeMs,
      prefill: prefillMs,
      decode: stages.decodeMs,
      imageDecode: stages.imageDecodeMs,
      rerank: stages.rerankMs,
      total: performance.now() - this.started,
    };
    // A footprint that cannot be measured (a grid signal with no period for now) costs the request nothing but a warning.
    let footprints: Footprint[] | null = null;
    let unmeasured: string | null = null;
    try {
      footprints = this.footprints(done.groups);
    } catch (error) {
      unmeasured = `footprint not measured: ${(error as Error).message}`;
    }
    results.forEach((r, i) => {
      r.timings = timings;
      if (done.batching) r.batching = done.batching;
      if (footprints !== null) r.footprint = footprints[i];
      if (unmeasured !== null) r.warnings = [...r.warnings, unmeasured];
    });
    return results;
  }

  /**
   * Each request's footprint. The measurement covers this process from the run's start
   * (CPU time, or RAPL); when its steps were shared with other runs (the server's
   * continuous batch) the run keeps its share of the step rows; several requests of one
   * run split it by their FLOPs (exact per request: rows are). In row groups, a request's
   * FLOPs and bytes count a prefill and the weights' reads for each group it sampled in.
   */
  private footprints(groups?: readonly number[]): Footprint[] {
    const shares = groups === undefined ? undefined : requestGroupShares(this.prepared.map((p) => p.sequences.length), groups);
    const own = this.prepared.map((p, i) => this.stages.flopsOf(p, this.previewsDecoded[i], shares?.[i]));
    const counted = own.every((f) => f !== null) ? sumFlops(own as StageFlops[]) : null;
    let measured = finishFootprint(this.energy, counted, this.stages.footprintSettings);
    if (this.allStepRows > this.ownStepRows) measured = partOf(measured, this.ownStepRows / this.allStepRows, counted, 'its rows of steps shared with other requests');
    // Bytes are each request's own, as its FLOPs are (its rows), counted apart from the measurement.
    const bytes = this.prepared.map((p, i) => this.stages.bytesOf(p, shares?.[i]));
    const withBytes = (f: Footprint, b: StageBytes | null): Footprint => (b === null ? f : { ...f, bytes: b });
    if (this.prepared.length === 1) return [withBytes(measured, bytes[0]!)];
    const candidates = this.candidates;
    return this.prepared.map((p, i) => {
      const flops = own[i];
      return withBytes(flops === null ? partOf(measured, p.sequences.length / candidates, null, 'candidates share') : shareOf(measured, flops), bytes[i]!);
    });
  }
}

function sumFlops(parts: readonly StageFlops[]): StageFlops {
  const add = (k: keyof StageFlops): number => parts.reduce((s, f) => s + f[k], 0);
  return { prefill: add('prefill'), decode: add('decode'), vqDecode: add('vqDecode'), clipText: add('clipText'), clipVision: add('clipVision'), total: add('total') };
}

/**
 * Finishes runs whose sampling is complete, together: every grid of every run goes
 * through the VQ codec (toPixels) in one call and every candidate through CLIP in one pass
 * (ClipReranker.scoreMany), then each run ranks and times its own requests. The
 * server's continuous batch finishes the requests that complete on the same step this
 * way (issue 12: eight 4-candidate requests spent a third of their wall time in eight
 * small decodes and CLIP runs); a lone run is the one-item case. Results are the same
 * as finishing each run alone: VQ and CLIP outputs per image do not depend on the
 * batch they run in (checked in test/pipeline/finish-runs.test.ts).
 */
export async function finishRuns(items: readonly { run: GenerationRun; done: SamplingDone }[]): Promise<GenerationResult[][]> {
  if (items.length === 0) return [];
  const stages = items[0].run.stages;
  const decodeMs = items.map(({ run, done }) => run.sampledMs(done.prefillMs));
  const imageStarted = performance.now();
  const images = await stages.model.vq.toPixels(items.flatMap(({ done }) => done.codes));
  const imageDecodeMs = performance.now() - imageStarted;
  const requests: { p: PreparedRequest; images: typeof images; codes: Int32Array[] }[] = [];
  let offset = 0;
  for (const { run, done } of items) {
    let own = 0;
    for (const p of run.prepared) {
      const count = p.sequences.length;
      requests.push({ p, images: images.slice(offset, offset + count), codes: done.codes.slice(own, own + count) });
      offset += count;
      own += count;
    }
  }
  const { results, rerankMs } = await stages.scoreAndRankAll(requests);
  let next = 0;
  return items.map(({ run, done }, i) => {
    const own = results.slice(next, next + run.prepared.length);
    next += run.prepared.length;
    return run.complete(done, own, { decodeMs: decodeMs[i], imageDecodeMs, rerankMs });
  });
}
