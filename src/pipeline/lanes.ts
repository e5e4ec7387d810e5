/**
 * Sampling lanes: a row group's sequences split into parts sampled at the same time,
 * each by its own generator on its own thread, every generator session with ONE intra-op
 * thread: lane 0 on the calling thread (the loaded model's generator), the others in
 * worker threads (lane-worker.ts), each holding its own sessions of the same graphs.
 *
 * Why: a step of the shipped model is some 280 small kernels. With two intra-op threads
 * onnxruntime splits each kernel over both and waits for both, and at these sizes the
 * handing over costs what the second core gives: one thread ran the int8 step as fast as
 * two (docs/benchmarks.md "Sampling lanes"). Two lanes of one thread each keep both
 * cores on their own rows, and each lane's JavaScript between steps (the draw, the cache
 * writes) runs while the other lane's step does: 128 rows, 48 slots, int8: one step on
 * two threads 14.7 ms, two 64-row lanes side by side 6.3 ms.
 *
 * Codes do not depend on the lane a sequence runs in: a candidate's random stream is its
 * own (src/sampler/rng.ts), as with row groups (src/sampler/row-groups.ts). Events come
 * from lane 0's loop, each step once every lane has sampled it; previews see every lane's
 * codes (the other lanes send each step's codes as they go).
 */
import type { Worker } from 'node:worker_threads';
import { isTesseraError, TesseraError, type ErrorCode } from '../errors.js';
import type { Precision } from '../model/precision.js';
import type { BatchSampler, SequenceSpec, StepProgress } from '../sampler/sampler.js';
import { rowsFor } from '../sampler/sequence.js';
import type { Device } from '../types.js';
import { siblingModule, spawnModuleWorker } from '../util/module-worker.js';

/** Rows a lane must get at least: below it a group is not split (one lane's fixed costs per step would outweigh the halved work). */
export const MIN_LANE_ROWS = 4;

/** The largest lane count accepted (TESSERA_LANES). */
export const MAX_LANES = 64;

/** The package and device of the calling thread's generator, which a worker lane loads too (the precision follows, once decided: 'open'). */
export interface LaneLoad {
  dir: string;
  device: Device;
}

export type LaneRequest = { type: 'open'; precision: Precision } | { type: 'sample'; id: number; sequences: SequenceSpec[] } | { type: 'cancel'; id: number };

export type LaneReply =
  | { type: 'ready' }
  | { type: 'failed'; code: ErrorCode | null; message: string }
  | { type: 'column'; id: number; tokensDone: number; column: Int32Array }
  | { type: 'done'; id: number; codes: Int32Array[]; prefillMs: number }
  | { type: 'error'; id: number; code: ErrorCode | null; message: string };

/**
 * Lanes on a device: TESSERA_LANES when set (1 turns lanes off), else on the CPU one per
 * intra-op thread (TESSERA_THREADS, default 2), so the cores stay as many; one elsewhere
 * (a GPU runs a step's rows together).
 */
export function lanesFor(device: Device, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TESSERA_LANES;
  if (raw !== undefined && raw !== '') {
    const lanes = Number(raw);
    if (!Number.isInteger(lanes) || lanes < 1 || lanes > MAX_LANES) {
      throw new TesseraError('TESSERA_ERR_OPTION', `TESSERA_LANES must be an integer from 1 to ${MAX_LANES}, got ${JSON.stringify(raw)}`, { param: 'TESSERA_LANES' });
    }
    return lanes;
  }
  if (device !== 'cpu') return 1;
  const threads = Number(env.TESSERA_THREADS ?? 2);
  return Number.isInteger(threads) && threads >= 1 ? Math.min(threads, MAX_LANES) : 1;
}

/**
 * Splits sequences, in order, into contiguous parts of about equal rows (within two: a
 * guided sequence's two rows stay together): min(lanes, rows / MIN_LANE_ROWS, sequences)
 * of them, so one part (no split) for a small group.
 */
export function laneParts<S extends SequenceSpec>(sequences: readonly S[], lanes: number): S[][] {
  const total = rowsFor(sequences);
  const count = Math.max(1, Math.min(lanes, Math.floor(total / MIN_LANE_ROWS), sequences.length));
  if (count === 1) return [[...sequences]];
  const parts: S[][] = [];
  let part: S[] = [];
  let rows = 0;
  sequences.forEach((sequence, i) => {
    part.push(sequence);
    rows += rowsFor([sequence]);
    const left = sequences.length - i - 1;
    const partsLeft = count - parts.length - 1;
    // Close the part at its share of the rows, or when each later part needs one of the sequences left.
    if (partsLeft > 0 && (rows >= (total * (parts.length + 1)) / count || left === partsLeft)) {
      parts.push(part);
      part = [];
    }
  });
  parts.push(part);
  return parts;
}

/** A lane's sampled codes and its prefill time. */
export interface LaneResult {
  codes: Int32Array[];
  prefillMs: number;
}

