/**
 * Failure handling of generation over the queue (issue 13), on a private redis-server:
 * - workers SIGKILLed at random moments, several times: their jobs run again on another
 *   worker once the lock expires, and the folder ends byte-identical to the local run with
 *   every prompt committed once;
 * - an inference child killed mid-job: a transient failure, retried (--attempts/--backoff-ms);
 * - Redis restarted (empty) mid-run: workers and client reconnect, lost jobs are added again;
 * - bad input fails once with its code (UnrecoverableError), never retried;
 * - no Redis at the start: TESSERA_ERR_QUEUE_UNAVAILABLE at once.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch, type BatchOptions } from '../../src/batch/runner.js';
import { modelIdentity } from '../../src/pipeline/identity.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { queueExecutor, type QueueClientOptions } from '../../src/queue/client.js';
import { parseQueueUrl, redisOptions } from '../../src/queue/connection.js';
import { queueNameOf, type BatchJobData } from '../../src/queue/jobs.js';
import { STEP_DELAY_ENV } from '../../src/inference/protocol.js';
import { comparableSnapshot, listFiles, snapshotDiff, tempDir, TINY_MODEL, writeText } from '../batch/helpers.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startWorker, stopWorker, type WorkerProcess } from './helpers.js';

let redis: TestRedis;
let tessera: Tessera;
let reference: Map<string, string>;
let probe: Queue<BatchJobData>;
let workers: WorkerProcess[] = [];
const dir = tempDir('queue-failures');
const prompts = writeText(dir, 'prompts.txt', ['a red circle', 'two blue squares', 'a green triangle', 'a yellow star', 'a blue circle', 'a red square', 'a small green circle', 'a large blue star'].join('\n') + '\n');
const SETTINGS = { prompts, model: TINY_MODEL, candidates: 2, keep: 1, seed: 5, batchPrompts: 2 } as const;
/** Slow steps (tiny model), so a kill lands while a job samples. */
const SLOW = { [STEP_DELAY_ENV]: '100' };

const queued = (out: string, extra: Partial<BatchOptions> = {}, client: Partial<QueueClientOptions> = {}) =>
  runBatch({ ...SETTINGS, out, executor: queueExecutor({ queue: redis.url, pollMs: 100, ...client }), ...extra });

beforeAll(async () => {
  redis = await startRedis();
  const model = modelIdentity(TINY_MODEL);
  probe = new Queue(queueNameOf({ model: { name: model.name, manifestSha256: model.manifestSha256 }, device: 'cpu', clip: null }), {
    connection: redisOptions(parseQueueUrl(redis.url)),
  });
  // The Redis restart test stops Redis under this probe too: it reconnects; keep the log quiet.
  probe.on('error', () => {});
  tessera = await Tessera.load({ model: TINY_MODEL });
  const referenceDir = path.join(dir, 'local');
  await runBatch({ ...SETTINGS, tessera, out: referenceDir });
  reference = comparableSnapshot(referenceDir);
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => stopWorker(w)));
  await probe.close();
  await redis.stop();
  await tessera.dispose();
  rmSync(dir, { recursive: true, force: true });
});

let serial = 0;
async function addWorker(env: Record<string, string> = SLOW): Promise<WorkerProcess> {
  const worker = startWorker(redis.url, `f${++serial}`, ['--concurrency', '1'], env);
  workers.push(worker);
  await worker.ready;
  return worker;
}

