/**
 * Parent side of the inference child: forks it, forwards requests, and replaces it when
 * it dies. A crash fails only the requests it held (TESSERA_ERR_WORKER, HTTP 500); the
 * HTTP server keeps running and the next request goes to the replacement.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { TesseraError, type ErrorCode } from '../../errors.js';
import type { ResolvedRequest } from '../../pipeline/settings.js';
import type { Device, GenerateRequest, GenerationEvent, GenerationResult } from '../../types.js';
import { WORKER_CONFIG_ENV, type ChildMessage, type ParentMessage, type WorkerConfig } from './protocol.js';

const here = fileURLToPath(import.meta.url);
const extension = path.extname(here);
/** The child module next to this one: child.ts under tsx/vitest, child.js from dist. */
export const CHILD_MODULE = path.join(path.dirname(here), `child${extension}`);
const CHILD_EXEC_ARGV = extension === '.ts' ? ['--import', 'tsx'] : [];

export interface WorkerOptions {
  model: string;
  device: Device;
  /** CLIP folder used instead of the package's own. */
  clip?: string;
  /** Row budget of a shared step (see WorkerConfig.maxRows). */
  maxRows?: number;
  /** Scheduling priority of the child (default 10: below the HTTP process; 0 keeps it equal). */
  niceness?: number;
  /** Give up on a child that does not report ready within this time (default 120 s). */
  startTimeoutMs?: number;
}

interface Pending {
  resolve: (result: GenerationResult) => void;
  reject: (error: Error) => void;
  onEvent?: (event: GenerationEvent) => void;
}

export interface RunOptions {
  onEvent?: (event: GenerationEvent) => void;
  signal?: AbortSignal;
}

export class InferenceWorker extends EventEmitter {
  readonly options: WorkerOptions;
  private child: ChildProcess | null = null;
  private readyPromise: Promise<void> | null = null;
  private pending = new Map<string, Pending>();
  private stopping = false;
  private consecutiveCrashes = 0;
  /** Times the child died unexpectedly and was replaced. */
  restarts = 0;
  ready = false;
  private failedStart = false;
  lastError: string | null = null;

  constructor(options: WorkerOptions) {
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
    const config: WorkerConfig = { model: this.options.model, device: this.options.device, clip: this.options.clip, maxRows: this.options.maxRows };
    const child = fork(CHILD_MODULE, [], {
      execArgv: CHILD_EXEC_ARGV,
      serialization: 'advanced',
      env: { ...process.env, [WORKER_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    this.ready = false;
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
        reject(new TesseraError('TESSERA_ERR_WORKER', `inference worker did not load ${this.options.model} within ${this.startTimeoutMs()} ms`));
      }, this.startTimeoutMs());
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') {
          this.ready = true;
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
          this.lastError = message.message;
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            reject(new TesseraError(message.code as ErrorCode, message.message, { param: 'model' }));
          }
          return;
        }
        this.onChildMessage(message);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.child === child) this.child = null;
        this.ready = false;
        const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
        const error = new TesseraError(
          'TESSERA_ERR_WORKER',
          `the inference worker stopped (${how}) while running this request; it is being restarted, retry the request`,
        );
        for (const [id, pending] of this.pending) {
          this.pending.delete(id);
          pending.reject(error);
        }
        if (!settled) {
          settled = true;
          this.failedStart = true;
          reject(new TesseraError('TESSERA_ERR_WORKER', `inference worker exited during start (${how})${this.lastError ? `: ${this.lastError}` : ''}`));
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

  private startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? 120_000;
  }

  private onChildMessage(message: ChildMessage): void {
    if (message.type === 'event') {
      this.pending.get(message.id)?.onEvent?.(message.event);
    } else if (message.type === 'result') {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      pending?.resolve(message.result);
    } else if (message.type === 'error') {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      pending?.reject(new TesseraError(message.code as ErrorCode, message.message, { param: message.param }));
    }
  }

  private post(message: ParentMessage): void {
    if (this.child?.connected) this.child.send(message);
  }

  /** Runs one request in the child; rejects with TESSERA_ERR_CANCELLED when `signal` aborts. */
  async run(request: GenerateRequest | ResolvedRequest, options: RunOptions = {}): Promise<GenerationResult> {
    if (this.stopping) throw new TesseraError('TESSERA_ERR_CANCELLED', 'the server is shutting down');
    // A replacement that failed to load is retried by the next request.
    if (this.readyPromise === null || (!this.ready && this.child === null && this.failedStart)) {
      this.failedStart = false;
      this.readyPromise = this.spawn();
    }
    await this.readyPromise;
    if (!this.child?.connected) throw new TesseraError('TESSERA_ERR_WORKER', 'the inference worker is not running; retry the request');
    if (options.signal?.aborted) throw new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled before it started');
    const id = randomUUID();
    return new Promise<GenerationResult>((resolve, reject) => {
      const onAbort = () => this.post({ type: 'cancel', id, reason: String(options.signal?.reason ?? 'cancelled') });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => options.signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        onEvent: options.onEvent,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      this.post({ type: 'generate', id, request });
    });
  }

  /** Asks the child to finish (cancelling what it runs) and waits for it to exit; kills it after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (child.connected) child.send({ type: 'shutdown' } satisfies ParentMessage);
      else child.kill('SIGTERM');
    });
  }
}
