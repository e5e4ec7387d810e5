/**
 * The serving engine: one inference child per model package, a bounded p-queue in front
 * of it (up to `concurrency` requests in the child at once, where their rows share every
 * sampling step; admission and cancellation happen between steps), and the jobs that track each request from queue to stored
 * result. The synchronous OpenAI endpoint, its SSE stream and the async job API all
 * submit here.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import { TesseraError, isTesseraError } from '../errors.js';
import { encodeImage, encodePng, imageMetadataFor, upscale } from '../image/index.js';
import type { Device, GenerationEvent, GenerationResult, RgbImage } from '../pipeline/types.js';
import { ApiError, toApiError, type ErrorEnvelope } from './api-error.js';
import type { Metrics } from './metrics.js';
import type { ImageParams, ModelRef } from './params.js';
import type { GenerationRecord, ResultStore, StoredImage } from './store.js';
import { InferenceWorker } from './worker/inference-worker.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export type JobEvent =
  | { type: 'queued'; position: number }
  | { type: 'started' }
  | { type: 'progress'; step: number; steps: number; tokens_per_second: number }
  | { type: 'preview'; step: number; steps: number; images: string[] }
  | { type: 'result'; result: GenerationRecord }
  | { type: 'error'; status: JobStatus; error: ErrorEnvelope['error'] };

export interface KeptImage {
  stored: StoredImage;
  data: Buffer;
}

/** Why a job's AbortController fired; decides the final status and HTTP code. */
type AbortReason = 'cancelled' | 'disconnected' | 'timeout' | 'shutdown';

export class Job extends EventEmitter {
  readonly id = randomUUID();
  readonly created = Math.floor(Date.now() / 1000);
  readonly submittedAt = performance.now();
  readonly params: ImageParams;
  readonly controller = new AbortController();
  status: JobStatus = 'queued';
  position = 0;
  progress = { step: 0, steps: 0 };
  /** Most rows of any sampling step this job took part in (its own rows plus those of requests sharing the step). */
  maxStepRows = 0;
  lastPreview: JobEvent | null = null;
  record: GenerationRecord | null = null;
  kept: KeptImage[] = [];
  error: ApiError | null = null;
  readonly done: Promise<GenerationRecord>;
  private settle!: { resolve: (r: GenerationRecord) => void; reject: (e: ApiError) => void };

  constructor(params: ImageParams) {
    super();
    this.setMaxListeners(100);
    this.params = params;
    this.done = new Promise<GenerationRecord>((resolve, reject) => (this.settle = { resolve, reject }));
    // The promise is also observed through events; never let it be an unhandled rejection.
    this.done.catch(() => undefined);
  }

  get finished(): boolean {
    return this.status === 'succeeded' || this.status === 'failed' || this.status === 'cancelled';
  }

  publish(event: JobEvent): void {
    if (event.type === 'preview') this.lastPreview = event;
    this.emit('event', event);
  }

  succeed(record: GenerationRecord, kept: KeptImage[]): void {
    this.status = 'succeeded';
    this.record = record;
    this.kept = kept;
    this.publish({ type: 'result', result: record });
    this.settle.resolve(record);
  }

  fail(status: 'failed' | 'cancelled', error: ApiError): void {
    this.status = status;
    this.error = error;
    this.publish({ type: 'error', status, error: error.toJSON().error });
    this.settle.reject(error);
  }

  /** The job as GET /v1/jobs/:id returns it. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      object: 'job',
      created: this.created,
      status: this.status,
      model: this.params.model.id,
      prompt: this.params.request.prompt,
      seed: this.params.request.seed,
      queue_position: this.status === 'queued' ? this.position : null,
      progress: this.progress,
      result: this.record,
      error: this.error === null ? null : this.error.toJSON().error,
    };
  }
}

export interface EngineOptions {
  models: { dir: string; ref: ModelRef }[];
  device: Device;
  maxQueue: number;
  timeoutMs: number;
  stepDelayMs?: number;
  /** Heartbeat silence after which an inference child is replaced (see WorkerOptions.watchdogMs). */
  watchdogMs?: number;
  /** Requests of one model in its child at once, sharing sampling steps (default 4). */
  concurrency?: number;
  /** Row budget of one shared step in the child (default 512). */
  maxBatchRows?: number;
  /** Finished jobs kept in memory for GET /v1/jobs/:id (older ones are read from the store). */
  keepFinished?: number;
}

interface Slot {
  ref: ModelRef;
  worker: InferenceWorker;
  queue: PQueue;
  waiting: Job[];
  running: number;
  /** Most rows of one sampling step in this model's child so far. */
  maxStepRows: number;
  /** Exponential moving average of a job's run time, for Retry-After. */
  avgRunMs: number;
}

const PREVIEW_LIMIT = 16;

export class Engine {
  readonly options: EngineOptions;
  readonly slots = new Map<string, Slot>();
  private jobs = new Map<string, Job>();
  private finishedOrder: string[] = [];
  private store: ResultStore;
  private metrics: Metrics;
  shuttingDown = false;

