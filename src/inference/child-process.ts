/**
 * Parent side of the inference child: forks it, forwards requests, and replaces it when
 * it dies. A crash fails only the requests it held (TESSERA_ERR_WORKER, HTTP 500); the
 * HTTP server keeps running and the next request goes to the replacement. The requests in
 * flight and the routing of the child's answers live in pending-requests.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { TesseraError, type ErrorCode } from '../errors.js';
import type { ResolvedRequest } from '../pipeline/settings.js';
import type { GenerateRequest, GenerationResult } from '../types.js';
import { redactPaths } from './redact.js';
import { CHILD_CONFIG_ENV, type ChildMessage, type ParentMessage } from './protocol.js';
import { childConfig, heartbeatMs, startTimeoutMs, watchdogMs, type ChildOptions } from './child-options.js';
import { PendingRequests, type RunOptions } from './pending-requests.js';

const here = fileURLToPath(import.meta.url);
const extension = path.extname(here);
/** The child module next to this one: child.ts under tsx/vitest, child.js from dist. */
const CHILD_MODULE = path.join(path.dirname(here), `child${extension}`);
const CHILD_EXEC_ARGV = extension === '.ts' ? ['--import', 'tsx'] : [];

/** Load failures that a respawn cannot fix: the package or the device is wrong, not the process. */
const PERMANENT_LOAD_ERRORS = new Set<string>(['TESSERA_ERR_MODEL_FILE', 'TESSERA_ERR_MANIFEST', 'TESSERA_ERR_MODEL_NOT_FOUND', 'TESSERA_ERR_DEVICE', 'TESSERA_ERR_PRECISION_UNAVAILABLE']);


/**
 * `child.connected` can still be true after the child has exited (its end of the IPC channel
 * is closed, the parent has not yet read the close): a send then fails with EPIPE, and
 * without a callback Node emits it as an 'error' event that nobody handles, i.e. an uncaught
 * exception in the HTTP process (seen while closing a server whose broken-package child
 * was exiting by design). The exit handler already fails the in-flight work of a dead
 * child, so a failed send needs nothing more.
 */
function ignoreSendError(): void {}

export class InferenceChild extends EventEmitter {
  readonly options: ChildOptions;
  private child: ChildProcess | null = null;
  private readyPromise: Promise<void> | null = null;
  private readonly pending = new PendingRequests();
  private stopping = false;
  private consecutiveCrashes = 0;
  /** Times the child died unexpectedly and was replaced. */
  restarts = 0;
  ready = false;
  private failedStart = false;
  /** A load failure a new child would repeat (broken package): requests fail with it at once. */
  private permanentError: TesseraError | null = null;
  lastError: string | null = null;
  private lastBeat = 0;
  private watchdog: NodeJS.Timeout | null = null;
  /** Why the parent killed the child, when it did (the in-flight requests' error says so). */
  private killReason: string | null = null;

