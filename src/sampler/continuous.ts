/**
 * Continuous batching over the step graph (after Orca's iteration-level scheduling and
 * vLLM's continuous batching): several groups (one per request) share every step's graph
 * run, each at its own position. Groups are admitted and dropped only between steps.
 *
 * A group's rows are contiguous in the shared KvSlots; the step graph takes per-row
 * position_ids and attention masks, so rows at different positions share one run. Every
 * candidate draws from its own (seed, index) stream and a row's keys and values do not
 * depend on the other rows, so a group samples exactly the tokens it would sample alone,
 * whoever shares its steps.
 */
import { TesseraError } from '../errors.js';
import type { RowCache } from '../generator/generator.js';
import { rowsFor, type BatchSampler, type BatchState, type SequenceSpec } from './sampler.js';
import { stepInputs } from './step.js';

export { rowsFor };

export interface GroupProgress {
  id: string;
  tokensDone: number;
  tokensTotal: number;
  /** codes[s] holds the first tokensDone codes of sequence s of the group. */
  codes: Int32Array[];
  /** Rows of the graph run that produced this token (all groups' rows; the prefill's own rows for the first). */
  rows: number;
}

export interface FinishedGroup {
  id: string;
  codes: Int32Array[];
  /** Most rows (all groups together) of any step this group took part in. */
  maxRows: number;
  /** Steps whose graph run this group shared with at least one other group. */
  sharedSteps: number;
  prefillMs: number;
  /** Time in the step graph runs this group took part in (shared with the other groups). */
  decodeMs: number;
}

export interface CancelledGroup {
  id: string;
  reason: unknown;
}

export interface StepReport {
  /** Rows of this step's graph run (0 when nothing ran). */
  rows: number;
  /** Groups that sampled a token this step (finished ones included). */
  advanced: GroupProgress[];
  /** Groups whose grid is complete; their rows are gone from the batch. */
  finished: FinishedGroup[];
  /** Groups dropped before this step because their signal aborted. */
  cancelled: CancelledGroup[];
}

export interface ContinuousStats {
  steps: number;
  /** Most rows of any one step. */
  maxRows: number;
  /** Rows of the last step. */
  lastRows: number;
  admitted: number;
}

interface Group {
  id: string;
  state: BatchState;
  signal?: AbortSignal;
  /** First row of the group in the shared cache. */
  offset: number;
  maxRows: number;
  sharedSteps: number;
  prefillMs: number;
  decodeMs: number;
}

export class ContinuousBatch {
  readonly sampler: BatchSampler;
  readonly stats: ContinuousStats = { steps: 0, maxRows: 0, lastRows: 0, admitted: 0 };
  private groups: Group[] = [];
  private cache: RowCache;

  constructor(sampler: BatchSampler) {
    this.sampler = sampler;
    this.cache = this.emptyCache(0);
  }

  private emptyCache(rows: number): RowCache {
    return this.sampler.generator.allocate(rows);
  }

  /** Active rows (all groups). */
  get rows(): number {
    return this.cache.rows;
  }

  get size(): number {
    return this.groups.length;
  }

  get ids(): string[] {
    return this.groups.map((g) => g.id);
  }

  has(id: string): boolean {
    return this.groups.some((g) => g.id === id);
  }

  /**
   * Prefills a new group's texts, appends its rows to the shared cache and samples its
   * first token from the prefill logits. Call between steps only.
   */
  async admit(id: string, sequences: readonly SequenceSpec[], signal?: AbortSignal): Promise<GroupProgress> {
    if (this.has(id)) throw new TesseraError('TESSERA_ERR_INFERENCE', `group ${id} is already in the batch`);
    if (sequences.length === 0) throw new TesseraError('TESSERA_ERR_INFERENCE', 'a group needs at least one sequence');
    const before = this.sampler.stats.prefillMs;
    const state = await this.sampler.prefill(sequences);
    const prefillMs = this.sampler.stats.prefillMs - before;
    const cache = this.emptyCache(this.cache.rows + state.rows);
    cache.copyRows(this.cache, 0, 0, this.cache.rows);
    cache.copyRows(state.cache, 0, this.cache.rows, state.rows);
    const group: Group = { id, state, signal, offset: this.cache.rows, maxRows: state.rows, sharedSteps: 0, prefillMs, decodeMs: 0 };
    // The group's slots now live in the shared cache; drop its own copy. The old shared
    // cache's memory serves a later cache (kv-buffers.ts keeps the last released one's).
    state.cache.release?.();
    state.cache = this.emptyCache(0);
    this.cache.release?.();
    this.cache = cache;
    this.groups.push(group);
    this.stats.admitted += 1;
    this.sampler.sampleNext(state);
    return this.progress(group, state.rows);
  }

