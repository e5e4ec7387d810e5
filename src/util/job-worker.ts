/**
 * A worker thread that runs jobs for the calling thread: the one message protocol of
 * Tessera's lanes (the sampling lanes' WorkerLane, src/pipeline/worker-lane.ts; the VQ
 * decoding lanes' VqLane, src/vq/vq-lanes.ts). The worker answers 'ready' once it has
 * opened what it holds, or 'failed'; each job, sent with an id, ends in 'done' (its
 * result) or 'error', with any 'progress' of that id before. A failure of the thread
 * fails its jobs, then every later one. The thread holds the process only while it opens
 * (when the opening was asked for, or it opens as it starts) or runs a job: idle lanes never
 * keep a finished process alive.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import type { ErrorCode } from '../errors.js';
import { spawnModuleWorker } from './module-worker.js';

/** The longest close() waits for a thread still opening before it terminates it anyway. */
export const CLOSE_WAIT_MS = 30_000;

/** What a job worker's thread posts back. */
export type JobReply<R, P = never> =
  | { type: 'ready' }
  | { type: 'failed'; code: ErrorCode | null; message: string }
  | { type: 'progress'; id: number; progress: P }
  | { type: 'done'; id: number; result: R }
  | { type: 'error'; id: number; code: ErrorCode | null; message: string };

/** The error a worker's failure becomes: its own TesseraError code when it sent one, else the lane kind's internal error. */
export type WorkerErrorOf = (code: ErrorCode | null, message: string) => Error;

interface Job<R, P> {
  resolve: (result: R) => void;
  reject: (error: Error) => void;
  onProgress?: (progress: P) => void;
}

export class JobWorker<R, P = never> {
  /** Settles when the thread has opened what it holds (rejects with its failure). */
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job<R, P>>();
  private failure: Error | null = null;
  private opening = false;
  private nextId = 1;
  private readonly errorOf: WorkerErrorOf;

  /** `opensAtStart`: the thread opens what it holds as it starts (a VQ lane), not when sent an opening. */
  constructor(module: string, workerData: unknown, errorOf: WorkerErrorOf, opensAtStart = false) {
    this.errorOf = errorOf;
    this.opening = opensAtStart;
    this.worker = spawnModuleWorker(module, { workerData });
    let started: () => void = () => undefined;
    let failed: (error: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => ((started = resolve), (failed = reject)));
    this.ready.catch(() => undefined); // read by the lane's callers; never an unhandled rejection
    this.worker.on('message', (reply: JobReply<R, P>) => {
      if (reply.type === 'ready') {
        this.opening = false;
        this.release();
        started();
      } else if (reply.type === 'failed') this.fail(errorOf(reply.code, reply.message), failed);
      else this.answer(reply);
    });
    this.worker.on('error', (error) => this.fail(errorOf(null, error.message), failed));
    this.worker.on('exit', (code) => this.fail(errorOf(null, `its thread exited (code ${code})`), failed));
    // After the listeners: adding a 'message' listener refs the worker's port again. A thread
    // opening at start holds the process until it is ready (see close()).
    if (!opensAtStart) this.worker.unref();
  }

  /** Lets the process go when nothing it waits for is left (no opening asked for, no job). */
  private release(): void {
    if (!this.opening && this.jobs.size === 0) this.worker.unref();
  }

  private fail(error: Error, failedToStart: (error: Error) => void): void {
    this.failure ??= error;
    this.opening = false;
    this.worker.unref();
    failedToStart(error);
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.reject(error);
  }

  private answer(reply: Exclude<JobReply<R, P>, { type: 'ready' } | { type: 'failed' }>): void {
    const job = this.jobs.get(reply.id);
    if (job === undefined) return;
    if (reply.type === 'progress') return job.onProgress?.(reply.progress);
    this.jobs.delete(reply.id);
    this.release();
    if (reply.type === 'done') job.resolve(reply.result);
    else job.reject(this.errorOf(reply.code, reply.message));
  }

  /** Sends a message that is no job (an opening, a cancel); `opens`: the process waits for the thread's 'ready'. */
  send(message: object, opens = false): void {
    if (opens) {
      this.opening = true;
      this.worker.ref();
    }
    this.worker.postMessage(message);
  }

  /**
   * Runs a job: `message` is posted with the job's id added (`transfer` moves its buffers);
   * its progress replies go to `onProgress`. Rejects at once after a failure.
   */
  run(message: object, options: { transfer?: ArrayBuffer[]; onProgress?: (progress: P) => void } = {}): { id: number; result: Promise<R> } {
    const id = this.nextId++;
    if (this.failure !== null) return { id, result: Promise.reject(this.failure) };
    const result = new Promise<R>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
      this.worker.ref();
      this.worker.postMessage({ ...message, id }, options.transfer ?? []);
    });
    return { id, result };
  }

  /**
   * Stops the thread: its jobs and every later one fail with `error`. A thread still opening
   * (its 'ready' or 'failed' not yet posted) is let finish first (at most CLOSE_WAIT_MS): terminated inside
   * onnxruntime-node's session load, the binding's next N-API call throws a C++ Napi::Error
   * that nothing catches, and the whole process aborts (SIGABRT; seen with a forced precision on
   * the tiny encoder-decoder package, whose VQ lanes were still loading when the run ended).
   */
  async close(error: Error): Promise<void> {
    if (this.opening) await Promise.race([this.ready.catch(() => undefined), delay(CLOSE_WAIT_MS, undefined, { ref: false })]);
    this.worker.removeAllListeners('exit');
    this.fail(error, () => undefined);
    await this.worker.terminate();
  }
}