async function stopAll(): Promise<void> {
  await Promise.all(workers.map((w) => stopWorker(w)));
  workers = [];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The record files of a folder, by index: every prompt once in the manifest. */
function manifestIndices(out: string): number[] {
  return readFileSync(path.join(out, 'manifest.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { index: number }).index);
}

describe('generation over the queue survives failures', () => {
  it('workers SIGKILLed mid-job three times: jobs move to another worker, the folder is byte-identical, each prompt committed once', async () => {
    await Promise.all([addWorker(), addWorker(), addWorker()]);
    const out = path.join(dir, 'killed');
    let finished = false;
    const run = queued(out).finally(() => (finished = true));
    const kills: { victim: string; job: string }[] = [];
    for (let k = 0; k < 3 && !finished; k++) {
      // Kill the worker running a job, at a random moment of that job.
      let active: { id?: string; processedBy?: string }[] = [];
      while (active.length === 0 && !finished) {
        active = (await probe.getActive()).filter((j) => workers.some((w) => w.name === j.processedBy && w.child.exitCode === null));
        await sleep(50);
      }
      if (finished) break;
      await sleep(100 + Math.floor(Math.random() * 600));
      const job = active[0];
      const victim = workers.find((w) => w.name === job.processedBy)!;
      victim.child.kill('SIGKILL');
      await victim.exited;
      kills.push({ victim: victim.name, job: job.id! });
      workers = workers.filter((w) => w !== victim);
      // A replacement starts meanwhile (not awaited: the next kill targets whoever runs a job).
      void addWorker().catch(() => {});
    }
    const summary = await run;
    expect(kills.length).toBe(3);
    expect({ kills, diff: snapshotDiff(reference, comparableSnapshot(out)) }).toEqual({ kills, diff: [] });
    expect(summary).toMatchObject({ generated: 8, skipped: 0, failed: [] });
    expect(manifestIndices(out)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Every kill hit a running job, which was recovered from the dead worker's expired lock.
    expect(summary.queue!.stalledRecoveries).toBeGreaterThanOrEqual(1);
    await stopAll();
  }, 240_000);

  it('an inference child killed mid-job is a transient failure: retried after the backoff, same bytes', async () => {
    const worker = await addWorker();
    const out = path.join(dir, 'child-killed');
    const run = queued(out, {}, { attempts: 3, backoffMs: 200 });
    while ((await probe.getActive()).length === 0) await sleep(50);
    await sleep(300);
    // The worker's inference child (src/inference/child.ts); the worker replaces it.
    const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(worker.child.pid)], { encoding: 'utf8' });
    const childPid = Number(/^\s*(\d+)\s+.*child\.ts/m.exec(children)?.[1]);
    expect(childPid).toBeGreaterThan(0);
    process.kill(childPid, 'SIGKILL');
    const summary = await run;
    expect(snapshotDiff(reference, comparableSnapshot(out))).toEqual([]);
    expect(summary).toMatchObject({ generated: 8, failed: [] });
    expect(worker.log()).toMatch(/failed \(attempt 1\): \[TESSERA_ERR_WORKER\]/);
    expect(summary.queue!.retries, worker.log()).toBeGreaterThanOrEqual(1);
    await stopAll();
  }, 180_000);

  it('Redis restarted empty mid-run: workers and client reconnect, lost jobs are added again, same bytes', async () => {
    await addWorker();
    await addWorker();
    const out = path.join(dir, 'redis-restart');
    const notices: string[] = [];
    let restarted: Promise<void> | null = null;
    const summary = await queued(out, {
      onNotice: (m) => notices.push(m),
      onProgress: (p) => {
        if (p.generated >= 2 && restarted === null) restarted = redis.restart(1000);
      },
    });
    expect(restarted).not.toBeNull();
    expect(snapshotDiff(reference, comparableSnapshot(out))).toEqual([]);
    expect(summary).toMatchObject({ generated: 8, skipped: 0, failed: [] });
    expect(notices.some((m) => /missing from Redis .*added again/.test(m))).toBe(true);
    await stopAll();
  }, 180_000);

  it('bad input fails once with its code (not retried); malformed job data too', async () => {
    await addWorker({});
    const model = modelIdentity(TINY_MODEL);
    const engine = { model: { name: model.name, manifestSha256: model.manifestSha256 }, device: 'cpu' as const, clip: null };
    const spec = { prompt: 'x', negative_prompt: null, seed: 1, candidates: 2, keep: 1, temperature: 1, top_k: 0, top_p: 1, guidance: 1, rerank: false, grid: false, model: model.name, model_sha256: model.manifestSha256, device: 'cpu' as const };
    const bad: BatchJobData = { format: 'tessera-queue-batch', version: 1, engine, batch: 0, prompts: [{ index: 0, stem: '0000-bell', spec, request: { prompt: 'a bell \u0007' } }] };
    const options = { attempts: 5, backoff: { type: 'fixed', delay: 100 } };
    await probe.add('batch', bad, { ...options, jobId: 'bad-prompt' });
    await probe.add('batch', { hello: 1 } as unknown as BatchJobData, { ...options, jobId: 'bad-data' });
    await probe.add('batch', { ...bad, engine: { ...engine, device: 'cuda' } } as BatchJobData, { ...options, jobId: 'bad-engine' });
    // getJob is a snapshot: it may be read just before the job fails, so once its state says
    // failed, read it again for failedReason and attemptsMade (seen in CI: failedReason undefined).
    const failed = async (id: string) => {
      for (;;) {
        const job = await probe.getJob(id);
        if (job !== undefined && (await job.getState()) === 'failed') return (await probe.getJob(id))!;
        await sleep(100);
      }
    };
    const prompt = await failed('bad-prompt');
    expect(prompt.failedReason).toMatch(/^\[TESSERA_ERR_PROMPT\] /);
    expect(prompt.attemptsMade).toBe(1);
    const data = await failed('bad-data');
    expect(data.failedReason).toMatch(/^\[TESSERA_ERR_QUEUE_JOB\] job data has format undefined/);
    expect(data.attemptsMade).toBe(1);
    const wrongEngine = await failed('bad-engine');
    expect(wrongEngine.failedReason).toMatch(/^\[TESSERA_ERR_QUEUE_JOB\] job bad-engine is for engine/);
    await stopAll();
  }, 120_000);

  it('no Redis at the start: TESSERA_ERR_QUEUE_UNAVAILABLE, nothing written', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as net.AddressInfo;
        server.close(() => resolve(p));
      });
    });
    const out = path.join(dir, 'no-redis');
    await expect(
      runBatch({ ...SETTINGS, tessera, out, executor: queueExecutor({ queue: `redis://127.0.0.1:${port}`, connectTimeoutMs: 500 }) }),
    ).rejects.toMatchObject({ code: 'TESSERA_ERR_QUEUE_UNAVAILABLE' });
    expect(listFiles(out).size).toBe(0);
  }, 30_000);
});
