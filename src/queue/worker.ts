/**
 * `tessera worker`: consumes planned sampler batches from a BullMQ queue on Redis and runs
 * them with the same engine as `tessera serve` — an inference child process
 * (src/inference/) whose continuous batch shares steps between the jobs this worker
 * holds (`concurrency`), up to its own row budget (`maxRows`).
 *
 * Why a child: BullMQ renews a job's lock from the worker's event loop every
 * lockDuration/2. ONNX Runtime's session.run blocks the event loop it runs on, so sampling
 * in this process would starve renewal, the lock would expire and another worker would run
 * the job again. Here the event loop only moves messages and encodes PNGs (sharp, on its
 * own threads), so renewal is on time however long a batch samples.
 */
import os from 'node:os';
import { Job, UnrecoverableError, Worker } from 'bullmq';
import { clipIdentity, modelIdentity } from '../pipeline/identity.js';
import { httpErrorOf, isTesseraError, TesseraError } from '../errors.js';
import { readManifest } from '../model/manifest.js';
import { keptEmbeddings, promptCost } from '../batch/executor.js';
import { renderPrompt } from '../output/batch.js';
import { resolveRequest } from '../pipeline/settings.js';
import { InferenceChild } from '../inference/child-process.js';
import type { Device, GenerationResult, PrecisionChoice } from '../types.js';
import { parseQueueUrl, redisOptions } from './connection.js';
import { checkJobData, encodeEmbeddings, encodeFiles, queueNameOf, requestOf, type BatchJobData, type BatchJobResult, type EngineIdentity } from './jobs.js';
import { encodeEvent, encodeResult, GENERATE_JOB_NAME, stepThrottle, type GenerateJobData, type WireResult } from './generate-job.js';
import { QUEUE_DEFAULTS, type QueueSettings } from './recovery.js';

export interface QueueWorkerOptions extends Partial<QueueSettings> {
  /** redis://HOST:PORT[/DB] */
  queue: string;
  model?: string;
  device?: Device;
  /** Which graphs the child runs (default auto, probed at maxRows rows). */
  precision?: PrecisionChoice;
  clip?: string;
  /** Jobs held at once; their rows share the child's sampling steps (default 2). */
  concurrency?: number;
  /** Row budget of one shared step (the child's maxRows; default the server's 512). */
  maxRows?: number;
  /** Shown in logs, job results and the queue's worker list (default host:pid). */
  name?: string;
  onLog?: (message: string) => void;
}

/** What this worker did (its own throughput, for logs and the bench). */
export interface WorkerStats {
  name: string;
  completed: number;
  failed: number;
  images: number;
  busyMs: number;
  /** Jobs of dead workers this worker's stalled check moved back to waiting (each recovery is counted by one worker). */
  stalledRecoveries: number;
}

/** The message of a job's permanent failure: `[CODE] message`, so the client gets the code back. */
export function failureMessage(error: unknown): string {
  return isTesseraError(error) ? `[${error.code}] ${error.message}` : (error as Error).message;
}

/** Bad input (a 4xx code): retrying cannot help, so the job fails at once (BullMQ UnrecoverableError). */
function isPermanent(error: unknown): boolean {
  return isTesseraError(error) && httpErrorOf(error.code).status < 500;
}

