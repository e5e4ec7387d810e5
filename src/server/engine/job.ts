/**
 * Job state and events. A job's data (JobData) is plain JSON: the request parameters,
 * status, queue position, progress, the result record or the failure as a catalogue
 * code. That is what a queue between processes or machines would carry. The live Job
 * wraps it with what only makes sense in this process: the event emitter SSE streams
 * listen to, the AbortController that cancels sampling, the `done` promise the
 * synchronous endpoint awaits, and the encoded kept images (also in the store).
 *
 * Status moves only forward: queued -> running -> succeeded | failed | cancelled, or
 * queued -> failed | cancelled (cancelled or timed out before it ran).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ApiError, type ErrorEnvelope, type ErrorRecord } from '../api-error.js';
import type { ImageParams } from '../params.js';
import type { GenerationRecord, StoredImage } from '../store.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type FinalFailure = 'failed' | 'cancelled';

export type PreviewEvent = { type: 'preview'; step: number; steps: number; images: string[] };

/** What SSE subscribers receive (routes add URLs to the result). */
export type JobEvent =
  | { type: 'queued'; position: number }
  | { type: 'started' }
  | { type: 'progress'; step: number; steps: number; tokens_per_second: number }
  | PreviewEvent
  | { type: 'result'; result: GenerationRecord }
  | { type: 'error'; status: JobStatus; error: ErrorEnvelope['error'] };

/** Everything known about a job, as plain serializable JSON. */
export interface JobData {
  id: string;
  /** Unix seconds. */
  created: number;
  /** Epoch milliseconds of submission (latency metrics include the queue wait). */
  submittedAt: number;
  params: ImageParams;
  /** The tenant that submitted it (issue 23; src/server/tenancy.ts); null: unowned (no keys configured). */
  owner: string | null;
  status: JobStatus;
  /** 1-based place in its model's queue while queued. */
  position: number;
  progress: { step: number; steps: number };
  /** Most rows of any sampling step this job took part in (its own plus those of requests sharing the step). */
  maxStepRows: number;
  /** The latest preview, for subscribers that join late. */
  lastPreview: PreviewEvent | null;
  record: GenerationRecord | null;
  error: ErrorRecord | null;
}

/** GET /v1/jobs/:id (before the routes add URLs to `result`). */
export interface JobView {
  id: string;
  object: 'job';
  created: number;
  status: JobStatus;
  model: string;
  prompt: string;
  seed: number | undefined;
  queue_position: number | null;
  progress: { step: number; steps: number };
  result: GenerationRecord | null;
  error: ErrorEnvelope['error'] | null;
}

export interface KeptImage {
  stored: StoredImage;
  data: Buffer;
}

const NEXT: Record<JobStatus, readonly JobStatus[]> = {
  queued: ['running', 'failed', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function isFinal(status: JobStatus): boolean {
  return NEXT[status].length === 0;
}

export function newJobData(params: ImageParams, now: number = Date.now(), owner: string | null = null): JobData {
  return {
    id: randomUUID(),
    created: Math.floor(now / 1000),
    submittedAt: now,
    params,
    owner,
    status: 'queued',
    position: 0,
    progress: { step: 0, steps: 0 },
    maxStepRows: 0,
    lastPreview: null,
    record: null,
    error: null,
  };
}

/** The GET /v1/jobs/:id view of job data. */
export function jobView(data: JobData): JobView {
  return {
    id: data.id,
    object: 'job',
    created: data.created,
    status: data.status,
    model: data.params.model.id,
    prompt: data.params.request.prompt,
    seed: data.params.request.seed,
    queue_position: data.status === 'queued' ? data.position : null,
    progress: data.progress,
    result: data.record,
    error: data.error === null ? null : ApiError.fromRecord(data.error).toJSON().error,
  };
}

export class Job extends EventEmitter {
  readonly data: JobData;
  readonly controller = new AbortController();
  readonly done: Promise<GenerationRecord>;
  /** Kept images as encoded, in record.images order (live only: the store has them too). */
  private images: Buffer[] = [];
  private settle!: { resolve: (r: GenerationRecord) => void; reject: (e: ApiError) => void };

  /** Wraps job data (new from newJobData, or as a queue delivered it). */
  constructor(data: JobData) {
    super();
    this.setMaxListeners(100);
    this.data = data;
    this.done = new Promise<GenerationRecord>((resolve, reject) => (this.settle = { resolve, reject }));
    // The promise is also observed through events; never let it be an unhandled rejection.
    this.done.catch(() => undefined);
  }

  get id(): string {
    return this.data.id;
  }
  get created(): number {
    return this.data.created;
  }
  get owner(): string | null {
    return this.data.owner;
  }

  get params(): ImageParams {
    return this.data.params;
  }
  get status(): JobStatus {
    return this.data.status;
  }
  get position(): number {
    return this.data.position;
  }
  get progress(): { step: number; steps: number } {
    return this.data.progress;
  }
  get maxStepRows(): number {
    return this.data.maxStepRows;
  }
  get lastPreview(): PreviewEvent | null {
    return this.data.lastPreview;
  }
  get record(): GenerationRecord | null {
    return this.data.record;
  }
  get error(): ErrorRecord | null {
    return this.data.error;
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get finished(): boolean {
    return isFinal(this.data.status);
  }
  /** The kept images with their bytes (empty until the job succeeded). */
  get kept(): KeptImage[] {
    return (this.data.record?.images ?? []).map((stored, i) => ({ stored, data: this.images[i] }));
  }

  publish(event: JobEvent): void {
    if (event.type === 'preview') this.data.lastPreview = event;
    this.emit('event', event);
  }

  /** Sets the queue position and tells subscribers. */
  setPosition(position: number): void {
    this.data.position = position;
    this.publish({ type: 'queued', position });
  }

  start(): void {
    this.move('running');
    this.publish({ type: 'started' });
  }

  /** Records progress; `tokensPerSecond` present publishes a progress event (absent: the total is known, nothing sampled yet). */
  setProgress(step: number, steps: number, tokensPerSecond?: number): void {
    this.data.progress = { step, steps };
    if (tokensPerSecond !== undefined) this.publish({ type: 'progress', step, steps, tokens_per_second: Math.round(tokensPerSecond) });
  }

  /** Notes the rows of a step this job took part in; true when that is a new maximum for the job. */
  noteStepRows(rows: number): boolean {
    if (rows <= this.data.maxStepRows) return false;
    this.data.maxStepRows = rows;
    return true;
  }

  succeed(record: GenerationRecord, images: Buffer[]): void {
    this.move('succeeded');
    this.data.record = record;
    this.images = images;
    this.publish({ type: 'result', result: record });
    this.settle.resolve(record);
  }

  fail(status: FinalFailure, error: ApiError): void {
    this.move(status);
    this.data.error = error.toRecord();
    this.publish({ type: 'error', status, error: error.toJSON().error });
    this.settle.reject(error);
  }

  toJSON(): JobView {
    return jobView(this.data);
  }

  private move(to: JobStatus): void {
    const from = this.data.status;
    if (!NEXT[from].includes(to)) throw new Error(`job ${this.data.id}: no transition from ${from} to ${to}`);
    this.data.status = to;
  }
}
