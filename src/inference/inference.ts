/**
 * What the server's engine needs from whoever runs its requests: the local inference child
 * (InferenceChild) or a queue of `tessera worker`s on other machines (src/queue/remote.ts,
 * `tessera serve --queue`).
 */
import type { EventEmitter } from 'node:events';
import type { ErrorCode } from '../errors.js';
import type { ResolvedRequest } from '../pipeline/settings.js';
import type { Device, GenerateRequest, GenerationResult } from '../types.js';
import type { RunOptions } from './pending-requests.js';

export interface Inference extends EventEmitter {
  /** Resolves when requests can run (model loaded; for a queue: Redis reachable). */
  start(): Promise<void>;
  /** Runs one request; rejects with TESSERA_ERR_CANCELLED when `options.signal` aborts. */
  run(request: GenerateRequest | ResolvedRequest, options?: RunOptions): Promise<GenerationResult>;
  stop(graceMs?: number): Promise<void>;
  /** Ready for requests now (/readyz). */
  readonly ready: boolean;
  /** Times the runner was replaced after a crash. */
  readonly restarts: number;
  /** Why it is not ready, when known. */
  readonly lastError: string | null;
  /** Requests running now. */
  readonly inFlight: number;
  /** For a queue: its jobs and workers at the last look (the API's /metrics); absent for the local child. */
  queueStatus?(): RemoteQueueStatus | null;
  /** CLIP text embedding of a search query (the local child has CLIP loaded; absent for a queue). */
  embedText?(text: string): Promise<Float32Array>;
  /**
   * Why a new request would be refused now, or null: the engine answers such a request at
   * once (503, Retry-After) instead of queueing it. A queue with no worker connected says so
   * (TESSERA_ERR_NO_WORKER); the local child never refuses (it queues while it restarts).
   */
  refusal?(): InferenceRefusal | null;
  /** The local child's pid (undefined for a queue: its workers are elsewhere). */
  readonly pid: number | undefined;
}

export interface InferenceRefusal {
  code: ErrorCode;
  message: string;
  /** For the Retry-After header. */
  retryAfterSeconds: number;
}

export interface RemoteQueueStatus {
  waiting: number;
  active: number;
  delayed: number;
  workers: number;
}

/** Makes the Inference of one served model (the engine's default: an InferenceChild child). */
export type InferenceFactory = (model: { dir: string; id: string }, options: { device: Device; clip?: string; maxRows?: number; watchdogMs?: number }) => Inference;
