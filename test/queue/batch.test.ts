/**
 * `tessera batch --queue`: the same plan as a local run, one BullMQ job per planned sampler
 * batch, run by `tessera worker` processes on a private redis-server; the folder ends
 * byte-identical to the local run's (test/batch/helpers.ts comparableSnapshot) whichever
 * and however many workers ran the jobs.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch, type BatchOptions } from '../../src/batch/runner.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { queueExecutor } from '../../src/queue/client.js';
import { redisOptions, parseQueueUrl } from '../../src/queue/connection.js';
import { modelIdentity } from '../../src/pipeline/identity.js';
import { queueNameOf } from '../../src/queue/jobs.js';
import { runSearchCommand } from '../../src/cli/search.js';
import { INDEX_FILE, listFolderImages } from '../../src/search/folder.js';
import { SearchIndex } from '../../src/search/index.js';
import { embeddingSpace } from '../../src/search/space.js';
import { readManifest } from '../../src/model/manifest.js';
import { comparableSnapshot, ROOT, snapshotDiff, tempDir, TINY_MODEL, writeText } from '../batch/helpers.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startWorker, stopWorker, type WorkerProcess } from './helpers.js';

let redis: TestRedis;
/** The run's queue, for looking at job counts. */
let probe: Queue;
let tessera: Tessera;
let reference: Map<string, string>;
const workers: WorkerProcess[] = [];
const dir = tempDir('queue-batch');
const prompts = writeText(dir, 'prompts.txt', ['a red circle', 'two blue squares', 'a green triangle', 'a yellow star', 'a blue circle', 'a red square', 'a small green circle', 'a large blue star'].join('\n') + '\n');
/** 8 prompts in 4 planned batches of 2. */
const SETTINGS = { prompts, model: TINY_MODEL, candidates: 2, keep: 1, seed: 11, batchPrompts: 2 } as const;
const JOBS = 4;

const queued = (out: string, extra: Partial<BatchOptions> = {}) =>
  runBatch({ ...SETTINGS, out, executor: queueExecutor({ queue: redis.url, pollMs: 100 }), ...extra });

