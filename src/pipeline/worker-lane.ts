/**
 * One worker lane of lanes.ts as the calling thread sees it: its thread (lane-worker.ts),
 * the messages both ways, one job at a time. The thread holds the process only while it
 * opens or runs a job.
 */
import type { Worker } from 'node:worker_threads';
import { TesseraError, type ErrorCode } from '../errors.js';
import type { Precision } from '../model/precision.js';
import type { SequenceSpec } from '../sampler/sampler.js';
import type { Device } from '../types.js';
import { siblingModule, spawnModuleWorker } from '../util/module-worker.js';

/** The package and device of the calling thread's generator, which a worker lane loads too (the precision follows, once decided: 'open'). */
export interface LaneLoad {
  dir: string;
  device: Device;
  /** Rows of the lane's first part: its KV cache is mapped while the lane loads (architectures.ts' warmFirstCache). */
  firstRows?: number;
}

export type LaneRequest = { type: 'open'; precision: Precision } | { type: 'sample'; id: number; sequences: SequenceSpec[] } | { type: 'cancel'; id: number };

export type LaneReply =
  | { type: 'ready' }
  | { type: 'failed'; code: ErrorCode | null; message: string }
  | { type: 'column'; id: number; tokensDone: number; column: Int32Array }
  | { type: 'done'; id: number; codes: Int32Array[]; prefillMs: number }
  | { type: 'error'; id: number; code: ErrorCode | null; message: string };

/** A lane's sampled codes and its prefill time. */
export interface LaneResult {
  codes: Int32Array[];
  prefillMs: number;
}

/** A lane's failure as the caller sees it: the worker's own TesseraError, else an internal one that says how to run without lanes. */
function laneError(code: ErrorCode | null, message: string): Error {
  return code === null ? new TesseraError('TESSERA_ERR_INTERNAL', `a sampling lane failed: ${message} (TESSERA_LANES=1 samples without lanes)`) : new TesseraError(code, message);
}

interface LaneJob {
  id: number;
  onColumn: (tokensDone: number, column: Int32Array) => void;
  resolve: (result: LaneResult) => void;
  reject: (error: Error) => void;
}

const WORKER_MODULE = siblingModule(import.meta.url, 'lane-worker');

/** One worker thread's lane: one job at a time; the thread keeps the process alive only while a job runs. */
export class WorkerLane {
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private job: LaneJob | null = null;
  private failure: Error | null = null;
  private nextId = 1;

  constructor(load: LaneLoad) {
    this.worker = spawnModuleWorker(WORKER_MODULE, { workerData: load });
    let started: (() => void) | null = null;
    let failed: ((error: Error) => void) | null = null;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    this.ready.catch(() => undefined); // read by sample(); never an unhandled rejection
    this.worker.on('message', (reply: LaneReply) => {
      if (reply.type === 'ready') {
        this.worker.unref(); // opened: idle until a job
        started?.();
      }
      else if (reply.type === 'failed') this.fail(laneError(reply.code, reply.message), failed);
      else this.answer(reply);
    });
    this.worker.on('error', (error) => this.fail(laneError(null, error.message), failed));
    this.worker.on('exit', (code) => this.fail(laneError(null, `its thread exited (code ${code})`), failed));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    this.worker.unref();
  }

  private fail(error: Error, failedToStart: ((error: Error) => void) | null): void {
    this.failure ??= error;
    this.worker.unref();
    failedToStart?.(error);
    const job = this.job;
    this.job = null;
    job?.reject(error);
  }

  private answer(reply: Exclude<LaneReply, { type: 'ready' } | { type: 'failed' }>): void {
    const job = this.job;
    if (job === null || reply.id !== job.id) return;
    if (reply.type === 'column') return job.onColumn(reply.tokensDone, reply.column);
    this.job = null;
    this.worker.unref();
    if (reply.type === 'done') job.resolve({ codes: reply.codes, prefillMs: reply.prefillMs });
    else job.reject(laneError(reply.code, reply.message));
  }

  open(precision: Precision): void {
    // Opening keeps the process alive until the lane answers (someone awaits it).
    this.worker.ref();
    this.worker.postMessage({ type: 'open', precision } satisfies LaneRequest);
  }

  /** Samples `sequences` in the worker; `onColumn` gets each step's codes (in the sequences' order). */
  sample(sequences: readonly SequenceSpec[], onColumn: LaneJob['onColumn'], signal?: AbortSignal): Promise<LaneResult> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<LaneResult>((resolve, reject) => {
      this.job = { id, onColumn, resolve, reject };
      this.worker.ref();
      // Only the spec's fields travel (a prepared request's sequences may carry more).
      const plain = sequences.map(({ textIds, unconditionalIds, guidanceScale, seed, candidateIndex, processors, forced }) => ({ textIds, unconditionalIds, guidanceScale, seed, candidateIndex, processors, forced }));
      this.worker.postMessage({ type: 'sample', id, sequences: plain } satisfies LaneRequest);
      // After the job: the worker reads messages in order, so a cancel finds the job it names.
      const cancel = () => this.worker.postMessage({ type: 'cancel', id } satisfies LaneRequest);
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Stops the thread; a later sample() rejects. */
  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.fail(laneError(null, 'its lanes were closed'), null);
    await this.worker.terminate();
  }
}

