/**
 * Who samples a run's planned batches. The runner plans, checks the folder and commits what
 * comes back; an executor turns each planned batch into rendered prompts. Two exist: the
 * local one below (this process's pipeline, batch after batch) and the queue's
 * (src/queue/client.ts: one BullMQ job per batch, run by `tessera worker`s anywhere). Both
 * sample a planned batch as one sampler batch, so the bytes do not depend on which ran it.
 */
import { isTesseraError, type TesseraError } from '../errors.js';
import { footprintJson } from '../footprint/report.js';
import { renderPrompt, type PromptTimings } from '../output/batch.js';
import type { Tessera } from '../pipeline/tessera.js';
import type { GenerationResult } from '../types.js';
import type { ModelIdentity, Task } from './plan.js';
import type { RenderedPrompt } from './records.js';
import { keptEmbeddings } from './search.js';
import type { ClipIdentity, RunSettings } from './settings.js';

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

/** Encodes one prompt's files and builds its record (timed as the prompt's encodeMs); writes nothing. */
export async function renderTask(task: Task, result: GenerationResult): Promise<RenderedPrompt> {
  const started = performance.now();
  const { files, record } = await renderPrompt(result, task);
  return { task, files, record, encodeMs: performance.now() - started, ...promptCost(result), embeddings: keptEmbeddings(result) };
}

/** What a prompt cost, for its timings file (usage, footprint, the precision that ran). */
export function promptCost(result: GenerationResult): Pick<RenderedPrompt, 'usage' | 'footprint' | 'precision'> {
  return { usage: result.usage ?? null, footprint: result.footprint === undefined ? null : footprintJson(result.footprint), precision: result.precision ?? null };
}

export function batchTimingsOf(batch: PlannedBatch, timings: GenerationResult['timings']): PromptTimings['batch'] {
  return { ...timings, prompts: batch.tasks.length, candidates: batch.tasks.reduce((sum, t) => sum + t.spec.candidates, 0) };
}

/** This process's pipeline, one planned batch after another. */
export class LocalExecutor implements BatchExecutor {
  constructor(private readonly tessera: Tessera) {}

  async execute(batches: readonly PlannedBatch[], sink: BatchSink): Promise<void> {
    for (const batch of batches) {
      let results: GenerationResult[];
      try {
        results = await this.tessera.generateMany(batch.tasks.map((t) => t.prepared));
      } catch (error) {
        if (!isTesseraError(error) || error.code === 'TESSERA_ERR_CANCELLED') throw error;
        await sink.failed(batch, error);
        continue;
      }
      // Encode the batch's prompts together (sharp works on its own threads).
      const todo = new Set(batch.todo);
      const todoResults = results.filter((_, i) => todo.has(batch.tasks[i]));
      const rendered = await Promise.all(batch.todo.map((task, i) => renderTask(task, todoResults[i])));
      await sink.done({ batch, rendered, timings: batchTimingsOf(batch, results[0].timings), results: todoResults });
    }
  }

  status(): null {
    return null;
  }

  async close(): Promise<void> {}
}