  constructor(options: ChildOptions) {
    super();
    this.options = options;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Starts the child (once) and resolves when its model is loaded. */
  start(): Promise<void> {
    if (this.readyPromise === null) this.readyPromise = this.spawn();
    return this.readyPromise;
  }

  private spawn(): Promise<void> {
    const config = childConfig(this.options);
    const child = fork(CHILD_MODULE, [], {
      execArgv: CHILD_EXEC_ARGV,
      serialization: 'advanced',
      env: { ...process.env, [CHILD_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    this.ready = false;
    this.killReason = null;
    // Inference yields the CPU to the HTTP process: /healthz and queue answers stay fast while sampling
    // (ONNX Runtime's spinning thread pool would otherwise starve the event loop on a small machine).
    if (child.pid !== undefined && this.options.niceness !== 0) {
      try {
        os.setPriority(child.pid, this.options.niceness ?? 10);
      } catch {
        // Not permitted here: run at the same priority.
      }
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        reject(new TesseraError('TESSERA_ERR_WORKER', `inference worker did not load ${this.options.model} within ${startTimeoutMs(this.options)} ms`));
      }, startTimeoutMs(this.options));
      let loadFailed = false;
      child.on('message', (message: ChildMessage) => {
        this.lastBeat = performance.now();
        if (message.type === 'heartbeat') return;
        if (message.type === 'ready') {
          this.ready = true;
          this.watch(child);
          this.consecutiveCrashes = 0;
          this.lastError = null;
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            resolve();
          }
          this.emit('ready');
          return;
        }
        if (message.type === 'load-error') {
          loadFailed = true;
          const error = new TesseraError(message.code as ErrorCode, this.redact(message.message), { param: 'model' });
          this.lastError = error.message;
          if (PERMANENT_LOAD_ERRORS.has(message.code)) this.permanentError = error;
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            reject(error);
          }
          return;
        }
        this.pending.answer(message, (text) => this.redact(text));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.child === child) {
          this.child = null;
          this.unwatch();
        }
        this.ready = false;
        const how = this.killReason ?? (signal === null ? `exit code ${code}` : `signal ${signal}`);
        const error = new TesseraError(
          'TESSERA_ERR_WORKER',
          `the inference worker stopped (${how}) while running this request; it is being restarted, retry the request`,
        );
        this.pending.failAll(error);
        if (!settled) {
          settled = true;
          this.failedStart = true;
          reject(new TesseraError('TESSERA_ERR_WORKER', `inference worker exited during start (${how})${this.lastError ? `: ${this.lastError}` : ''}`));
          return;
        }
        // A child that reported a load error exits by design: not a crash to respawn (that would loop forever).
        if (loadFailed) {
          this.failedStart = true;
          return;
        }
        if (this.stopping) return;
        this.restarts += 1;
        this.consecutiveCrashes += 1;
        this.emit('crash', { code, signal });
        // Back off when the child keeps dying, so a broken runtime does not spin the CPU.
        // Requests arriving meanwhile wait on the replacement's readiness.
        const delay = Math.min(100 * 2 ** (this.consecutiveCrashes - 1), 10_000);
        this.readyPromise = new Promise<void>((resolve) => setTimeout(resolve, delay)).then(() => {
          if (this.stopping) throw new TesseraError('TESSERA_ERR_CANCELLED', 'the server is shutting down');
          return this.spawn();
        });
        this.readyPromise.catch((e: Error) => {
          this.lastError = e.message;
        });
      });
    });
  }

  private redact(message: string): string {
    return redactPaths(message, this.options.model);
  }

  /** Kills a loaded child whose heartbeat went silent; the exit handler fails its requests and respawns it. */
  private watch(child: ChildProcess): void {
    this.unwatch();
    this.lastBeat = performance.now();
    const limit = watchdogMs(this.options);
    this.watchdog = setInterval(() => {
      const silent = performance.now() - this.lastBeat;
      if (silent <= limit || this.child !== child || child.exitCode !== null) return;
      this.unwatch();
      this.ready = false;
      this.killReason = `no heartbeat for ${Math.round(silent)} ms: the worker hung and was killed`;
      this.lastError = this.killReason;
      this.emit('hung', { silentMs: silent });
      child.kill('SIGKILL');
    }, heartbeatMs(this.options));
    this.watchdog.unref();
  }

  private unwatch(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private post(message: ParentMessage): void {
    if (this.child?.connected) this.child.send(message, ignoreSendError);
  }

  /** Runs one request in the child; rejects with TESSERA_ERR_CANCELLED when `signal` aborts. */
  async run(request: GenerateRequest | ResolvedRequest, options: RunOptions = {}): Promise<GenerationResult> {
    return (await this.submit((id) => ({ type: 'generate', id, request }), options)) as GenerationResult;
  }

  /**
   * Runs several requests as one group (one run: rows admitted and finished together, sharing
   * steps with whatever else the child holds); results in request order. A queue worker runs
   * each planned batch of `tessera batch` this way (src/queue/worker.ts).
   */
  async runGroup(requests: (GenerateRequest | ResolvedRequest)[], options: RunOptions = {}): Promise<GenerationResult[]> {
    return (await this.submit((id) => ({ type: 'generate-group', id, requests }), options)) as GenerationResult[];
  }

  private async submit(message: (id: string) => ParentMessage, options: RunOptions): Promise<GenerationResult | GenerationResult[]> {
    if (this.stopping) throw new TesseraError('TESSERA_ERR_CANCELLED', 'the server is shutting down');
    if (this.permanentError !== null) throw this.permanentError;
    // A replacement that failed to load is retried by the next request.
    if (this.readyPromise === null || (!this.ready && this.child === null && this.failedStart)) {
      this.failedStart = false;
      this.readyPromise = this.spawn();
    }
    await this.readyPromise;
    if (!this.child?.connected) throw new TesseraError('TESSERA_ERR_WORKER', 'the inference worker is not running; retry the request');
    if (options.signal?.aborted) throw new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled before it started');
    return this.pending.generate((m) => this.post(m), message, options);
  }

  /** The CLIP text embedding of a search query, computed in the child (which has CLIP loaded). */
  async embedText(text: string): Promise<Float32Array> {
    if (this.permanentError !== null) throw this.permanentError;
    await this.start();
    if (!this.child?.connected) throw new TesseraError('TESSERA_ERR_WORKER', 'the inference worker is not running; retry the request');
    return this.pending.embedText((m) => this.post(m), text);
  }

  /** Asks the child to finish (cancelling what it runs) and waits for it to exit; kills it after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    this.unwatch();
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (child.connected) child.send({ type: 'shutdown' } satisfies ParentMessage, ignoreSendError);
      else child.kill('SIGTERM');
    });
  }
}
