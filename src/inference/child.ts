/**
 * The inference child process: loads one model package and runs generation requests
 * sent by the HTTP process. ONNX Runtime's session.run blocks whichever event loop it
 * runs on and a native fault kills the whole process, so it runs here, not in the server.
 *
 * Continuous batching: one loop runs the sampler a step at a time over the rows of every
 * admitted request (ContinuousBatch). Between steps it admits queued requests (up to a
 * row budget), drops cancelled ones and finishes those whose grid is complete (image
 * decode, rerank, result). ORT yields to the event loop around each run, so 'generate'
 * and 'cancel' messages land within one step.
 */
import { TesseraError, isTesseraError } from '../errors.js';
import { finishRuns, type GenerationRun } from '../pipeline/run.js';
import { Tessera } from '../pipeline/tessera.js';
import type { ResolvedRequest } from '../pipeline/settings.js';
import type { GenerateRequest, GenerationResult } from '../types.js';
import { ContinuousBatch, rowsFor, type FinishedGroup, type GroupProgress } from '../sampler/continuous.js';
import { DEFAULT_MAX_ROWS, readChildConfig, type ChildConfig, type ChildMessage, type ParentMessage } from './protocol.js';

function send(message: ChildMessage): void {
  if (process.connected) process.send?.(message);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

interface Queued {
  id: string;
  /** One request, or a group of requests that share one run (a planned batch). */
  requests: (GenerateRequest | ResolvedRequest)[];
  group: boolean;
  controller: AbortController;
  /** Prepared once, on first look (a request waiting for room is not prepared again). */
  run?: GenerationRun;
}

interface Active {
  id: string;
  group: boolean;
  run: GenerationRun;
  controller: AbortController;
}

function sendError(id: string, error: unknown): void {
  const e = error as Error & { code?: string; param?: string };
  send({ type: 'error', id, code: isTesseraError(error) ? error.code : 'TESSERA_ERR_INFERENCE', message: e.message, param: e.param });
}

function cancelledError(reason: unknown): TesseraError {
  return new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled', { cause: reason });
}

/**
 * Drives the continuous batch; each request is one GenerationRun (the same object the
 * CLI and batch runner finish through), so events, previews and timings come from one place.
 */
class Scheduler {
  private readonly queue: Queued[] = [];
  private readonly active = new Map<string, Active>();
  private readonly batch: ContinuousBatch;
  private running = false;

  constructor(
    private readonly tessera: Tessera,
    private readonly config: ChildConfig,
  ) {
    this.batch = new ContinuousBatch(tessera.model.sampler);
  }

  submit(id: string, requests: (GenerateRequest | ResolvedRequest)[], group: boolean): void {
    this.queue.push({ id, requests, group, controller: new AbortController() });
    if (!this.running) void this.loop();
  }

  cancel(id: string, reason: unknown): void {
    this.queue.find((q) => q.id === id)?.controller.abort(reason);
    this.active.get(id)?.controller.abort(reason);
  }

  cancelAll(reason: unknown): void {
    for (const q of this.queue) q.controller.abort(reason);
    for (const a of this.active.values()) a.controller.abort(reason);
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 || this.batch.size > 0) {
        await this.admitQueued();
        if (this.batch.size === 0) continue;
        let report;
        try {
          report = await this.batch.step();
        } catch (error) {
          // A failed graph run leaves the batch unusable: fail everything in it.
          for (const id of this.batch.ids) {
            this.batch.remove(id);
            this.active.delete(id);
            sendError(id, error);
          }
          continue;
        }
        for (const { id, reason } of report.cancelled) {
          this.active.delete(id);
          sendError(id, cancelledError(reason));
        }
        for (const progress of report.advanced) await this.active.get(progress.id)?.run.token(progress);
        if (report.rows > 0 && this.config.stepDelayMs) sleepSync(this.config.stepDelayMs);
        await this.finish(report.finished);
      }
    } finally {
      this.running = false;
    }
  }

  /** Admits queued requests while the row budget allows (always at least one into an empty batch). */
  private async admitQueued(): Promise<void> {
    const budget = this.config.maxRows ?? DEFAULT_MAX_ROWS;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (next.controller.signal.aborted) {
        this.queue.shift();
        sendError(next.id, cancelledError(next.controller.signal.reason));
        continue;
      }
      if (next.run === undefined) {
        const started = performance.now();
        try {
          // An image prompt's source is encoded here, where the model is (the HTTP process only checked it).
          const prepared = await Promise.all(next.requests.map((request) => this.tessera.prepareRequest(request)));
          next.run = this.tessera.startRun(prepared, (event) => send({ type: 'event', id: next.id, event }), started);
        } catch (error) {
          this.queue.shift();
          sendError(next.id, error);
          continue;
        }
      }
      const run = next.run;
      if (this.batch.size > 0 && this.batch.rows + rowsFor(run.sequences) > budget) return;
      this.queue.shift();
      let first: GroupProgress;
      try {
        first = await this.batch.admit(next.id, run.sequences, next.controller.signal);
      } catch (error) {
        sendError(next.id, error);
        continue;
      }
      this.active.set(next.id, { id: next.id, group: next.group, run, controller: next.controller });
      run.start(first.rows, first.tokensTotal);
      await run.token(first);
    }
  }

  /**
   * Finishes the groups that completed on one step together (finishRuns: one image
   * decode and one CLIP pass for all of them, issue 12), then sends each its result.
   */
  private async finish(groups: readonly FinishedGroup[]): Promise<void> {
    const live: { active: Active; finished: FinishedGroup }[] = [];
    for (const finished of groups) {
      const active = this.active.get(finished.id);
      this.active.delete(finished.id);
      if (active === undefined) continue;
      if (active.controller.signal.aborted) sendError(active.id, cancelledError(active.controller.signal.reason));
      else live.push({ active, finished });
    }
    if (live.length === 0) return;
    let all: GenerationResult[][];
    try {
      all = await finishRuns(
        live.map(({ active, finished }) => ({
          run: active.run,
          done: { codes: finished.codes, prefillMs: finished.prefillMs, batching: { maxRowsPerStep: finished.maxRows, sharedSteps: finished.sharedSteps } },
        })),
      );
    } catch (error) {
      for (const { active } of live) sendError(active.id, error);
      return;
    }
    live.forEach(({ active }, i) => {
      if (active.group) send({ type: 'results', id: active.id, results: all[i] });
      else send({ type: 'result', id: active.id, result: all[i][0] });
    });
  }
}