  /** Drops a group now (between steps); returns whether it was in the batch. */
  remove(id: string): boolean {
    const keep = this.groups.filter((g) => g.id !== id);
    if (keep.length === this.groups.length) return false;
    this.rebuild(keep);
    return true;
  }

  /**
   * Drops cancelled and complete groups, then runs one step over every remaining row and
   * samples each group's next token. Groups that complete their grid are returned (and dropped).
   */
  async step(): Promise<StepReport> {
    const total = this.sampler.imageTokens;
    const cancelled: CancelledGroup[] = [];
    const finished: FinishedGroup[] = [];
    const keep: Group[] = [];
    for (const g of this.groups) {
      if (g.signal?.aborted) cancelled.push({ id: g.id, reason: g.signal.reason });
      else if (g.state.tokensDone >= total) finished.push(this.finish(g));
      else keep.push(g);
    }
    if (keep.length !== this.groups.length) this.rebuild(keep);
    const advanced: GroupProgress[] = [];
    const rows = this.cache.rows;
    if (rows === 0) return { rows: 0, advanced, finished, cancelled };

    const { codes, positions } = stepInputs(this.groups, rows);
    const started = performance.now();
    const logits = await this.sampler.generator.step(this.cache, codes, positions); // [R, imageVocab] view
    const ms = performance.now() - started;
    this.stats.steps += 1;
    this.stats.lastRows = rows;
    this.stats.maxRows = Math.max(this.stats.maxRows, rows);
    const shared = this.groups.length > 1;
    for (const g of this.groups) {
      // The group's rows of the shared step: row r of the group is row offset + r of the logits.
      g.state.logits = logits;
      g.state.logitsRow = Int32Array.from({ length: g.state.rows }, (_, r) => g.offset + r);
      this.sampler.sampleNext(g.state);
      g.decodeMs += ms;
      g.maxRows = Math.max(g.maxRows, rows);
      if (shared) g.sharedSteps += 1;
      advanced.push(this.progress(g, rows));
    }
    const done = this.groups.filter((g) => g.state.tokensDone >= total);
    if (done.length > 0) {
      for (const g of done) finished.push(this.finish(g));
      this.rebuild(this.groups.filter((g) => g.state.tokensDone < total));
    }
    return { rows, advanced, finished, cancelled };
  }

  private progress(g: Group, rows: number): GroupProgress {
    return { id: g.id, tokensDone: g.state.tokensDone, tokensTotal: this.sampler.imageTokens, codes: g.state.codes, rows };
  }

  private finish(g: Group): FinishedGroup {
    return { id: g.id, codes: g.state.codes, maxRows: g.maxRows, sharedSteps: g.sharedSteps, prefillMs: g.prefillMs, decodeMs: g.decodeMs };
  }

  /** Lays the kept groups' rows out contiguously in a new cache of exactly their size. */
  private rebuild(keep: Group[]): void {
    const rows = keep.reduce((n, g) => n + g.state.rows, 0);
    const cache = this.emptyCache(rows);
    let offset = 0;
    for (const g of keep) {
      cache.copyRows(this.cache, g.offset, offset, g.state.rows);
      g.offset = offset;
      offset += g.state.rows;
    }
    this.cache.release?.();
    this.cache = cache;
    this.groups = keep;
  }
}
