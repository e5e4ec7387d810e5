/**
 * Who samples a run's planned batches: the batch runner's seam. The runner plans, checks the
 * folder and commits what comes back; an executor turns each planned batch into rendered
 * prompts. Two exist: the local one (local-executor.ts: this process's pipeline, batch after
 * batch) and the queue's (src/queue/client.ts: one BullMQ job per batch, run by `tessera
 * worker`s anywhere). Both sample a planned batch as one sampler batch, so the bytes do not depend on which ran it.
 */
import type { TesseraError } from '../errors.js';
import { footprintJson } from '../footprint/report.js';
import type { PromptTimings } from '../output/batch.js';
import type { Tessera } from '../pipeline/tessera.js';
import type { GenerationResult } from '../types.js';
import type { ClipIdentity, ModelIdentity } from '../pipeline/identity.js';
import type { Task } from './plan.js';
import type { RenderedPrompt } from './records.js';
import type { RunSettings } from './run-settings.js';

// What an executor receives and hands back, named from this one file (the queue implements the seam from here).
export type { Task, RenderedPrompt };
// The kept images' embeddings, which every executor sends back for the folder's search index.
export { keptEmbeddings } from './search.js';

/** A sampler batch of the plan: all its tasks run together; `todo` are those without a complete record. */
export interface PlannedBatch {
  /** Position in the run's plan. */
  index: number;
  tasks: Task[];
  todo: Task[];
}

export interface BatchOutcome {
  batch: PlannedBatch;
  /** The batch's todo prompts, rendered, in file order. */
  rendered: RenderedPrompt[];
  timings: PromptTimings['batch'];
  /**
   * The pipeline's results of the rendered prompts, in the same order: the local executor's only
   * (the carbon report weighs them); the queue's workers send rendered files and embeddings.
   */
  results?: GenerationResult[];
}

/** Where an executor hands its outcomes (the runner commits them; `failed` throws under --strict). */
export interface BatchSink {
  done(outcome: BatchOutcome): Promise<void>;
  failed(batch: PlannedBatch, error: TesseraError): Promise<void>;
  /** Nothing finished, but the executor's status changed (the queue's depth): report progress. */
  tick(): void;
}

/** The queue's state as `tessera batch --queue` reports it (progress and summary). */
export interface QueueStatus {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  /** Workers connected to the queue now. */
  workers: number;
  /** Times this run's jobs were recovered from a dead worker (lock expired, job run again). */
  stalledRecoveries: number;
  /** Attempts that failed and were retried (transient errors). */
  retries: number;
  /** Per worker: jobs and images of this run it completed, and its sampling throughput. */
  perWorker: { worker: string; jobs: number; images: number; imagesPerSecond: number }[];
}

export interface BatchExecutor {
  /** Runs every batch; hands each outcome to the sink as it completes (any order). */
  execute(batches: readonly PlannedBatch[], sink: BatchSink): Promise<void>;
  /** The queue's last known state (null for the local executor). */
  status(): QueueStatus | null;
  close(): Promise<void>;
}

export interface ExecutorContext {
  tessera: Tessera;
  settings: RunSettings;
  model: ModelIdentity;
  clip: ClipIdentity | null;
  notice: (message: string) => void;
}

export type ExecutorFactory = (context: ExecutorContext) => Promise<BatchExecutor>;

/** What a prompt cost, for its timings file (usage, footprint, the precision that ran). */
export function promptCost(result: GenerationResult): Pick<RenderedPrompt, 'usage' | 'footprint' | 'precision'> {
  return { usage: result.usage ?? null, footprint: result.footprint === undefined ? null : footprintJson(result.footprint), precision: result.precision ?? null };
}