function laneError(code: ErrorCode | null, message: string): Error {
  return code === null ? new TesseraError('TESSERA_ERR_INTERNAL', `a sampling lane failed: ${message}`) : new TesseraError(code, message);
}

interface LaneJob {
  id: number;
  onColumn: (tokensDone: number, column: Int32Array) => void;
  resolve: (result: LaneResult) => void;
  reject: (error: Error) => void;
}

const WORKER_MODULE = siblingModule(import.meta.url, 'lane-worker');

/** One worker thread's lane: one job at a time; the thread keeps the process alive only while a job runs. */
class WorkerLane {
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

/** The worker lanes of a loaded model (lane 0, the caller's own generator, is not one of them). */
export class SamplingLanes {
  /** Lanes in all, the caller's own included. */
  readonly count: number;
  private readonly workers: WorkerLane[];

  private constructor(workers: WorkerLane[]) {
    this.workers = workers;
    this.count = workers.length + 1;
  }

  /**
   * Starts `count - 1` worker threads now: they load their modules while the caller
   * verifies and opens its own generator; `open` then gives them the precision.
   */
  static start(load: LaneLoad, count: number): SamplingLanes {
    return new SamplingLanes(Array.from({ length: Math.max(0, count - 1) }, () => new WorkerLane(load)));
  }

  /** Has every worker lane open `precision`'s generator; resolves once all have (rejects with the first failure). */
  async open(precision: Precision): Promise<void> {
    for (const w of this.workers) w.open(precision);
    await Promise.all(this.workers.map((w) => w.ready));
  }

  /**
   * Samples `parts` (laneParts' split, in order) at once: parts[0] with `main` on this
   * thread, the others in the worker lanes. The codes come back in the parts' order.
   * `onPrefilled` runs once lane 0 has prefilled; `onStep` after every lane sampled a step.
   */
  async sample(
    main: BatchSampler,
    parts: readonly (readonly SequenceSpec[])[],
    options: { onPrefilled?: () => void; onStep?: (progress: StepProgress) => void | Promise<void>; signal?: AbortSignal } = {},
  ): Promise<LaneResult> {
    const [own, ...others] = parts;
    if (others.length > this.workers.length) throw new TesseraError('TESSERA_ERR_INTERNAL', `${parts.length} lane parts for ${this.count} lanes`);
    const tokens = main.imageTokens;
    // The other lanes' codes as their columns arrive; each lane's last reported step.
    const mirrors = others.map((part) => part.map(() => new Int32Array(tokens)));
    const reached = others.map(() => 0);
    let failure: Error | null = null;
    let waiting: { step: number; resolve: () => void; reject: (error: Error) => void } | null = null;
    const wake = () => {
      if (waiting === null) return;
      if (failure !== null) waiting.reject(failure);
      else if (reached.every((r) => r >= waiting!.step)) waiting.resolve();
      else return;
      waiting = null;
    };
    // One failing lane stops the others (lane 0 through this signal, the workers through theirs).
    const stop = new AbortController();
    const forward = () => stop.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', forward, { once: true });
    const jobs = others.map((part, lane) =>
      this.workers[lane]
        .sample(
          part,
          (tokensDone, column) => {
            column.forEach((code, s) => (mirrors[lane][s][tokensDone - 1] = code));
            reached[lane] = tokensDone;
            wake();
          },
          stop.signal,
        )
        .catch((error: Error) => {
          failure ??= error;
          stop.abort(error);
          wake();
          throw error;
        }),
    );
    const mainJob = (async (): Promise<LaneResult> => {
      const before = main.stats.prefillMs;
      const state = await main.prefill(own);
      const prefillMs = main.stats.prefillMs - before;
      options.onPrefilled?.();
      await main.decodeSteps(state, tokens, {
        signal: stop.signal,
        onStep: async (progress) => {
          await new Promise<void>((resolve, reject) => {
            waiting = { step: progress.tokensDone, resolve, reject };
            wake();
          });
          await options.onStep?.({ ...progress, codes: [...progress.codes, ...mirrors.flat()] });
        },
      });
      return { codes: state.codes, prefillMs };
    })().catch((error: Error) => {
      stop.abort(error);
      throw error;
    });
    try {
      const settled = await Promise.allSettled([mainJob, ...jobs]);
      // The caller's cancel wins over what it caused; then the first error that is not a
      // lane stopped because another failed (lane 0's first).
      if (options.signal?.aborted) throw new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled', { cause: options.signal.reason });
      const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
      if (errors.length > 0) throw errors.find((e) => !isTesseraError(e, 'TESSERA_ERR_CANCELLED')) ?? errors[0];
      const results = settled.map((s) => (s as PromiseFulfilledResult<LaneResult>).value);
      return { codes: results.flatMap((r) => r.codes), prefillMs: results[0].prefillMs };
    } finally {
      options.signal?.removeEventListener('abort', forward);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
