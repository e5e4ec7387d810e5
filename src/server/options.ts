/** Server configuration and its defaults (secure by default: loopback, body limit, rate limit). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR } from '../model/loader.js';
import type { Device } from '../pipeline/types.js';

export interface ServerOptions {
  /** Model package folders; the first is the default `model`. Default: the embedded model. */
  models?: string[];
  device?: Device;
  /** Where results (images, record.json) and history.sqlite live. Default: data/server. */
  dataDir?: string;
  /** Bearer keys; when non-empty every /v1 route (but /v1/files) and /metrics needs one. */
  apiKeys?: string[];
  /** Requests waiting per model before 429 (default 8). */
  maxQueue?: number;
  /** Requests per model in the inference child at once, sharing every sampling step (default 4). */
  concurrency?: number;
  /** Most rows one shared sampling step may hold when admitting another request (default 512). */
  maxBatchRows?: number;
  /** Per-request limit from start of sampling, in ms (default 300 000). */
  timeoutMs?: number;
  /** Largest accepted body in bytes (default 64 KiB). */
  bodyLimit?: number;
  /** Requests per client per minute; false disables (default 120). */
  rateLimit?: number | false;
  /** Most candidates one request may ask for (default 64). */
  maxCandidates?: number;
  /** Preview cadence for jobs when the request does not say (default 8 steps). */
  previewEvery?: number;
  /** How long shutdown waits for in-flight work before cancelling it (default 10 s). */
  shutdownGraceMs?: number;
  /** Absolute base for `url` responses (default: from the request's Host). */
  publicUrl?: string;
  logger?: boolean;
  /** Tests only: sleep per sampling step in the worker. */
  workerStepDelayMs?: number;
}

export type ResolvedServerOptions = Required<Omit<ServerOptions, 'publicUrl' | 'workerStepDelayMs'>> & Pick<ServerOptions, 'publicUrl' | 'workerStepDelayMs'>;

export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  return {
    models: options.models && options.models.length > 0 ? options.models.map((m) => path.resolve(m)) : [DEFAULT_MODEL_DIR],
    device: options.device ?? 'cpu',
    dataDir: path.resolve(options.dataDir ?? 'data/server'),
    apiKeys: options.apiKeys ?? [],
    maxQueue: options.maxQueue ?? 8,
    concurrency: options.concurrency ?? 4,
    maxBatchRows: options.maxBatchRows ?? 512,
    timeoutMs: options.timeoutMs ?? 300_000,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    rateLimit: options.rateLimit ?? 120,
    maxCandidates: options.maxCandidates ?? 64,
    previewEvery: options.previewEvery ?? 8,
    shutdownGraceMs: options.shutdownGraceMs ?? 10_000,
    publicUrl: options.publicUrl,
    logger: options.logger ?? false,
    workerStepDelayMs: options.workerStepDelayMs,
  };
}

/** The gallery's static files: the same folder from src (tsx, vitest) and from dist (tsc does not copy them). */
export const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/server/public');
