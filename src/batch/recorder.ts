/**
 * The record side of a batch run: what the executor hands back is committed to the folder
 * (records.ts), added to the folder's search index, counted and reported as progress. The
 * runner plans, the executor samples, this records; each hands downhill to the next.
 */
import type { TesseraError } from '../errors.js';
import type { Footprint, GenerationResult, ImagesUsage } from '../types.js';
import type { BatchOutcome, BatchSink, PlannedBatch, QueueStatus } from './executor.js';
import type { Task } from './plan.js';
import { commitPrompt, type TaskStatus } from './records.js';
import type { BatchSearchIndex } from './search.js';
import type { Store } from './store.js';

export interface BatchProgress {
  /** Prompts complete (including those found complete at the start). */
  done: number;
  total: number;
  /** Prompts this run has to generate, and how many of them it finished. */
  pending: number;
  generated: number;
  /** Candidate images sampled by this run. */
  images: number;
  elapsedMs: number;
  imagesPerSecond: number;
  /** Estimated time left; null before the first batch finished. */
  etaMs: number | null;
  /** With --queue: the queue's depth, workers, recoveries and per-worker throughput. */
  queue?: QueueStatus;
}

export interface BatchFailure {
  line: number;
  index: number;
  prompt: string;
  code: string;
  message: string;
}

export interface RecorderOptions {
  store: Store;
  /** Each task's state when the run began (its previous record, when outdated). */
  states: ReadonlyMap<number, TaskStatus>;
  /** Every valid prompt of the file, and those this run has to generate. */
  tasks: readonly Task[];
  pending: readonly Task[];
  search: BatchSearchIndex | null;
  fileName: string;
  strict: boolean;
  /** The executor's status, for progress (the queue's depth; null for a local run). */
  status: () => QueueStatus | null;
  onProgress?: (progress: BatchProgress) => void;
  notice: (message: string) => void;
}

export class RunRecorder implements BatchSink {
  readonly failures: BatchFailure[] = [];
  generated = 0;
  images = 0;
  files = 0;
  batchesRun = 0;
  readonly footprints: Footprint[] = [];
  readonly usages: ImagesUsage[] = [];
  /** Results of the batches run, by plan position (the carbon report weighs them by when they ran). */
  readonly resultsOf = new Map<number, GenerationResult[]>();
  private failedCandidates = 0;
  private readonly started = performance.now();
  private readonly pendingCandidates: number;
  private readonly skipped: number;

  constructor(private readonly options: RecorderOptions) {
    this.pendingCandidates = options.pending.reduce((sum, t) => sum + t.spec.candidates, 0);
    this.skipped = options.tasks.length - options.pending.length;
  }

  /** Milliseconds since the recorder (the generation) started. */
  get elapsedMs(): number {
    return performance.now() - this.started;
  }

  get imagesPerSecond(): number {
    return this.images / Math.max(this.elapsedMs / 1000, 1e-9);
  }

  report = (): void => {
    const elapsedMs = this.elapsedMs;
    const imagesPerSecond = this.images / Math.max(elapsedMs / 1000, 1e-9);
    const left = this.pendingCandidates - this.images - this.failedCandidates;
    const queue = this.options.status();
    this.options.onProgress?.({
      done: this.skipped + this.generated,
      total: this.options.tasks.length,
      pending: this.options.pending.length,
      generated: this.generated,
      images: this.images,
      elapsedMs,
      imagesPerSecond,
      etaMs: this.images > 0 ? (left / imagesPerSecond) * 1000 : null,
      ...(queue === null ? {} : { queue }),
    });
  };

  async done({ batch, rendered, timings, results }: BatchOutcome): Promise<void> {
    const { store, states, search } = this.options;
    this.batchesRun++;
    this.resultsOf.set(batch.index, results ?? []);
    // Written in file order (the batch's prompts were encoded together).
    for (const [i, item] of rendered.entries()) {
      const result = results?.[i];
      if (result?.footprint !== undefined) this.footprints.push(result.footprint);
      if (item.usage !== null) this.usages.push(item.usage);
      const previous = states.get(item.task.index)?.record ?? null;
      this.files += await commitPrompt(store, item, timings, previous);
      // Embeddings come with every rendered prompt, local or from a queue's worker.
      search?.add(item.record, item.embeddings, previous);
      this.generated++;
      this.images += item.task.spec.candidates;
      this.report();
    }
  }

  async failed(batch: PlannedBatch, error: TesseraError): Promise<void> {
    if (this.options.strict) throw error;
    for (const t of batch.todo) {
      this.failedCandidates += t.spec.candidates;
      this.failures.push({ line: t.line, index: t.index, prompt: t.spec.prompt, code: error.code, message: error.message });
      this.options.notice(`${this.options.fileName}:${t.line}: failed: [${error.code}] ${error.message}`);
    }
    this.report();
  }

  tick(): void {
    this.report();
  }
}
