/**
 * `tessera serve --queue`: the server's engine runs each request as a `generate` job on
 * whichever `tessera worker` takes it (src/queue/generate-job.ts has the job's wire format).
 * The engine does not change: admission, jobs, SSE progress and previews, the OpenAI
 * endpoints and the result writer work as with the local child, through the Inference seam
 * (src/inference/inference.ts). Several API replicas can share one Redis: each owns
 * the requests it received.
 *
 * - Progress: the worker's `job.updateProgress`, received here through QueueEvents.
 * - Completion: polled (as the batch client does): events are not replayed after a
 *   reconnect, polling converges. A request Redis lost (a restart) is added again.
 * - Cancellation: a job still waiting is removed; a running one gets a `cancel` flag in its
 *   data, which its worker watches and answers with TESSERA_ERR_CANCELLED.
 * - Readiness: Redis answers and at least one worker is connected to the queue.
 * - No worker: while Redis answers and no worker is connected (the poll's view, at most
 *   pollMs old: the same truth as /readyz), new requests are refused at once with
 *   TESSERA_ERR_NO_WORKER (503, Retry-After) instead of waiting for the timeout.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Job, Queue, QueueEvents } from 'bullmq';
import { clipIdentity, modelIdentity } from '../pipeline/identity.js';
import { TesseraError } from '../errors.js';
import type { ResolvedRequest } from '../pipeline/settings.js';
import type { RunOptions } from '../inference/pending-requests.js';
import type { Inference, InferenceFactory, InferenceRefusal, RemoteQueueStatus } from '../inference/inference.js';
import type { Device, GenerateRequest, GenerationResult } from '../types.js';
import { errorOf } from './client.js';
import { parseQueueUrl, redisOptions, type QueueConnection } from './connection.js';
import { decodeEvent, decodeResult, GENERATE_JOB_NAME, type GenerateJobData, type WireEvent, type WireResult } from './generate-job.js';
import { queueNameOf, type EngineIdentity } from './jobs.js';
import { QUEUE_DEFAULTS } from './recovery.js';

/** Retry-After of a request refused for want of a worker: about the time a worker takes to start and load its model. */
export const NO_WORKER_RETRY_AFTER_S = 10;

export interface RemoteInferenceOptions {
  attempts?: number;
  backoffMs?: number;
  /** How often job states and the worker count are polled (default 250 ms). */
  pollMs?: number;
  /** Redis must answer within this at start (default 10 s). */
  connectTimeoutMs?: number;
}

interface Pending {
  data: GenerateJobData;
  resolve: (result: GenerationResult) => void;
  reject: (error: Error) => void;
  onEvent?: RunOptions['onEvent'];
}

/** The engine's Inference factory for `serve --queue URL`. */
export function queueInference(url: string, options: RemoteInferenceOptions = {}): InferenceFactory {
  const connection = parseQueueUrl(url);
  return (model, runner) => new RemoteInference(connection, model.dir, runner, options);
}

export class RemoteInference extends EventEmitter implements Inference {
  readonly restarts = 0;
  readonly pid = undefined;
  lastError: string | null = null;
  /** Workers connected to the queue at the last poll. */
  workers = 0;
  private redisOk = false;
  private counts: RemoteQueueStatus | null = null;
  private queue: Queue | null = null;
  private events: QueueEvents | null = null;
  private engine: EngineIdentity | null = null;
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | null = null;
  private pollStarted: number | null = null;
  private startPromise: Promise<void> | null = null;

  constructor(
    private readonly connection: QueueConnection,
    private readonly modelDir: string,
    private readonly runner: { device: Device; clip?: string },
    private readonly options: RemoteInferenceOptions,
  ) {
    super();
  }

  get ready(): boolean {
    return this.redisOk && this.workers > 0;
  }

  /**
   * Refuses new requests while Redis answers and no worker is connected to the queue.
   * Workers are counted from Redis's client list (BullMQ's getWorkersCount: each worker's
   * connection is named after the queue), so a worker that exits or is killed drops out at
   * once; where Redis hides its client list (some hosted Redis), BullMQ counts one, and
   * nothing is refused. While Redis does not answer, requests wait as before (they are
   * added again once it is back).
   */
  refusal(): InferenceRefusal | null {
    if (!this.redisOk || this.workers > 0 || this.queue === null) return null;
    return {
      code: 'TESSERA_ERR_NO_WORKER',
      // The queue's name but not Redis's address: this message goes to API clients.
      message: `no tessera worker is connected to queue ${this.queue.name}, so nothing can run the request now; retry after ${NO_WORKER_RETRY_AFTER_S} s`,
      retryAfterSeconds: NO_WORKER_RETRY_AFTER_S,
    };
  }

  get inFlight(): number {
    return this.pending.size;
  }

  start(): Promise<void> {
    this.startPromise ??= this.open();
    return this.startPromise;
  }

