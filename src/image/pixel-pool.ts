/**
 * One worker thread for the JavaScript per-pixel work of input images (mask-pixels.ts),
 * so the HTTP event loop never walks millions of pixels (issue 23). sharp's own work
 * already runs on its threads; this is for what sharp cannot do. The worker starts on
 * first use, does not keep the process alive (unref), and is replaced when it dies or
 * overruns its time bound (a job is bounded in pixels, so that is a fault, not a load).
 */
import type { Worker } from 'node:worker_threads';
import { siblingModule, spawnModuleWorker } from '../util/module-worker.js';

export interface PixelJob {
  id: number;
  alpha: Uint8Array;
  width: number;
  height: number;
  size: number;
}

export type PixelReply = { id: number; changed: Uint8Array } | { id: number; error: string };

const WORKER_MODULE = siblingModule(import.meta.url, 'pixel-worker');

/** A worker over the module (src/util/module-worker.ts says how it loads under tsx). */
function spawnWorker(): Worker {
  return spawnModuleWorker(WORKER_MODULE);
}

interface Pending {
  resolve: (changed: Uint8Array) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, Pending>();

function failAll(error: Error): void {
  for (const [id, job] of pending) {
    clearTimeout(job.timer);
    job.reject(error);
    pending.delete(id);
  }
}

function retire(w: Worker, error: Error): void {
  if (worker === w) worker = null;
  failAll(error);
  void w.terminate();
}

function workerNow(): Worker {
  if (worker !== null) return worker;
  const w = spawnWorker();
  w.unref();
  w.on('message', (reply: PixelReply) => {
    const job = pending.get(reply.id);
    if (job === undefined) return;
    pending.delete(reply.id);
    clearTimeout(job.timer);
    if (pending.size === 0) w.unref();
    if ('error' in reply) job.reject(new Error(reply.error));
    else job.resolve(reply.changed);
  });
  w.on('error', (error) => retire(w, error));
  w.on('exit', () => retire(w, new Error('the pixel worker exited')));
  worker = w;
  return w;
}

/** transparentFromAlpha in the worker thread (`alpha` is moved there: do not use it after); rejects when the worker fails or takes longer than `timeoutMs`. */
export function transparentInWorker(alpha: Uint8Array, width: number, height: number, size: number, timeoutMs: number): Promise<Uint8Array> {
  const w = workerNow();
  const id = nextId++;
  return new Promise<Uint8Array>((resolve, reject) => {
    const timer = setTimeout(() => retire(w, new Error(`the pixel work took longer than ${timeoutMs} ms`)), timeoutMs);
    pending.set(id, { resolve, reject, timer });
    // A job in flight keeps the process alive until it answers.
    w.ref();
    // sharp's output owns its whole ArrayBuffer: it is moved to the worker, not copied (16 MB at
    // 4096x4096); a view into a shared pool, or a buffer that cannot be moved, is copied first.
    const whole = alpha.byteOffset === 0 && alpha.byteLength === alpha.buffer.byteLength;
    const send = (plane: Uint8Array) => w.postMessage({ id, alpha: plane, width, height, size } satisfies PixelJob, [plane.buffer as ArrayBuffer]);
    try {
      send(whole ? alpha : new Uint8Array(alpha));
    } catch {
      send(new Uint8Array(alpha));
    }
  });
}
