/**
 * One worker lane of lanes.ts as the calling thread sees it: its thread (lane-worker.ts),
 * the messages both ways (src/util/job-worker.ts' protocol), one job at a time. The thread
 * holds the process only while it opens or runs a job.
 */
import { TesseraError, type ErrorCode } from '../errors.js';
import type { Precision } from '../model/precision.js';
import type { SequenceSpec } from '../sampler/sampler.js';
import type { Device } from '../types.js';
import { JobWorker, type JobReply } from '../util/job-worker.js';
import { siblingModule } from '../util/module-worker.js';

/** The package and device of the calling thread's generator, which a worker lane loads too (the precision follows, once decided: 'open'). */
export interface LaneLoad {
  dir: string;
  device: Device;
  /** Rows of the lane's first part: its KV cache is mapped while the lane loads (architectures.ts' warmFirstCache). */
  firstRows?: number;
  /** Whether that first cache is an int8 one (the loader's firstStepReadsInt8Cache; default false). */
  int8Cache?: boolean;
}

/** A job of a sampling lane's thread (the 'sample' job gets its id from JobWorker.run). */
export type LaneRequest = { type: 'open'; precision: Precision } | { type: 'sample'; id: number; sequences: SequenceSpec[] } | { type: 'cancel'; id: number };

/** A step's codes, one per sequence of the job (in its order), as the lane samples them. */
export interface LaneColumn {
  tokensDone: number;
  column: Int32Array;
}

/** A lane's sampled codes and its prefill time. */
export interface LaneResult {
  codes: Int32Array[];
  prefillMs: number;
}

export type LaneReply = JobReply<LaneResult, LaneColumn>;

/** A lane's failure as the caller sees it: the worker's own TesseraError, else an internal one that says how to run without lanes. */
function laneError(code: ErrorCode | null, message: string): Error {
  return code === null ? new TesseraError('TESSERA_ERR_INTERNAL', `a sampling lane failed: ${message} (TESSERA_LANES=1 samples without lanes)`) : new TesseraError(code, message);
}

const WORKER_MODULE = siblingModule(import.meta.url, 'lane-worker');

/** One worker thread's lane: one job at a time (JobWorker: the thread keeps the process alive only while it opens or a job runs). */
export class WorkerLane {
  private readonly worker: JobWorker<LaneResult, LaneColumn>;

  constructor(load: LaneLoad) {
    this.worker = new JobWorker(WORKER_MODULE, load, laneError);
  }

  /** Settles once the lane has opened its generator ('open'), or failed to. */
  get ready(): Promise<void> {
    return this.worker.ready;
  }

  open(precision: Precision): void {
    this.worker.send({ type: 'open', precision } satisfies LaneRequest, true);
  }

  /** Samples `sequences` in the worker; `onColumn` gets each step's codes (in the sequences' order). */
  sample(sequences: readonly SequenceSpec[], onColumn: (tokensDone: number, column: Int32Array) => void, signal?: AbortSignal): Promise<LaneResult> {
    // Only the spec's fields travel (a prepared request's sequences may carry more).
    const plain = sequences.map(({ textIds, unconditionalIds, guidanceScale, seed, candidateIndex, processors, forced }) => ({ textIds, unconditionalIds, guidanceScale, seed, candidateIndex, processors, forced }));
    const { id, result } = this.worker.run({ type: 'sample', sequences: plain }, { onProgress: ({ tokensDone, column }) => onColumn(tokensDone, column) });
    // After the job: the worker reads messages in order, so a cancel finds the job it names.
    const cancel = () => this.worker.send({ type: 'cancel', id } satisfies LaneRequest);
    if (signal?.aborted) cancel();
    else signal?.addEventListener('abort', cancel, { once: true });
    return result;
  }

  /** Stops the thread; a later sample() rejects. */
  close(): Promise<void> {
    return this.worker.close(laneError(null, 'its lanes were closed'));
  }
}