  private async open(): Promise<void> {
    const model = modelIdentity(this.modelDir);
    const clip = await clipIdentity(this.runner.clip);
    this.engine = { model: { name: model.name, manifestSha256: model.manifestSha256 }, device: this.runner.device, clip: clip === null ? null : { sha256: clip.sha256 } };
    const name = queueNameOf(this.engine);
    const queue = new Queue(name, { connection: redisOptions(this.connection) });
    const events = new QueueEvents(name, { connection: redisOptions(this.connection) });
    this.queue = queue;
    this.events = events;
    const onError = (error: Error) => (this.lastError = `queue connection: ${error.message}`);
    queue.on('error', onError);
    events.on('error', onError);
    events.on('progress', ({ jobId, data }) => {
      const pending = this.pending.get(jobId);
      if (pending?.onEvent !== undefined && typeof data === 'object' && data !== null) pending.onEvent(decodeEvent(data as unknown as WireEvent));
    });
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all([queue.waitUntilReady(), events.waitUntilReady()]),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new TesseraError('TESSERA_ERR_QUEUE_UNAVAILABLE', `Redis at ${this.connection.display} did not answer within ${timeoutMs} ms`, { param: 'queue' })), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 250);
    this.timer.unref();
  }

  queueStatus(): RemoteQueueStatus | null {
    return this.counts;
  }

  async run(request: GenerateRequest | ResolvedRequest, options: RunOptions = {}): Promise<GenerationResult> {
    await this.start();
    if (this.queue === null || this.engine === null) throw new TesseraError('TESSERA_ERR_QUEUE_UNAVAILABLE', 'the queue is closed');
    if (!('settings' in request)) throw new TesseraError('TESSERA_ERR_INTERNAL', 'serve --queue sends resolved requests only');
    if (options.signal?.aborted) throw new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled before it started');
    const id = randomUUID();
    const data: GenerateJobData = { format: 'tessera-queue-generate', version: 1, engine: this.engine, request };
    const result = new Promise<GenerationResult>((resolve, reject) => this.pending.set(id, { data, resolve, reject, onEvent: options.onEvent }));
    await this.add(id, data);
    options.signal?.addEventListener('abort', () => void this.cancel(id, String(options.signal?.reason ?? 'cancelled')), { once: true });
    return result;
  }

  private add(id: string, data: GenerateJobData): Promise<unknown> {
    return this.queue!.add(GENERATE_JOB_NAME, data, {
      jobId: id,
      attempts: this.options.attempts ?? QUEUE_DEFAULTS.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs ?? QUEUE_DEFAULTS.backoffMs },
      // The replica removes a job once it read the result; one that died meanwhile leaves it to age out.
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 3600 },
    });
  }

  private settle(id: string, outcome: GenerationResult | Error): void {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (pending === undefined) return;
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  private async cancel(id: string, reason: string): Promise<void> {
    if (this.queue === null || !this.pending.has(id)) return;
    const job = await Job.fromId<GenerateJobData>(this.queue, id);
    if (job === undefined) return;
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      await job.remove().catch(() => {});
      this.settle(id, new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled before a worker took it'));
    } else if (state === 'active') {
      // Its worker sees the flag within 250 ms and the job fails with TESSERA_ERR_CANCELLED.
      await job.updateData({ ...job.data, cancel: reason });
    }
  }

  /** Worker count, Redis reachability and finished jobs; one poll at a time (a Redis outage stalls it). */
  private async poll(): Promise<void> {
    if (this.queue === null) return;
    if (this.pollStarted !== null) {
      if (performance.now() - this.pollStarted > 2000) {
        this.redisOk = false;
        this.lastError = `Redis at ${this.connection.display} does not answer`;
      }
      return;
    }
    this.pollStarted = performance.now();
    const queue = this.queue;
    try {
      this.workers = await queue.getWorkersCount();
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
      this.counts = { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0, workers: this.workers };
      this.redisOk = true;
      this.lastError = this.workers === 0 ? `no tessera worker is connected to queue ${queue.name}` : null;
      for (const [id, pending] of [...this.pending]) {
        const state = await queue.getJobState(id);
        if (state === 'completed') {
          const job = await queue.getJob(id);
          const wire = job?.returnvalue as WireResult | undefined;
          this.settle(id, wire === undefined || wire === null ? new TesseraError('TESSERA_ERR_QUEUE_JOB_FAILED', `job ${id} completed without a result`) : decodeResult(wire));
          await queue.remove(id);
        } else if (state === 'failed') {
          const job = await queue.getJob(id);
          this.settle(id, errorOf(job?.failedReason ?? 'unknown failure', id));
        } else if (state === 'unknown') {
          await this.add(id, pending.data);
        }
      }
    } catch (error) {
      this.redisOk = false;
      this.lastError = `queue: ${(error as Error).message}`;
    } finally {
      this.pollStarted = null;
    }
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const id of [...this.pending.keys()]) this.settle(id, new TesseraError('TESSERA_ERR_CANCELLED', 'the server is shutting down'));
    await Promise.all([this.queue?.close(), this.events?.close()]);
    this.queue = null;
    this.events = null;
  }
}
