/** `tessera worker` processes for the queue tests (real processes: SIGKILL means SIGKILL). */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT, TINY_MODEL } from '../batch/helpers.js';

export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** Everything it logged (stderr). */
  log(): string;
  /** Jobs it reported done. */
  jobsDone(): number;
  /** Resolves once it took the queue (its model is loaded). */
  ready: Promise<void>;
  exited: Promise<void>;
}

/** Test settings: a dead worker's job is running again within about 3 s. */
export const FAST_RECOVERY = ['--lock-ms', '2000', '--stalled-ms', '1000'];

export function startWorker(url: string, name: string, extra: string[] = [], env: Record<string, string> = {}): WorkerProcess {
  const args = ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'worker', '--queue', url, '--model', TINY_MODEL, '--name', name, ...FAST_RECOVERY, ...extra];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  let onReady: () => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    if (text.includes(`worker ${name} on `)) onReady();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => onFail(new Error(`worker ${name} exited before it was ready:\n${text}`)));
  return { name, child, log: () => text, jobsDone: () => (text.match(/ done in /g) ?? []).length, ready, exited };
}

/** Graceful stop (SIGTERM: held jobs finish first); SIGKILL after `graceMs` (a worker waiting on a Redis that is gone). */
export async function stopWorker(worker: WorkerProcess, graceMs = 15_000): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
  await worker.exited;
  clearTimeout(timer);
}
