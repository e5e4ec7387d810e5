/** Server configuration and its defaults (secure by default: loopback, body limit, rate limit). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_DIR } from '../pipeline/loader.js';
import { TesseraError } from '../errors.js';
import { checkClipDir } from '../rerank/clip-reranker.js';
import { LIMITS } from '../pipeline/settings.js';
import type { Device, PrecisionChoice } from '../types.js';
import { parsePrecision } from '../model/precision.js';
import { DEFAULT_GRID, type FootprintSettings } from '../footprint/report.js';
import { DEFAULT_MAX_ROWS } from '../inference/protocol.js';

export interface ServerOptions {
  /** Model package folders; the first is the default `model`. Default: the embedded model. */
  models?: string[];
  device?: Device;
  /** Which graphs each model's child runs: fp32, int8 or auto (default; probed at maxBatchRows rows, cached). */
  precision?: PrecisionChoice;
  /** A CLIP folder (transformers.js layout) every served model ranks with instead of its own (`--clip`). */
  clip?: string;
  /** Where results (images, record.json) and history.sqlite live. Default: data/server. */
  dataDir?: string;
  /**
   * Bearer keys; when non-empty (or adminKeys is) every /v1 route and /metrics needs one, and
   * each key is a tenant that sees only its own work (src/server/tenancy.ts).
   */
  apiKeys?: string[];
  /** Bearer keys that see every tenant's work (`--admin-key`); they also turn keys on. */
  adminKeys?: string[];
  /** How long a signed file URL stays valid, in seconds (default 3600; with keys only). */
  fileUrlTtl?: number;
  /** Requests waiting per model before 429 (default 8). */
  maxQueue?: number;
  /** Requests per model in the inference child at once, sharing every sampling step (default 8, DEFAULT_CONCURRENCY). */
  concurrency?: number;
  /** Most rows one shared sampling step may hold when admitting another request (default DEFAULT_MAX_ROWS, 512). */
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
  /** Where the request log goes instead of stdout (an embedding program, or a test, reads it); implies logging. */
  logStream?: { write(line: string): void };
  /** Replace an inference child whose heartbeat is silent this long, in ms (default 60 000). */
  workerWatchdogMs?: number;
  /** Most time to receive a whole request, headers and body, in ms (default 60 000); then 408 and the socket closes. */
  requestTimeoutMs?: number;
  /** Most time to receive a request's headers, in ms (default 20 000; at most requestTimeoutMs). */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, in ms (default 72 000, above common load balancers' 60 s). */
  keepAliveTimeoutMs?: number;
  /** /healthz and /readyz answer 503 when a model has work running and no sampling step came for this long, in ms (default 120 000). */
  stallMs?: number;
  /** /healthz and /readyz answer 503 when the event loop was this late within the last 10 s, in ms (default 5000). */
  maxLoopLagMs?: number;
  /** Grid intensity and energy method of every generation's footprint (`--grid-intensity`, `--grid-signal`, `--watts-per-core`). */
  footprint?: FootprintSettings;
}

/**
 * Requests sharing one model's sampling steps by default. 8 rather than 4: eight
 * concurrent 4-candidate requests then run as one wave of shared steps and finish
 * together (one image decode and CLIP pass), 2.07x the images/s of the same requests one
 * after another against 1.61x at 4, with a lone request no slower
 * (`npm run bench:perf -- --only requests`, docs/benchmarks.md, issue 12).
 */
export const DEFAULT_CONCURRENCY = 8;

export type ResolvedServerOptions = Required<Omit<ServerOptions, 'publicUrl' | 'logStream' | 'clip'>> & Pick<ServerOptions, 'publicUrl' | 'logStream'> & { clip: string | null };