async function main(): Promise<void> {
  const config = readChildConfig();
  // The parent going away (crash or kill) must not leave an orphan holding a model.
  process.on('disconnect', () => process.exit(0));
  // Liveness for the parent's watchdog: ORT yields between steps, so a stopped or looping child goes quiet.
  setInterval(() => send({ type: 'heartbeat' }), config.heartbeatMs ?? 1000).unref();
  let tessera: Tessera;
  try {
    tessera = await Tessera.load({ model: config.model, device: config.device, clip: config.clip, footprint: config.footprint, precision: config.precision, precisionRows: config.maxRows ?? 512 });
  } catch (error) {
    const code = isTesseraError(error) ? error.code : 'TESSERA_ERR_INFERENCE';
    send({ type: 'load-error', code, message: (error as Error).message });
    process.exit(1);
  }
  const scheduler = new Scheduler(tessera, config);
  process.on('message', (raw: ParentMessage) => {
    if (raw.type === 'cancel') {
      scheduler.cancel(raw.id, new Error(raw.reason));
    } else if (raw.type === 'embed-text') {
      // Between sampling steps, like any message; the text model is CLIP's own session.
      const reranker = tessera.model.reranker;
      if (reranker === null) sendError(raw.id, new TesseraError('TESSERA_ERR_SEARCH', 'this model has no CLIP: search by text needs one', { param: 'query' }));
      else reranker.embedText([raw.text]).then(([embedding]) => send({ type: 'embedding', id: raw.id, embedding }), (error: unknown) => sendError(raw.id, error));
    } else if (raw.type === 'shutdown') {
      scheduler.cancelAll(new Error('server shutting down'));
      void tessera.dispose().finally(() => process.exit(0));
    } else if (raw.type === 'generate-group') {
      scheduler.submit(raw.id, raw.requests, true);
    } else {
      scheduler.submit(raw.id, [raw.request], false);
    }
  });
  send({ type: 'ready', model: tessera.manifest.name, pid: process.pid });
}

void main();