  constructor(options: EngineOptions, store: ResultStore, metrics: Metrics) {
    this.options = options;
    this.store = store;
    this.metrics = metrics;
    for (const { dir, ref } of options.models) {
      const worker = new InferenceWorker({ model: dir, device: options.device, stepDelayMs: options.stepDelayMs, maxRows: options.maxBatchRows, watchdogMs: options.watchdogMs });
      worker.on('crash', () => metrics.workerRestarts.inc({ model: ref.id }));
      this.slots.set(ref.id, { ref, worker, queue: new PQueue({ concurrency: Math.max(1, options.concurrency ?? 4) }), waiting: [], running: 0, maxStepRows: 0, avgRunMs: 1000 });
    }
  }

  /** Starts every worker; resolves when all models are loaded. */
  async start(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => s.worker.start()));
  }

  get ready(): boolean {
    return [...this.slots.values()].every((s) => s.worker.ready);
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

  /** Queues a request; throws 429 (with Retry-After) when the model's queue is full, 503 while shutting down. */
  submit(params: ImageParams): Job {
    if (this.shuttingDown) throw new ApiError(503, 'the server is shutting down', { code: 'shutting_down', type: 'server_error' });
    const slot = this.slots.get(params.model.id);
    if (slot === undefined) throw new ApiError(404, `model ${params.model.id} is not served`, { param: 'model', code: 'model_not_found' });
    if (slot.waiting.length >= this.options.maxQueue) {
      const retryAfter = Math.max(1, Math.ceil((slot.avgRunMs * (slot.waiting.length + 1)) / 1000));
      this.metrics.jobs.inc({ outcome: 'rejected' });
      throw new ApiError(429, `the generation queue is full (${slot.waiting.length} waiting); retry after ${retryAfter} s`, {
        code: 'queue_full',
        headers: { 'retry-after': String(retryAfter) },
      });
    }
    const job = new Job(params);
    this.jobs.set(job.id, job);
    slot.waiting.push(job);
    job.position = slot.waiting.length;
    job.publish({ type: 'queued', position: job.position });
    slot.queue.add(() => this.execute(slot, job), { signal: job.controller.signal }).catch((error: unknown) => {
      // Aborted while still queued: p-queue removed it.
      if (!job.finished) this.finishWithError(slot, job, error);
    });
    return job;
  }

  /** Cancels a queued or running job; returns false when it already finished. */
  cancel(job: Job, reason: AbortReason = 'cancelled'): boolean {
    if (job.finished) return false;
    if (!job.controller.signal.aborted) job.controller.abort(reason);
    return true;
  }

  private removeWaiting(slot: Slot, job: Job): void {
    const i = slot.waiting.indexOf(job);
    if (i < 0) return;
    slot.waiting.splice(i, 1);
    slot.waiting.forEach((j, k) => {
      if (j.position !== k + 1) {
        j.position = k + 1;
        j.publish({ type: 'queued', position: j.position });
      }
    });
  }

  private async execute(slot: Slot, job: Job): Promise<void> {
    this.removeWaiting(slot, job);
    if (job.controller.signal.aborted) return this.finishWithError(slot, job, new TesseraError('TESSERA_ERR_CANCELLED', 'cancelled'));
    job.status = 'running';
    slot.running += 1;
    job.publish({ type: 'started' });
    const timer = setTimeout(() => this.cancel(job, 'timeout'), this.options.timeoutMs);
    const runStarted = performance.now();
    try {
      const result = await slot.worker.run(job.params.request, {
        signal: job.controller.signal,
        onEvent: (event) => this.onGenerationEvent(job, event),
      });
      if (job.controller.signal.aborted) throw new TesseraError('TESSERA_ERR_CANCELLED', 'cancelled');
      const encodeStarted = performance.now();
      const { record, kept } = await this.storeResult(job, result);
      this.metrics.stageSeconds.observe({ stage: 'encode' }, (performance.now() - encodeStarted) / 1000);
      this.metrics.stageSeconds.observe({ stage: 'total' }, result.timings.total / 1000);
      this.metrics.imagesGenerated.inc({ model: slot.ref.id }, kept.length);
      this.metrics.candidatesSampled.inc({ model: slot.ref.id }, result.candidates.length);
      this.metrics.jobs.inc({ outcome: 'succeeded' });
      this.metrics.requestSeconds.observe({ outcome: 'succeeded' }, (performance.now() - job.submittedAt) / 1000);
      slot.avgRunMs = 0.7 * slot.avgRunMs + 0.3 * (performance.now() - runStarted);
      job.succeed(record, kept);
      this.retire(job);
    } catch (error) {
      this.finishWithError(slot, job, error);
    } finally {
      clearTimeout(timer);
      slot.running -= 1;
    }
  }

  private finishWithError(slot: Slot, job: Job, error: unknown): void {
    if (job.finished) return;
    this.removeWaiting(slot, job);
    const reason = job.controller.signal.aborted ? (job.controller.signal.reason as AbortReason) : null;
    let apiError: ApiError;
    let status: 'failed' | 'cancelled' = 'failed';
    if (reason === 'timeout') {
      apiError = new ApiError(504, `generation did not finish within ${this.options.timeoutMs} ms and was cancelled`, { code: 'timeout' });
    } else if (reason === 'shutdown') {
      status = 'cancelled';
      apiError = new ApiError(503, 'the server is shutting down; the request was cancelled', { code: 'shutting_down', type: 'server_error' });
    } else if (reason !== null) {
      status = 'cancelled';
      apiError = new ApiError(499, reason === 'disconnected' ? 'the client disconnected; generation was cancelled' : 'the job was cancelled', { code: 'cancelled' });
    } else {
      apiError = toApiError(error);
      if (isTesseraError(error, 'TESSERA_ERR_WORKER')) apiError = new ApiError(500, error.message, { code: 'worker_crashed', type: 'server_error' });
    }
    this.metrics.jobs.inc({ outcome: status === 'cancelled' ? 'cancelled' : apiError.code ?? 'failed' });
    this.metrics.requestSeconds.observe({ outcome: status }, (performance.now() - job.submittedAt) / 1000);
    job.fail(status, apiError);
    this.retire(job);
  }

  private retire(job: Job): void {
    this.finishedOrder.push(job.id);
    const keep = this.options.keepFinished ?? 200;
    while (this.finishedOrder.length > keep) this.jobs.delete(this.finishedOrder.shift() as string);
  }

  private onGenerationEvent(job: Job, event: GenerationEvent): void {
    if (event.type === 'step') {
      job.progress = { step: event.step, steps: event.steps };
      if (event.rows !== undefined && event.rows > job.maxStepRows) {
        job.maxStepRows = event.rows;
        const slot = this.slots.get(job.params.model.id);
        if (slot !== undefined && event.rows > slot.maxStepRows) {
          slot.maxStepRows = event.rows;
          this.metrics.stepRowsMax.set({ model: slot.ref.id }, event.rows);
        }
      }
      job.publish({ type: 'progress', step: event.step, steps: event.steps, tokens_per_second: Math.round(event.tokensPerSecond) });
    } else if (event.type === 'start') {
      job.progress = { step: 0, steps: event.steps };
    } else if (event.type === 'stage') {
      this.metrics.stageSeconds.observe({ stage: event.stage }, event.ms / 1000);
    } else if (event.type === 'preview') {
      const step = event.step;
      const steps = event.steps;
      void Promise.all(event.images.slice(0, PREVIEW_LIMIT).map((image) => encodePlainPng(image)))
        .then((images) => {
          if (!job.finished) job.publish({ type: 'preview', step, steps, images });
        })
        .catch(() => undefined);
    }
  }

  private async storeResult(job: Job, result: GenerationResult): Promise<{ record: GenerationRecord; kept: KeptImage[] }> {
    const { params } = job;
    const ext = params.outputFormat;
    const keptIndices = new Set(result.kept.map((c) => c.index));
    const kept: KeptImage[] = [];
    for (const candidate of result.kept) {
      const meta = imageMetadataFor(result, candidate);
      const image = params.size.upscaled ? await upscale(candidate.image, { width: params.size.width, height: params.size.height }, params.upscale) : candidate.image;
      const data = await encodeImage(image, ext, meta, params.outputCompression ?? undefined);
      const file = `image-${candidate.rank}.${ext}`;
      await this.store.writeFile(job.id, file, data);
      kept.push({ stored: storedImage(result, candidate, true, file), data });
    }
    const candidates: StoredImage[] = [];
    for (const candidate of result.candidates) {
      const file = `candidate-${candidate.index}.png`;
      await this.store.writeFile(job.id, file, await encodePng(candidate.image, imageMetadataFor(result, candidate)));
      candidates.push(storedImage(result, candidate, keptIndices.has(candidate.index), file));
    }
    const native = job.params.model.manifest.image.size;
    const record: GenerationRecord = {
      id: job.id,
      object: 'generation',
      created: job.created,
      model: result.model,
      prompt: result.prompt,
      negative_prompt: result.negativePrompt,
      seed: result.seed,
      user: params.user,
      size: params.size.label,
      native_size: `${native}x${native}`,
      upscaled: params.size.upscaled,
      output_format: ext,
      settings: { ...result.settings },
      timings: { ...result.timings },
      warnings: result.warnings,
      images: kept.map((k) => k.stored),
      candidates,
    };
    await this.store.save(record);
    return { record, kept };
  }

  /** Stops accepting work, waits up to `graceMs` for queued and running jobs, cancels the rest, stops the workers. */
  async shutdown(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    const pending = [...this.jobs.values()].filter((j) => !j.finished);
    const all = Promise.allSettled(pending.map((j) => j.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const job of pending) this.cancel(job, 'shutdown');
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 2000))]);
    await Promise.all([...this.slots.values()].map((s) => s.worker.stop()));
  }
}

function storedImage(result: GenerationResult, candidate: GenerationResult['candidates'][number], kept: boolean, file: string): StoredImage {
  return { rank: candidate.rank, candidate_index: candidate.index, seed: result.seed, clip_score: candidate.score, kept, file };
}

async function encodePlainPng(image: RgbImage): Promise<string> {
  const { default: sharp } = await import('sharp');
  const png = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .png()
    .toBuffer();
  return png.toString('base64');
}