/** Integer bounds of the numeric options; a value outside them is TESSERA_ERR_OPTION naming the flag. */
const NUMERIC_OPTIONS: Record<string, { flag: string; min: number; max: number }> = {
  maxQueue: { flag: 'max-queue', min: 0, max: 100_000 },
  concurrency: { flag: 'concurrency', min: 1, max: 1024 },
  maxBatchRows: { flag: 'max-batch-rows', min: 1, max: 65_536 },
  timeoutMs: { flag: 'timeout-ms', min: 1, max: 86_400_000 },
  bodyLimit: { flag: 'body-limit', min: 1, max: 1 << 30 },
  maxCandidates: { flag: 'max-candidates', min: 1, max: LIMITS.candidates.max },
  previewEvery: { flag: 'preview-every', min: 0, max: 4096 },
  shutdownGraceMs: { flag: 'shutdown-grace-ms', min: 0, max: 3_600_000 },
  workerWatchdogMs: { flag: 'worker-watchdog-ms', min: 50, max: 86_400_000 },
  fileUrlTtl: { flag: 'file-url-ttl', min: 60, max: 31_536_000 },
  requestTimeoutMs: { flag: 'request-timeout-ms', min: 100, max: 3_600_000 },
  headersTimeoutMs: { flag: 'headers-timeout-ms', min: 100, max: 3_600_000 },
  keepAliveTimeoutMs: { flag: 'keep-alive-timeout-ms', min: 100, max: 3_600_000 },
  stallMs: { flag: 'stall-ms', min: 100, max: 86_400_000 },
  maxLoopLagMs: { flag: 'max-loop-lag-ms', min: 10, max: 3_600_000 },
};

/** HTTP timeouts' defaults: a 4 MiB image and its mask arrive in a minute at 150 KB/s. */
export const HTTP_TIMEOUTS = { requestTimeoutMs: 60_000, headersTimeoutMs: 20_000, keepAliveTimeoutMs: 72_000 } as const;
/**
 * Health's defaults (routes/health.ts): two minutes without a sampling event while running
 * (a step of the largest packages takes well under a second); an event loop five seconds
 * late (a loaded machine delays timers by tens of milliseconds, a blocked loop by seconds).
 */
export const HEALTH_DEFAULTS = { stallMs: 120_000, maxLoopLagMs: 5000 } as const;

export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  for (const [key, { flag, min, max }] of Object.entries(NUMERIC_OPTIONS)) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)) {
      throw new TesseraError('TESSERA_ERR_OPTION', `--${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`, { param: flag });
    }
  }
  if (options.rateLimit !== undefined && options.rateLimit !== false && (!Number.isInteger(options.rateLimit) || options.rateLimit < 1)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--rate-limit must be a positive integer (0 disables it), got ${JSON.stringify(options.rateLimit)}`, { param: 'rate-limit' });
  }
  if (options.publicUrl !== undefined && !isHttpUrl(options.publicUrl)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--public-url must be an absolute http(s) URL, got ${JSON.stringify(options.publicUrl)}`, { param: 'public-url' });
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? HTTP_TIMEOUTS.requestTimeoutMs;
  const headersTimeoutMs = options.headersTimeoutMs ?? Math.min(HTTP_TIMEOUTS.headersTimeoutMs, requestTimeoutMs);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--headers-timeout-ms (${headersTimeoutMs}) must be at most --request-timeout-ms (${requestTimeoutMs})`, { param: 'headers-timeout-ms' });
  }
  const clip = options.clip === undefined ? null : path.resolve(options.clip);
  if (clip !== null) checkClipDir(clip, 'TESSERA_ERR_OPTION', 'clip');
  return {
    clip,
    models: options.models && options.models.length > 0 ? options.models.map((m) => path.resolve(m)) : [DEFAULT_MODEL_DIR],
    device: options.device ?? 'cpu',
    precision: parsePrecision(options.precision),
    dataDir: path.resolve(options.dataDir ?? 'data/server'),
    apiKeys: options.apiKeys ?? [],
    adminKeys: options.adminKeys ?? [],
    fileUrlTtl: options.fileUrlTtl ?? 3600,
    maxQueue: options.maxQueue ?? 8,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    maxBatchRows: options.maxBatchRows ?? DEFAULT_MAX_ROWS,
    timeoutMs: options.timeoutMs ?? 300_000,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    rateLimit: options.rateLimit ?? 120,
    maxCandidates: options.maxCandidates ?? 64,
    previewEvery: options.previewEvery ?? 8,
    shutdownGraceMs: options.shutdownGraceMs ?? 10_000,
    publicUrl: options.publicUrl,
    logger: options.logger ?? false,
    logStream: options.logStream,
    workerWatchdogMs: options.workerWatchdogMs ?? 60_000,
    requestTimeoutMs,
    headersTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? HTTP_TIMEOUTS.keepAliveTimeoutMs,
    stallMs: options.stallMs ?? HEALTH_DEFAULTS.stallMs,
    maxLoopLagMs: options.maxLoopLagMs ?? HEALTH_DEFAULTS.maxLoopLagMs,
    footprint: options.footprint ?? { grid: DEFAULT_GRID },
  };
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}

/** The gallery's static files: the same folder from src (tsx, vitest) and from dist (tsc does not copy them). */
export const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/server/public');
