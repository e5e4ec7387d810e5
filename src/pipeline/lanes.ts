/**
 * Sampling lanes: a row group's sequences split into parts sampled at the same time,
 * each by its own generator on its own thread, every generator session with ONE intra-op
 * thread: lane 0 on the calling thread (the loaded model's generator), the others in
 * worker threads (lane-worker.ts), each holding its own sessions of the same graphs.
 *
 * Why: a step of the shipped model is some 280 small kernels. With two intra-op threads
 * onnxruntime splits each kernel over both and waits for both, and at these sizes the
 * handing over costs what the second core gives: one thread ran the int8 step as fast as
 * two (docs/benchmarks.md "Sampling lanes"). Two lanes of one thread each keep both
 * cores on their own rows, and each lane's JavaScript between steps (the draw, the cache
 * writes) runs while the other lane's step does: 128 rows, 48 slots, int8: one step on
 * two threads 14.7 ms, two 64-row lanes side by side 6.3 ms.
 *
 * Codes do not depend on the lane a sequence runs in: a candidate's random stream is its
 * own (src/sampler/rng.ts), as with row groups (src/sampler/row-groups.ts). Events come
 * from lane 0's loop, each step once every lane has sampled it; previews see every lane's
 * codes (the other lanes send each step's codes as they go).
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { isTesseraError, TesseraError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import { graphsFor, likelyPrecision, type Precision, type PrecisionChoice } from '../model/precision.js';
import type { BatchSampler, SequenceSpec, StepProgress } from '../sampler/sampler.js';
import { rowsFor } from '../sampler/sequence.js';
import type { Device } from '../types.js';
import { WorkerLane, type LaneLoad, type LaneResult } from './worker-lane.js';

export type { LaneLoad, LaneReply, LaneRequest, LaneResult } from './worker-lane.js';

/**
 * The session settings of every lane's generator: one intra-op thread, and no memory
 * pattern (onnxruntime's planned block per input shape is fresh memory at each new slot
 * count, and on this project's VMs first touches are slow; the arena reuses what it has:
 * cold 128-candidate int8 sampling 684 -> 627 ms median, paired, docs/benchmarks.md).
 */
export const LANE_SESSION = { intraOpNumThreads: 1, enableMemPattern: false } as const;

/** Rows a lane must get at least: below it a group is not split (one lane's fixed costs per step would outweigh the halved work). */
export const MIN_LANE_ROWS = 4;

/** The largest lane count accepted (TESSERA_LANES). */
export const MAX_LANES = 64;

/**
 * A generator whose step graph weighs more than this (with its external data) gets no
 * lanes unless TESSERA_LANES asks: each lane holds its own copy of the weights and reads
 * it every step, and a big model's products are large enough for onnxruntime's threads
 * to share. Measured (docs/benchmarks.md "Sampling lanes", "Lanes for DALL·E Mini at
 * int8"): the shipped 21 MB model samples 1.25-1.35x faster with two lanes, a DALL·E
 * Mini-shaped package's 313 MB int8 step graph 1.11x faster a whole image (its JavaScript
 * between steps, ~4 s of a 32-candidate run, then runs beside the other lane's step), its
 * 840 MB fp32 one 20% slower. Nothing between 313 and 840 MB was measured.
 */
export const LANE_WEIGHT_LIMIT = 512 * 1024 * 1024;

/**
 * Lanes for a package on a device: TESSERA_LANES when set (1 turns lanes off); else on the
 * CPU one per intra-op thread (TESSERA_THREADS, default 2), so the cores stay as many,
 * for a step graph of at most `weightLimit` bytes (LANE_WEIGHT_LIMIT); one otherwise (a GPU
 * runs a step's rows together).
 */
