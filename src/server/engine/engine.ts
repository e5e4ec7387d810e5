/**
 * The serving engine: per model package one inference child (InferenceChild) with an
 * admission queue in front (up to `concurrency` requests in the child at once, where
 * their rows share every sampling step), and the in-memory table of jobs that tracks
 * each request from queue to stored result. The synchronous OpenAI endpoint, its SSE
 * stream and the async job API all submit here.
 *
 * The parts: admission.ts (queue, positions, queue-full), job.ts (job data, status
 * transitions, events), progress.ts (child events -> job), result-writer.ts (encode,
 * upscale, store), failure.ts (why a job failed, as a catalogue error), engine-metrics.ts.
 */
import { ApiError, shuttingDownError } from '../api-error.js';
import { TesseraError } from '../../errors.js';
import type { Device, GenerationResult, PrecisionChoice } from '../../types.js';
import type { Metrics } from '../metrics.js';
import type { ImageParams, ModelRef } from '../params.js';
import type { GenerationRecord, ResultStore } from '../store.js';
import { InferenceChild } from '../../inference/child-process.js';
import type { Inference, InferenceFactory, RemoteQueueStatus } from '../../inference/inference.js';
import { Admission } from './admission.js';
import type { FootprintSettings } from '../../footprint/report.js';
import { DEFAULT_CONCURRENCY } from '../options.js';
import { EngineMetrics } from './engine-metrics.js';
import { failureOf, type AbortReason } from './failure.js';
import { Job, newJobData } from './job.js';
import { applyGenerationEvent, PREVIEW_LIMIT } from './progress.js';
import { layoutFor, writeResult } from './result-writer.js';

export interface EngineOptions {
  models: { dir: string; ref: ModelRef }[];
  device: Device;
  /** Which graphs each child runs (default auto). */
  precision?: PrecisionChoice;
  /** CLIP folder every child ranks with instead of its package's own; null: the package's. */
  clip?: string | null;
  maxQueue: number;
  timeoutMs: number;
  /** Heartbeat silence after which an inference child is replaced (see ChildOptions.watchdogMs). */
  watchdogMs?: number;
  /** Requests of one model in its child at once, sharing sampling steps (default DEFAULT_CONCURRENCY). */
  concurrency?: number;
  /** Row budget of one shared step in the child (default 512). */
  maxBatchRows?: number;
  /** Footprint settings every child measures with (default: DEFAULT_GRID). */
  footprint?: FootprintSettings;
  /** Called once a result is written and recorded (the server indexes its embeddings for search). */
  onStored?: (ref: ModelRef, record: GenerationRecord, result: GenerationResult, owner: string | null) => void;
  /** Finished jobs kept in memory for GET /v1/jobs/:id (older ones are read from the store). */
  keepFinished?: number;
  /** Who runs the requests (default: an inference child per model; `serve --queue`: src/queue/remote.ts). */
  inference?: InferenceFactory;
  /** The shutdown grace period, for the Retry-After of requests refused while stopping. */
  shutdownGraceMs?: number;
}

/** One served model: its inference (the inference child, or the queue's remote one) and its admission queue. */
export class ModelSlot {
  /** Most rows of one sampling step in this model's child so far. */
  maxStepRows = 0;
  /** When a request last started here or its inference last sent an event (Date.now(); health's stall rule). */
  lastActivity = Date.now();

  constructor(
    readonly ref: ModelRef,
    readonly inference: Inference,
    readonly admission: Admission<Job>,
  ) {}

  get waiting(): readonly Job[] {
    return this.admission.waiting;
  }

  get running(): number {
    return this.admission.running;
  }
}

export class Engine {
  readonly options: EngineOptions;
  readonly slots = new Map<string, ModelSlot>();
  private readonly jobs = new Map<string, Job>();
  private readonly finishedOrder: string[] = [];
  private readonly store: ResultStore;
  private readonly metrics: EngineMetrics;
  shuttingDown = false;

  constructor(options: EngineOptions, store: ResultStore, metrics: Metrics) {
    this.options = options;
    this.store = store;
    this.metrics = new EngineMetrics(metrics);
    for (const { dir, ref } of options.models) {
      const runner = { device: options.device, precision: options.precision, clip: options.clip ?? undefined, maxRows: options.maxBatchRows, watchdogMs: options.watchdogMs, footprint: options.footprint };
      const inference = options.inference?.({ dir, id: ref.id }, runner) ?? new InferenceChild({ model: dir, ...runner });
      inference.on('crash', () => this.metrics.inferenceRestarted(ref.id));
      const admission = new Admission<Job>({ maxQueue: options.maxQueue, concurrency: options.concurrency ?? DEFAULT_CONCURRENCY });
      this.slots.set(ref.id, new ModelSlot(ref, inference, admission));
    }
  }

