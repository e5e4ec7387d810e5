/**
 * `tessera batch --queue`: the batch runner's executor over BullMQ. The runner plans the
 * run exactly as a local run (src/batch/plan.ts), this enqueues one job per planned
 * sampler batch, and hands back each job's rendered prompts for the runner to commit into
 * the same resumable folder (same files, same bytes as a single-machine run).
 *
 * Nothing is lost or done twice in the folder:
 * - Job ids are derived from the run and the batch (jobs.ts): re-running after a crash of
 *   this client re-adds nothing that is queued, running or done; a job done while no client
 *   was there is collected from Redis.
 * - A prompt is committed only from a completed job, once (the job is removed after its
 *   files are written; the runner skips prompts whose record is complete).
 * - Jobs Redis lost (a restart without persistence) are added again, under the same id.
 * - A job that failed is reported (its prompts listed as failed, as a local run does) and
 *   kept for inspection; the next run removes it and tries again.
 *
 * A job's result carries the kept images' CLIP embeddings (the reranking on the worker
 * computed them), so the folder's search index (search.sqlite) is filled as a local run's is.
 *
 * Completion is found by polling job states (every pollMs), not by QueueEvents: events are
 * not replayed to a client that was disconnected (a Redis restart), polling always converges.
 */
import { Queue } from 'bullmq';
import type { BatchExecutor, BatchSink, ExecutorContext, ExecutorFactory, PlannedBatch, QueueStatus, RenderedPrompt, Task } from '../batch/executor.js';
import { isErrorCode, TesseraError } from '../errors.js';
import { jsonFile, sha256 } from '../output/batch.js';
import { parseQueueUrl, redisOptions } from './connection.js';
import { BATCH_JOB_NAME, decodeEmbeddings, decodeFiles, jobIdOf, queueNameOf, requestOf, type BatchJobData, type BatchJobResult, type EngineIdentity } from './jobs.js';
import { QUEUE_DEFAULTS } from './recovery.js';

export interface QueueClientOptions {
  /** redis://HOST:PORT[/DB] */
  queue: string;
  /** Runs per job in all, transient failures included (default 3). */
  attempts?: number;
  /** First retry delay; doubles each retry (default 1000 ms). */
  backoffMs?: number;
  /** How often job states are polled (default 200 ms). */
  pollMs?: number;
  /** Redis must answer within this at the start (default 10 s); later outages only pause the run. */
  connectTimeoutMs?: number;
}

interface Tracked {
  batch: PlannedBatch;
  id: string;
  data: BatchJobData;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function queueExecutor(options: QueueClientOptions): ExecutorFactory {
  const connection = parseQueueUrl(options.queue);
  return async (context) => {
    const { settings, model, clip } = context;
    const engine: EngineIdentity = { model: { name: model.name, manifestSha256: model.manifestSha256 }, device: settings.device, clip: clip === null ? null : { sha256: clip.sha256 } };
    const queue = new Queue<BatchJobData, BatchJobResult>(queueNameOf(engine), { connection: redisOptions(connection) });
    let lastError = '';
    queue.on('error', (error: Error) => {
      // ioredis reconnects on its own (connection.ts); say so once per distinct error.
      if (error.message !== lastError) context.notice(`queue connection: ${error.message} (reconnecting)`);
      lastError = error.message;
    });
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        queue.waitUntilReady(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new TesseraError('TESSERA_ERR_QUEUE_UNAVAILABLE', `Redis at ${connection.display} did not answer within ${timeoutMs} ms`, { param: 'queue' })), timeoutMs);
        }),
      ]);
    } catch (error) {
      await queue.close().catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
    // The run's identity: its settings as run.json has them (model, device, seed, defaults, CLIP).
    const runKey = sha256(jsonFile(settings));
    return new QueueExecutor(queue, engine, runKey, options, context);
  };
}