export function lanesFor(device: Device, stepBytes: number, env: NodeJS.ProcessEnv = process.env, weightLimit = LANE_WEIGHT_LIMIT): number {
  const raw = env.TESSERA_LANES;
  if (raw !== undefined && raw !== '') {
    const lanes = Number(raw);
    if (!Number.isInteger(lanes) || lanes < 1 || lanes > MAX_LANES) {
      throw new TesseraError('TESSERA_ERR_OPTION', `TESSERA_LANES must be an integer from 1 to ${MAX_LANES}, got ${JSON.stringify(raw)}`, { param: 'TESSERA_LANES' });
    }
    return lanes;
  }
  if (device !== 'cpu' || stepBytes > weightLimit) return 1;
  const threads = Number(env.TESSERA_THREADS ?? 2);
  return Number.isInteger(threads) && threads >= 1 ? Math.min(threads, MAX_LANES) : 1;
}

/**
 * Bytes of the step graph a precision runs, with its external data (the manifest lists
 * both: `step.onnx`, `step.onnx.data`; an int8 variant's `step.int8.onnx` and its data).
 */
export function stepGraphBytes(dir: string, manifest: ModelManifest, precision: Precision = 'fp32'): number {
  const step = graphsFor(manifest, precision).step;
  return Object.keys(manifest.files)
    .filter((name) => name === step || name.startsWith(`${step}.`))
    .reduce((bytes, name) => bytes + statSync(path.join(dir, name)).size, 0);
}

/**
 * The step-graph bytes lanes are decided on before the precision is known: the asked
 * precision's; for `auto` the int8 variant's when the package has one (the lanes start
 * while the package loads, for the precision auto picks on CPUs with integer units; when
 * auto keeps fp32 and that graph is over the limit, the loader closes them again).
 */
export function laneStepBytes(dir: string, manifest: ModelManifest, requested: PrecisionChoice): number {
  return stepGraphBytes(dir, manifest, likelyPrecision(manifest, requested));
}

/** Rows of a lane's step when `rows` rows are split over `lanes` lanes (laneParts' count; guided pairs aside). */
export function laneRows(rows: number, lanes: number): number {
  return Math.ceil(rows / Math.max(1, Math.min(lanes, Math.floor(rows / MIN_LANE_ROWS))));
}

/**
 * Splits sequences, in order, into contiguous parts of about equal rows (within two: a
 * guided sequence's two rows stay together): min(lanes, rows / MIN_LANE_ROWS, sequences)
 * of them, so one part (no split) for a small group.
 */
export function laneParts<S extends SequenceSpec>(sequences: readonly S[], lanes: number): S[][] {
  const total = rowsFor(sequences);
  const count = Math.max(1, Math.min(lanes, Math.floor(total / MIN_LANE_ROWS), sequences.length));
  if (count === 1) return [[...sequences]];
  const parts: S[][] = [];
  let part: S[] = [];
  let rows = 0;
  sequences.forEach((sequence, i) => {
    part.push(sequence);
    rows += rowsFor([sequence]);
    const left = sequences.length - i - 1;
    const partsLeft = count - parts.length - 1;
    // Close the part at its share of the rows, or when each later part needs one of the sequences left.
    if (partsLeft > 0 && (rows >= (total * (parts.length + 1)) / count || left === partsLeft)) {
      parts.push(part);
      part = [];
    }
  });
  parts.push(part);
  return parts;
}

/** What SamplingLanes.sample reports to, and its cancel signal. */
export interface LaneOptions {
  onPrefilled?: () => void;
  onStep?: (progress: StepProgress) => void | Promise<void>;
  signal?: AbortSignal;
}

/** The worker lanes of a loaded model (lane 0, the caller's own generator, is not one of them). */
export class SamplingLanes {
  /** Lanes in all, the caller's own included. */
  readonly count: number;
  private readonly workers: WorkerLane[];
  /** The sample() call before this one, settled or not. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(workers: WorkerLane[]) {
    this.workers = workers;
    this.count = workers.length + 1;
  }

  /**
   * Starts `count - 1` worker threads now: they load their modules while the caller
   * verifies and opens its own generator; `open` then gives them the precision.
   */
  static start(load: LaneLoad, count: number): SamplingLanes {
    return new SamplingLanes(Array.from({ length: Math.max(0, count - 1) }, () => new WorkerLane(load)));
  }

  /** Has every worker lane open `precision`'s generator; resolves once all have (rejects with the first failure). */
  async open(precision: Precision): Promise<void> {
    for (const w of this.workers) w.open(precision);
    await Promise.all(this.workers.map((w) => w.ready));
  }