  /** Starts every model's inference; resolves when all models are loaded. */
  async start(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => s.inference.start()));
  }

  get ready(): boolean {
    return [...this.slots.values()].every((s) => s.inference.ready);
  }

  /** Per model served through a queue (`serve --queue`): the queue's jobs and workers. */
  remoteQueues(): Record<string, RemoteQueueStatus> {
    const out: Record<string, RemoteQueueStatus> = {};
    for (const [id, slot] of this.slots) {
      const status = slot.inference.queueStatus?.() ?? null;
      if (status !== null) out[id] = status;
    }
    return out;
  }

  queueDepth(): Record<string, number> {
    return Object.fromEntries([...this.slots].map(([id, s]) => [id, s.waiting.length]));
  }

  runningCounts(): Record<string, number> {
    return Object.fromEntries([...this.slots].map(([id, s]) => [id, s.running]));
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Queues a request for tenant `owner` (null: unowned); throws TESSERA_ERR_QUEUE_FULL (429, Retry-After) when the model's queue is full, TESSERA_ERR_SHUTTING_DOWN (503) while shutting down, the inference's refusal (TESSERA_ERR_NO_WORKER, 503, Retry-After) when it cannot take requests. */
  submit(params: ImageParams, owner: string | null = null): Job {
    if (this.shuttingDown) throw shuttingDownError(this.options.shutdownGraceMs ?? 10_000);
    const slot = this.slots.get(params.model.id);
    if (slot === undefined) throw new ApiError('TESSERA_ERR_MODEL_UNKNOWN', `model ${params.model.id} is not served`, { param: 'model' });
    // serve --queue with no worker connected: refused now, not answered 504 after the timeout.
    const refusal = slot.inference.refusal?.() ?? null;
    if (refusal !== null) throw new ApiError(refusal.code, refusal.message, { headers: { 'retry-after': String(refusal.retryAfterSeconds) } });
    if (slot.admission.full) {
      const retryAfter = slot.admission.retryAfterSeconds();
      this.metrics.rejected();
      throw new ApiError('TESSERA_ERR_QUEUE_FULL', `the generation queue is full (${slot.waiting.length} waiting); retry after ${retryAfter} s`, {
        headers: { 'retry-after': String(retryAfter) },
      });
    }
    const job = new Job(newJobData(params, Date.now(), owner));
    this.jobs.set(job.id, job);
    slot.admission.enqueue(
      job,
      (j) => this.execute(slot, j),
      (j, error) => this.finishWithError(slot, j, error),
    );
    return job;
  }

  /** Cancels a queued or running job; returns false when it already finished. */
  cancel(job: Job, reason: AbortReason = 'cancelled'): boolean {
    if (job.finished) return false;
    if (!job.controller.signal.aborted) job.controller.abort(reason);
    return true;
  }

  private async execute(slot: ModelSlot, job: Job): Promise<void> {
    job.start();
    slot.lastActivity = Date.now();
    const timer = setTimeout(() => this.cancel(job, 'timeout'), this.options.timeoutMs);
    const runStarted = performance.now();
    try {
      // The child gets the request as resolved here (validated once), and previews only what the faces show.
      const resolved = { ...job.params.resolved, previewCandidates: Math.min(PREVIEW_LIMIT, job.params.resolved.previewCandidates) };
      const result = await slot.inference.run(resolved, {
        signal: job.controller.signal,
        onEvent: (event) => {
          slot.lastActivity = Date.now();
          applyGenerationEvent(job, event, {
            stage: (stage, ms) => this.metrics.stage(stage, ms),
            stepRows: (rows) => this.noteStepRows(slot, rows),
          });
        },
      });
      if (job.controller.signal.aborted) throw new TesseraError('TESSERA_ERR_CANCELLED', 'cancelled');
      const encodeStarted = performance.now();
      const store = this.store;
      const owned = { writeFile: store.writeFile.bind(store), save: (record: GenerationRecord) => store.save(record, job.owner) };
      const { record, images } = await writeResult(result, layoutFor(job.id, job.created, job.params), owned);
      this.options.onStored?.(slot.ref, record, result, job.owner);
      this.metrics.succeeded({
        model: slot.ref.id,
        encodeMs: performance.now() - encodeStarted,
        totalMs: result.timings.total,
        kept: images.length,
        candidates: result.candidates.length,
        submittedAt: job.data.submittedAt,
      });
      slot.admission.recordRun(performance.now() - runStarted);
      job.succeed(record, images);
      this.retire(job);
    } catch (error) {
      this.finishWithError(slot, job, error);
    } finally {
      clearTimeout(timer);
    }
  }

  private noteStepRows(slot: ModelSlot, rows: number): void {
    if (rows <= slot.maxStepRows) return;
    slot.maxStepRows = rows;
    this.metrics.stepRows(slot.ref.id, rows);
  }

  private finishWithError(slot: ModelSlot, job: Job, error: unknown): void {
    if (job.finished) return;
    slot.admission.remove(job);
    const reason = job.controller.signal.aborted ? (job.controller.signal.reason as AbortReason) : null;
    const failure = failureOf(reason, error, this.options.timeoutMs);
    this.metrics.ended(failure.status === 'cancelled' ? 'cancelled' : failure.error.code, failure.status, job.data.submittedAt);
    job.fail(failure.status, failure.error);
    this.retire(job);
  }

  private retire(job: Job): void {
    this.finishedOrder.push(job.id);
    const keep = this.options.keepFinished ?? 200;
    while (this.finishedOrder.length > keep) this.jobs.delete(this.finishedOrder.shift() as string);
  }

  /** Stops accepting work, waits up to `graceMs` for queued and running jobs, cancels the rest, stops every model's inference. */
  async shutdown(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    const pending = [...this.jobs.values()].filter((j) => !j.finished);
    const all = Promise.allSettled(pending.map((j) => j.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const job of pending) this.cancel(job, 'shutdown');
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 2000))]);
    await Promise.all([...this.slots.values()].map((s) => s.inference.stop()));
  }
}
