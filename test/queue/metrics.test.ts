/** `tessera worker --metrics-port`: queue depth, this worker's jobs, images and busy time, recoveries; /readyz follows Redis. */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBatch } from '../../src/batch/runner.js';
import { queueExecutor } from '../../src/queue/client.js';
import { tempDir, TINY_MODEL, writeText } from '../batch/helpers.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startWorker, stopWorker, type WorkerProcess } from './helpers.js';

let redis: TestRedis;
let worker: WorkerProcess;
const dir = tempDir('queue-metrics');
const prompts = writeText(dir, 'p.txt', 'a red circle\na blue square\na green star\n');

beforeAll(async () => {
  redis = await startRedis();
  worker = startWorker(redis.url, 'm1', ['--metrics-port', '0']);
  await worker.ready;
}, 60_000);

afterAll(async () => {
  await stopWorker(worker);
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One sample's value from Prometheus text (labels matched as given). */
function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((label) => l.includes(label)));
  if (line === undefined) throw new Error(`no ${name}{${labels}} in\n${text}`);
  return Number(line.split(' ').at(-1));
}

it('exports queue depth, workers, per-worker throughput and recoveries; /readyz follows Redis', async () => {
  // The endpoint starts right after the worker reports it took the queue.
  for (let i = 0; i < 100 && !worker.log().includes('metrics on'); i++) await new Promise((r) => setTimeout(r, 100));
  const port = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(worker.log())?.[1]);
  expect(port).toBeGreaterThan(0);
  const base = `http://127.0.0.1:${port}`;
  const summary = await runBatch({ prompts, model: TINY_MODEL, out: path.join(dir, 'out'), candidates: 2, keep: 1, seed: 3, batchPrompts: 2, executor: queueExecutor({ queue: redis.url, pollMs: 100 }) });
  expect(summary.generated).toBe(3);

  const text = await (await fetch(`${base}/metrics`)).text();
  expect(sample(text, 'tessera_worker_jobs_total', 'outcome="completed",worker="m1"')).toBe(2);
  expect(sample(text, 'tessera_worker_jobs_total', 'outcome="failed"')).toBe(0);
  expect(sample(text, 'tessera_worker_images_total', 'worker="m1"')).toBe(6);
  expect(sample(text, 'tessera_worker_busy_seconds_total', 'worker="m1"')).toBeGreaterThan(0);
  expect(sample(text, 'tessera_queue_stalled_recoveries_total', 'worker="m1"')).toBe(0);
  expect(sample(text, 'tessera_queue_workers', 'worker="m1"')).toBe(1);
  // The client removed the jobs it collected: nothing waits, runs or stays completed.
  for (const state of ['waiting', 'active', 'completed']) expect(sample(text, 'tessera_queue_jobs', `state="${state}"`)).toBe(0);

  const ready = await fetch(`${base}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: 'ready', redis: true, model: true, worker: 'm1' });
  await redis.stop();
  const down = await fetch(`${base}/readyz`);
  expect(down.status).toBe(503);
  expect(await down.json()).toMatchObject({ status: 'not_ready', redis: false });
}, 120_000);