beforeAll(async () => {
  redis = await startRedis();
  const model = modelIdentity(TINY_MODEL);
  probe = new Queue(queueNameOf({ model: { name: model.name, manifestSha256: model.manifestSha256 }, device: 'cpu', clip: null }), {
    connection: redisOptions(parseQueueUrl(redis.url)),
  });
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

async function addWorkers(count: number): Promise<void> {
  const started = Array.from({ length: count }, () => startWorker(redis.url, `w${workers.length + 1 + Math.random().toString(36).slice(2, 6)}`));
  workers.push(...started);
  await Promise.all(started.map((w) => w.ready));
}

/** The ids a folder's search index holds, sorted. */
function indexIds(folder: string): string[] {
  const space = embeddingSpace(TINY_MODEL, readManifest(TINY_MODEL))!;
  const index = SearchIndex.open(path.join(folder, INDEX_FILE), { dim: space.dim, space: space.space });
  try {
    return index.ids().sort();
  } finally {
    index.close();
  }
}

/** `tessera search FOLDER ... --no-update --json`, every result on one page. */
async function search(folder: string, query: string[]): Promise<{ total: number; data: { id: string; score: number }[] }> {
  let text = '';
  expect(await runSearchCommand([folder, ...query, '--limit', '100', '--no-update', '--model', TINY_MODEL, '--json'], { write: (t) => void (text += t) })).toBe(0);
  return JSON.parse(text) as { total: number; data: { id: string; score: number }[] };
}

const jobsDone = () => workers.reduce((sum, w) => sum + w.jobsDone(), 0);

async function until(condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('tessera batch --queue', () => {
  for (const count of [1, 2, 4]) {
    it(`with ${count} worker process${count === 1 ? '' : 'es'}: the folder is byte-identical to the local run, each job run once`, async () => {
      await addWorkers(count - workers.length);
      const before = jobsDone();
      const out = path.join(dir, `workers-${count}`);
      const summary = await queued(out);
      expect(snapshotDiff(reference, comparableSnapshot(out))).toEqual([]);
      expect(summary).toMatchObject({ prompts: 8, generated: 8, skipped: 0, failed: [], batches: JOBS });
      expect(summary.queue).toMatchObject({ workers: count, stalledRecoveries: 0, retries: 0, waiting: 0, active: 0 });
      expect(summary.queue!.perWorker.reduce((sum, w) => sum + w.jobs, 0)).toBe(JOBS);
      expect(summary.queue!.perWorker.reduce((sum, w) => sum + w.images, 0)).toBe(16);
      expect(jobsDone() - before).toBe(JOBS);
      // A re-run finds the folder complete: nothing is enqueued or generated again.
      const again = await queued(out);
      expect(again).toMatchObject({ generated: 0, skipped: 8, batches: 0 });
      expect(jobsDone() - before).toBe(JOBS);
    }, 120_000);
  }

  it('the queued folder is searchable like the local one: the workers\' embeddings fill its search.sqlite (issue 22)', async () => {
    if (workers.length === 0) await addWorkers(1);
    const out = path.join(dir, 'searchable');
    expect(await queued(out)).toMatchObject({ generated: 8, failed: [] });
    const local = path.join(dir, 'local');
    expect(existsSync(path.join(out, INDEX_FILE))).toBe(true);
    const kept = listFolderImages(out).map((image) => image.id).sort();
    expect(kept).toHaveLength(8);
    expect(indexIds(out)).toEqual(kept);
    expect(indexIds(local)).toEqual(kept);
    // --no-update: the index as the run left it; nothing is embedded by the search.
    const queries = [['--query', 'a red circle'], ['--query', 'blue star'], ...kept.map((id) => ['--like', id])];
    for (const query of queries) {
      const [q, l] = await Promise.all([search(out, query), search(local, query)]);
      expect(q.total, query.join(' ')).toBe(l.total);
      // Rank order equal; scores within float32 rounding (the same kind of CPU here; a mixed fleet stays within it too, docs/queue.md).
      expect(q.data.map((hit) => hit.id), query.join(' ')).toEqual(l.data.map((hit) => hit.id));
      for (const [i, hit] of q.data.entries()) expect(Math.abs(hit.score - l.data[i].score), `${query.join(' ')} #${i + 1}`).toBeLessThan(1e-5);
    }
  }, 120_000);

  it('a client SIGKILLed after enqueueing: the re-run collects what workers did meanwhile, no job runs twice', async () => {
    await Promise.all(workers.map((w) => stopWorker(w)));
    workers.length = 0;
    const out = path.join(dir, 'client-killed');
    const args = ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'batch', prompts, '--out', out, '--model', TINY_MODEL, '--queue', redis.url];
    args.push('--candidates', '2', '--keep', '1', '--seed', '11', '--batch-prompts', '2');
    const client = spawn(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise((resolve) => client.once('exit', resolve));
    // No worker runs yet: the jobs wait. Kill the client once all are queued.
    await until(async () => (await probe.getJobCounts('waiting')).waiting === JOBS);
    client.kill('SIGKILL');
    await exited;
    await addWorkers(1);
    await until(async () => (await probe.getJobCounts('completed')).completed === JOBS);
    const notices: string[] = [];
    const rerun = await queued(out, { onNotice: (m) => notices.push(m) });
    expect(notices.some((m) => m.startsWith('took over the lock'))).toBe(true);
    expect(rerun).toMatchObject({ generated: 8, skipped: 0, batches: JOBS });
    expect(snapshotDiff(reference, comparableSnapshot(out))).toEqual([]);
    // Each job ran once, on the worker, while no client was there; the re-run only collected.
    expect(jobsDone()).toBe(JOBS);
    expect(await probe.getJobCounts('completed', 'waiting', 'active')).toEqual({ completed: 0, waiting: 0, active: 0 });
  }, 120_000);
});