class QueueExecutor implements BatchExecutor {
  private current: QueueStatus;
  private readonly perWorker = new Map<string, { jobs: number; images: number; busyMs: number }>();

  constructor(
    private readonly queue: Queue<BatchJobData, BatchJobResult>,
    private readonly engine: EngineIdentity,
    private readonly runKey: string,
    private readonly options: QueueClientOptions,
    private readonly context: ExecutorContext,
  ) {
    this.current = { queue: queue.name, waiting: 0, active: 0, delayed: 0, workers: 0, stalledRecoveries: 0, retries: 0, perWorker: [] };
  }

  private jobOf(batch: PlannedBatch): Tracked {
    const data: BatchJobData = {
      format: 'tessera-queue-batch',
      version: 1,
      engine: this.engine,
      batch: batch.index,
      prompts: batch.tasks.map((t) => ({ index: t.index, stem: t.stem, spec: t.spec, request: requestOf(t.prepared.resolved) })),
    };
    return { batch, id: jobIdOf(this.runKey, data), data };
  }

  private add(jobs: Tracked[]): Promise<unknown> {
    const attempts = this.options.attempts ?? QUEUE_DEFAULTS.attempts;
    const delay = this.options.backoffMs ?? QUEUE_DEFAULTS.backoffMs;
    return this.queue.addBulk(
      jobs.map((j) => ({ name: BATCH_JOB_NAME, data: j.data, opts: { jobId: j.id, attempts, backoff: { type: 'exponential', delay } } })),
    );
  }

  async execute(batches: readonly PlannedBatch[], sink: BatchSink): Promise<void> {
    const jobs = batches.map((b) => this.jobOf(b));
    // A job that failed in an earlier run is tried again (as a local re-run retries failed prompts).
    for (const job of jobs) {
      if ((await this.queue.getJobState(job.id)) === 'failed') await this.queue.remove(job.id);
    }
    await this.add(jobs);
    const pending = new Map(jobs.map((j) => [j.id, j]));
    const pollMs = this.options.pollMs ?? 200;
    while (pending.size > 0) {
      const states = await Promise.all([...pending.values()].map(async (j) => [j, await this.queue.getJobState(j.id)] as const));
      const lost = states.filter(([, state]) => state === 'unknown').map(([j]) => j);
      if (lost.length > 0) {
        this.context.notice(`${lost.length} job${lost.length === 1 ? '' : 's'} missing from Redis (restarted without persistence?): added again`);
        await this.add(lost);
      }
      for (const [job, state] of states) {
        if (state === 'completed') {
          const outcome = await this.collect(job);
          if (outcome === null) {
            // Completed with no return value: only seen when Redis restarted empty while a worker
            // held the job (its completion landed on the copy added again). Run it again; the bytes
            // do not depend on who ran it or how often.
            this.context.notice(`job ${job.id} completed without a result (Redis restarted while it ran?): added again`);
            await this.queue.remove(job.id);
            await this.add([job]);
            continue;
          }
          pending.delete(job.id);
          if (outcome instanceof TesseraError) await sink.failed(job.batch, outcome);
          else await sink.done(outcome);
          await this.queue.remove(job.id);
        } else if (state === 'failed') {
          const failed = await this.queue.getJob(job.id);
          pending.delete(job.id);
          await sink.failed(job.batch, errorOf(failed?.failedReason ?? 'unknown failure', job.id));
        }
      }
      await this.refresh();
      sink.tick();
      if (pending.size > 0) await sleep(pollMs);
    }
  }

