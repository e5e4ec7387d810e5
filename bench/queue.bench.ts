/**
 * Queue throughput: one `tessera batch --queue` run of the same prompt file with 1, 2 and 4
 * `tessera worker` processes (each with its own inference child) on a private redis-server,
 * beside a local run in this process. Workers are started and loaded before each timed run,
 * so the figure is steady-state throughput: planning, enqueueing, sampling, PNG encoding on
 * the workers, transfer through Redis and the client's crash-safe writes.
 *
 * On one machine the workers share its cores: throughput rises until the cores are busy and
 * then stays flat (on 2 cores that is 2 workers, less with ONNX Runtime's own threads). The
 * per-worker figure (images/s while a worker was busy) is what one machine adds: N machines
 * give about N times it, until the client's writes or Redis become the limit (docs/queue.md).
 *
 *   node --import tsx bench/queue.bench.ts [--model DIR] [--prompts 16] [--candidates 8]
 *     [--batch-prompts 2] [--workers 1,2,4] [--concurrency 1] [--json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBatch, type BatchSummary } from '../src/batch/runner.js';
import { Tessera } from '../src/pipeline/tessera.js';
import { queueExecutor } from '../src/queue/client.js';
import { startRedis } from '../test/helpers/redis.js';
import { startWorker, stopWorker, type WorkerProcess } from '../test/queue/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(here, '../test/fixtures/tiny-model') },
    prompts: { type: 'string', default: '16' },
    candidates: { type: 'string', default: '8' },
    'batch-prompts': { type: 'string', default: '2' },
    workers: { type: 'string', default: '1,2,4' },
    concurrency: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const promptCount = Number(values.prompts);
const counts = values.workers.split(',').map(Number);

const SHAPES = ['circle', 'square', 'triangle', 'star'];
const COLOURS = ['red', 'blue', 'green', 'yellow'];
const work = mkdtempSync(path.join(tmpdir(), 'tessera-queue-bench-'));
const promptFile = path.join(work, 'prompts.txt');
writeFileSync(promptFile, Array.from({ length: promptCount }, (_, i) => `a ${COLOURS[i % 4]} ${SHAPES[Math.floor(i / 4) % 4]}`).join('\n') + '\n');
const settings = { prompts: promptFile, model: values.model, candidates: Number(values.candidates), keep: 1, seed: 4321, batchPrompts: Number(values['batch-prompts']) };

interface Row {
  setup: string;
  workers: number;
  seconds: number;
  imagesPerSecond: number;
  perWorkerImagesPerSecond: number | null;
  jobsPerWorker: number[] | null;
}
const rows: Row[] = [];
const load = () => os.loadavg()[0].toFixed(1);

const tessera = await Tessera.load({ model: values.model });
{
  const started = performance.now();
  const summary = await runBatch({ ...settings, tessera, out: path.join(work, 'local') });
  const seconds = (performance.now() - started) / 1000;
  rows.push({ setup: 'local (this process)', workers: 0, seconds, imagesPerSecond: summary.images / seconds, perWorkerImagesPerSecond: null, jobsPerWorker: null });
}
await tessera.dispose();

const redis = await startRedis();
try {
  for (const count of counts) {
    const workers: WorkerProcess[] = Array.from({ length: count }, (_, i) => startWorker(redis.url, `bench${count}-${i}`, ['--concurrency', values.concurrency]));
    await Promise.all(workers.map((w) => w.ready));
    const started = performance.now();
    const summary: BatchSummary = await runBatch({ ...settings, out: path.join(work, `queue-${count}`), executor: queueExecutor({ queue: redis.url, pollMs: 50 }) });
    const seconds = (performance.now() - started) / 1000;
    const per = summary.queue?.perWorker ?? [];
    rows.push({
      setup: `queue, ${count} worker${count === 1 ? '' : 's'}`,
      workers: count,
      seconds,
      imagesPerSecond: summary.images / seconds,
      perWorkerImagesPerSecond: per.reduce((sum, w) => sum + w.imagesPerSecond, 0) / Math.max(per.length, 1),
      jobsPerWorker: per.map((w) => w.jobs),
    });
    await Promise.all(workers.map((w) => stopWorker(w)));
  }
} finally {
  await redis.stop();
  rmSync(work, { recursive: true, force: true });
}

const one = rows.find((r) => r.workers === 1);
if (values.json) {
  process.stdout.write(JSON.stringify({ cores: os.cpus().length, loadAverage: os.loadavg()[0], settings: { ...settings, prompts: promptCount }, rows }, null, 2) + '\n');
} else {
  process.stdout.write(`queue bench: ${promptCount} prompts x ${settings.candidates} candidates, ${settings.batchPrompts} prompts per job, ${os.cpus().length} cores, load ${load()}\n`);
  for (const r of rows) {
    const ratio = one === undefined || r.workers === 0 ? '' : `  x${(r.imagesPerSecond / one.imagesPerSecond).toFixed(2)} vs 1 worker`;
    const per = r.perWorkerImagesPerSecond === null ? '' : `  per worker ${r.perWorkerImagesPerSecond.toFixed(2)} images/s busy, jobs ${JSON.stringify(r.jobsPerWorker)}`;
    process.stdout.write(`  ${r.setup.padEnd(22)} ${r.seconds.toFixed(1).padStart(6)} s  ${r.imagesPerSecond.toFixed(2).padStart(6)} images/s${ratio}${per}\n`);
  }
  if (one !== undefined) {
    process.stdout.write(`  N machines like this one, one worker each: about N x ${one.imagesPerSecond.toFixed(2)} images/s until the client's writes or Redis limit it\n`);
  }
}