  /**
   * Samples `parts` (laneParts' split, in order) at once: parts[0] with `main` on this
   * thread, the others in the worker lanes. The codes come back in the parts' order.
   * `onPrefilled` runs once lane 0 has prefilled; `onStep` for each step once every lane
   * has sampled it, in order. No lane waits for another: the events follow the slowest.
   * Calls run one after another (a worker lane holds one job at a time).
   */
  sample(main: BatchSampler, parts: readonly (readonly SequenceSpec[])[], options: LaneOptions = {}): Promise<LaneResult> {
    const run = this.queue.then(() => this.sampleNow(main, parts, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sampleNow(main: BatchSampler, parts: readonly (readonly SequenceSpec[])[], options: LaneOptions): Promise<LaneResult> {
    const [own, ...others] = parts;
    if (others.length > this.workers.length) throw new TesseraError('TESSERA_ERR_INTERNAL', `${parts.length} lane parts for ${this.count} lanes`);
    const tokens = main.imageTokens;
    // Lane 0's codes once prefilled, the other lanes' as their columns arrive; each lane's last step.
    let ownCodes: Int32Array[] = [];
    const mirrors = others.map((part) => part.map(() => new Int32Array(tokens)));
    const reached = parts.map(() => 0);
    // One failing lane, or a failing event handler, stops the others (lane 0 through this
    // signal, the workers through theirs); so does the caller's cancel.
    const stop = new AbortController();
    const forward = () => stop.abort(options.signal?.reason);
    if (options.signal?.aborted) forward();
    else options.signal?.addEventListener('abort', forward, { once: true });
    // Steps every lane has sampled go to onStep one after another, on this thread.
    let emitted = 0;
    let events: Promise<void> = Promise.resolve();
    let eventFailure: Error | null = null;
    const advance = () => {
      const low = Math.min(...reached);
      while (emitted < low) {
        const step = ++emitted;
        events = events
          .then(() => (eventFailure === null ? options.onStep?.({ tokensDone: step, tokensTotal: tokens, codes: [...ownCodes, ...mirrors.flat()] }) : undefined))
          .catch((error: Error) => {
            eventFailure ??= error;
            stop.abort(error);
          });
      }
    };
    const jobs = others.map((part, lane) =>
      this.workers[lane]
        .sample(
          part,
          (tokensDone, column) => {
            column.forEach((code, s) => (mirrors[lane][s][tokensDone - 1] = code));
            reached[lane + 1] = tokensDone;
            advance();
          },
          stop.signal,
        )
        .catch((error: Error) => {
          stop.abort(error);
          throw error;
        }),
    );
    const mainJob = (async (): Promise<LaneResult> => {
      const before = main.stats.prefillMs;
      const state = await main.prefill(own);
      const prefillMs = main.stats.prefillMs - before;
      ownCodes = state.codes;
      options.onPrefilled?.();
      await main.decodeSteps(state, tokens, {
        signal: stop.signal,
        onStep: ({ tokensDone }) => {
          reached[0] = tokensDone;
          advance();
        },
      });
      main.release(state);
      return { codes: state.codes, prefillMs };
    })().catch((error: Error) => {
      stop.abort(error);
      throw error;
    });
    try {
      const settled = await Promise.allSettled([mainJob, ...jobs]);
      await events;
      // The caller's cancel wins over what it caused; then an event handler's error; then the
      // first error that is not a lane stopped because another failed (lane 0's first).
      if (options.signal?.aborted) throw new TesseraError('TESSERA_ERR_CANCELLED', 'generation was cancelled', { cause: options.signal.reason });
      if (eventFailure !== null) throw eventFailure;
      const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
      if (errors.length > 0) throw errors.find((e) => !isTesseraError(e, 'TESSERA_ERR_CANCELLED')) ?? errors[0];
      const results = settled.map((s) => (s as PromiseFulfilledResult<LaneResult>).value);
      return { codes: results.flatMap((r) => r.codes), prefillMs: results[0].prefillMs };
    } finally {
      options.signal?.removeEventListener('abort', forward);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