export class QueueWorker {
  readonly queueName: string;
  readonly stats: WorkerStats;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly bull: Worker,
    private readonly inference: InferenceChild,
    queueName: string,
    name: string,
    private readonly log: (message: string) => void,
  ) {
    this.queueName = queueName;
    this.stats = { name, completed: 0, failed: 0, images: 0, busyMs: 0, stalledRecoveries: 0 };
  }

  /** Loads the model in the child, then starts taking jobs. */
  static async start(options: QueueWorkerOptions): Promise<QueueWorker> {
    const connection = parseQueueUrl(options.queue);
    const settings = { ...QUEUE_DEFAULTS, ...definedOnly(options) };
    const concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new TesseraError('TESSERA_ERR_OPTION', `--concurrency must be an integer from 1 to 64, got ${JSON.stringify(concurrency)}`, { param: 'concurrency' });
    }
    const model = modelIdentity(options.model);
    const device = options.device ?? 'cpu';
    const clip = await clipIdentity(options.clip);
    const engine: EngineIdentity = { model: { name: model.name, manifestSha256: model.manifestSha256 }, device, clip: clip === null ? null : { sha256: clip.sha256 } };
    const manifest = readManifest(model.dir);
    const name = options.name ?? `${os.hostname()}:${process.pid}`;
    const log = options.onLog ?? (() => {});

    // niceness 0: this process has nothing to protect but lock renewal, which is cheap and on time either way.
    const inference = new InferenceChild({ model: model.dir, device, precision: options.precision, clip: clip?.dir, maxRows: options.maxRows, niceness: 0 });
    await inference.start();
    const queueName = queueNameOf(engine);
    let self: QueueWorker | null = null;
    const processBatch = async (job: Job<BatchJobData, BatchJobResult>): Promise<BatchJobResult> => {
      const started = performance.now();
      let data: BatchJobData;
      let requests;
      try {
        data = checkJobData(job.data);
        if (JSON.stringify(data.engine) !== JSON.stringify(engine)) {
          throw new TesseraError('TESSERA_ERR_QUEUE_JOB', `job ${job.id} is for engine ${JSON.stringify(data.engine)}, this worker runs ${JSON.stringify(engine)}`);
        }
        // Resolved again against this worker's manifest: bad input fails here, once.
        requests = data.prompts.map((p) => ({ ...resolveRequest(p.request, manifest), previewCandidates: 0 }));
      } catch (error) {
        throw new UnrecoverableError(failureMessage(error));
      }
      let results: GenerationResult[];
      try {
        results = await inference.runGroup(requests);
      } catch (error) {
        // A crashed child (TESSERA_ERR_WORKER) is transient: BullMQ retries with the job's backoff.
        if (isPermanent(error)) throw new UnrecoverableError(failureMessage(error));
        throw new Error(failureMessage(error));
      }
      const prompts = await Promise.all(
        data.prompts.map(async (prompt, i) => {
          const encodeStarted = performance.now();
          const { files, record } = await renderPrompt(results[i], prompt);
          const embeddings = encodeEmbeddings(keptEmbeddings(results[i]));
          return { index: prompt.index, files: encodeFiles(files), record, encodeMs: performance.now() - encodeStarted, ...promptCost(results[i]), embeddings };
        }),
      );
      const images = requests.reduce((sum, r) => sum + r.settings.candidates, 0);
      const elapsedMs = performance.now() - started;
      if (self !== null) {
        self.stats.completed++;
        self.stats.images += images;
        self.stats.busyMs += elapsedMs;
      }
      log(`job ${job.id} (batch ${data.batch}, ${data.prompts.length} prompt${data.prompts.length === 1 ? '' : 's'}, ${images} images) done in ${(elapsedMs / 1000).toFixed(1)} s`);
      return { worker: name, prompts, timings: results[0].timings, images, elapsedMs };
    };
    const processGenerate = async (job: Job<GenerateJobData, WireResult>, signal?: AbortSignal): Promise<WireResult> => {
      const started = performance.now();
      let request;
      try {
        const data = job.data;
        if (data?.format !== 'tessera-queue-generate' || data.version !== 1) throw new TesseraError('TESSERA_ERR_QUEUE_JOB', `job ${job.id} is not a tessera-queue-generate version 1 job`);
        if (JSON.stringify(data.engine) !== JSON.stringify(engine)) {
          throw new TesseraError('TESSERA_ERR_QUEUE_JOB', `job ${job.id} is for engine ${JSON.stringify(data.engine)}, this worker runs ${JSON.stringify(engine)}`);
        }
        // Validated again here, as the batch jobs' requests are: bad input fails once.
        const r = data.request;
        if (typeof r !== 'object' || r === null || typeof r.settings !== 'object' || r.settings === null) throw new TesseraError('TESSERA_ERR_QUEUE_JOB', `job ${job.id} has no request settings`);
        // The image prompt travels too (issue 23: it was left out, so an edit ran as text alone).
        request = resolveRequest(requestOf(r, r.previewCandidates ?? r.settings.candidates), manifest);
      } catch (error) {
        throw new UnrecoverableError(failureMessage(error));
      }
      // Cancellation from the API replica: a flag in the job's data, watched while the job runs.
      const controller = new AbortController();
      signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
      const watch = setInterval(() => {
        void Job.fromId<GenerateJobData>(bull, job.id!).then((fresh) => {
          if (fresh?.data.cancel !== undefined) controller.abort(new Error(fresh.data.cancel));
        }, () => {});
      }, 250);
      try {
        const send = stepThrottle((event) => void job.updateProgress(encodeEvent(event) as unknown as object).catch(() => {}));
        const result = await inference.run(request, { signal: controller.signal, onEvent: send });
        const images = result.candidates.length;
        const elapsedMs = performance.now() - started;
        if (self !== null) {
          self.stats.completed++;
          self.stats.images += images;
          self.stats.busyMs += elapsedMs;
        }
        log(`job ${job.id} (request, ${images} images) done in ${(elapsedMs / 1000).toFixed(1)} s`);
        return encodeResult(result);
      } catch (error) {
        if (isPermanent(error) || isTesseraError(error, 'TESSERA_ERR_CANCELLED')) throw new UnrecoverableError(failureMessage(error));
        throw new Error(failureMessage(error));
      } finally {
        clearInterval(watch);
      }
    };
    const processor = (job: Job, _token?: string, signal?: AbortSignal): Promise<BatchJobResult | WireResult> =>
      job.name === GENERATE_JOB_NAME ? processGenerate(job as Job<GenerateJobData, WireResult>, signal) : processBatch(job as Job<BatchJobData, BatchJobResult>);
    const bull: Worker = new Worker(queueName, processor, {
      connection: redisOptions(connection),
      name,
      concurrency,
      lockDuration: settings.lockDurationMs,
      stalledInterval: settings.stalledIntervalMs,
      maxStalledCount: settings.maxStalledCount,
      // Completed jobs are kept (BullMQ's default): the batch client removes each once its files are written.
      autorun: false,
    });
    self = new QueueWorker(bull, inference, queueName, name, log);
    const worker = self;
    bull.on('failed', (job, error) => {
      worker.stats.failed++;
      log(`job ${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}): ${error.message}`);
    });
    bull.on('stalled', (jobId) => {
      worker.stats.stalledRecoveries++;
      log(`job ${jobId} stalled (its worker died or lost its lock): moved back to waiting`);
    });
    // Connection errors are retried by ioredis (connection.ts); log them instead of crashing.
    bull.on('error', (error) => log(`queue connection: ${error.message}`));
    void bull.run().catch((error: Error) => log(`worker stopped: ${error.message}`));
    await bull.waitUntilReady();
    log(`worker ${name} on ${connection.display} queue ${queueName} (model ${model.name}, ${device}, concurrency ${concurrency})`);
    return worker;
  }

  /** Lets held jobs finish (BullMQ's graceful close), then stops the child. */
  close(force = false): Promise<void> {
    this.closing ??= (async () => {
      await this.bull.close(force);
      await this.inference.stop();
    })();
    return this.closing;
  }

  /** Whether the worker is connected and its model loaded (the metrics endpoint's /readyz). */
  get ready(): boolean {
    return this.bull.isRunning() && this.inference.ready;
  }

  /** The child's pid (tests kill it to prove a crashed child is a transient failure). */
  get inferencePid(): number | undefined {
    return this.inference.pid;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