  /** A completed job's prompts, checked against the plan (a worker cannot write outside them). */
  private async collect(tracked: Tracked): Promise<{ batch: PlannedBatch; rendered: RenderedPrompt[]; timings: BatchJobResult['timings'] & { prompts: number; candidates: number } } | TesseraError | null> {
    const job = await this.queue.getJob(tracked.id);
    const result = job?.returnvalue;
    if (job === undefined || result === undefined || result === null) return null;
    if (!Array.isArray(result.prompts)) return new TesseraError('TESSERA_ERR_QUEUE_JOB_FAILED', `job ${tracked.id} completed with a malformed result`);
    const byIndex = new Map(result.prompts.map((p) => [p.index, p]));
    const rendered: RenderedPrompt[] = [];
    for (const task of tracked.batch.todo) {
      const prompt = byIndex.get(task.index);
      const problem = prompt === undefined ? 'no result' : checkPrompt(task, prompt);
      if (problem !== null) return new TesseraError('TESSERA_ERR_QUEUE_JOB_FAILED', `job ${tracked.id}, prompt ${task.index}: ${problem}`);
      // The kept images' embeddings: the folder's search index, as a local run fills it.
      const embeddings = decodeEmbeddings(prompt!.embeddings);
      const kept = new Set(prompt!.record.candidates.filter((c) => c.kept).map((c) => c.index));
      if (embeddings === null || [...embeddings.keys()].some((c) => !kept.has(c))) {
        return new TesseraError('TESSERA_ERR_QUEUE_JOB_FAILED', `job ${tracked.id}, prompt ${task.index}: embeddings that are not whole float32 vectors of kept candidates`);
      }
      rendered.push({ task, files: decodeFiles(prompt!.files), record: prompt!.record, encodeMs: prompt!.encodeMs, usage: prompt!.usage, footprint: prompt!.footprint, embeddings, precision: prompt!.precision ?? null });
    }
    const worker = this.perWorker.get(result.worker) ?? { jobs: 0, images: 0, busyMs: 0 };
    worker.jobs++;
    worker.images += result.images;
    worker.busyMs += result.elapsedMs;
    this.perWorker.set(result.worker, worker);
    this.current.stalledRecoveries += job.stalledCounter ?? 0;
    // attemptsMade counts the attempt that completed too.
    this.current.retries += Math.max(0, (job.attemptsMade ?? 1) - 1);
    const candidates = tracked.batch.tasks.reduce((sum, t) => sum + t.spec.candidates, 0);
    return { batch: tracked.batch, rendered, timings: { ...result.timings, prompts: tracked.batch.tasks.length, candidates } };
  }

  private async refresh(): Promise<void> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    const workers = await this.queue.getWorkersCount();
    this.current = {
      ...this.current,
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      workers,
      perWorker: [...this.perWorker].map(([worker, w]) => ({ worker, jobs: w.jobs, images: w.images, imagesPerSecond: w.images / Math.max(w.busyMs / 1000, 1e-9) })),
    };
  }

  status(): QueueStatus {
    return this.current;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/** What the client accepts from a worker: the planned record, files named by it with its hashes. */
function checkPrompt(task: Task, prompt: BatchJobResult['prompts'][number]): string | null {
  if (JSON.stringify(prompt.record?.spec) !== JSON.stringify(task.spec) || prompt.record.index !== task.index) return 'record does not match the plan';
  const names = Object.keys(prompt.record.files ?? {});
  if (names.length !== prompt.files.length) return 'files do not match the record';
  for (const file of prompt.files) {
    if (!file.name.startsWith(task.stem) || !/^[\w.-]+$/.test(file.name)) return `unexpected file name ${JSON.stringify(file.name)}`;
    if (prompt.record.files[file.name] !== sha256(Buffer.from(file.data, 'base64'))) return `${file.name} does not have its recorded SHA-256`;
  }
  return null;
}

/** A failed job's reason as a catalogue error: `[CODE] message` from a worker, anything else QUEUE_JOB_FAILED. */
export function errorOf(reason: string, id: string): TesseraError {
  const match = /^\[(TESSERA_ERR_\w+)\] ([\s\S]*)$/.exec(reason);
  if (match !== null && isErrorCode(match[1])) return new TesseraError(match[1], match[2]);
  return new TesseraError('TESSERA_ERR_QUEUE_JOB_FAILED', `job ${id} failed: ${reason}`);
}
