/**
 * Starts a worker thread on a module of this package, from dist as a plain file, or
 * under tsx or vitest (a `.ts` module) through tsx's loader, registered in the worker
 * (worker threads do not inherit the parent's module hooks). Used by the pixel pool
 * (src/image/pixel-pool.ts) and the sampling lanes (src/pipeline/lanes.ts).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The worker module `name` (no extension) beside the module at `importMetaUrl`, in that module's own extension. */
export function siblingModule(importMetaUrl: string, name: string): string {
  const here = fileURLToPath(importMetaUrl);
  return path.join(path.dirname(here), `${name}${path.extname(here)}`);
}

export function spawnModuleWorker(file: string, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (path.extname(file) !== '.ts') return new Worker(file, options);
  const url = JSON.stringify(new URL(`file://${file}`).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); })`, { ...options, eval: true });
}
