/**
 * VQ decoding lanes: a request's grids split between worker threads, each with its own
 * session of the decoder graph on ONE intra-op thread, decoding one grid per call, at the
 * same time. Why: a DALL·E Mini-sized VQGAN decode is hundreds of kernels a call, many of
 * them small at the 32-64 px stages, and one session on two threads hands every kernel over
 * between them (the sampling lanes' finding, src/pipeline/lanes.ts); two one-thread sessions
 * on their own grids kept both cores busier: 32 Mini images 1.29x faster (docs/benchmarks.md,
 * "VQ decoding lanes"). The calling thread's own session (two threads) still decodes a single
 * grid, where there is nothing to split.
 */
import { TesseraError, type ErrorCode } from '../errors.js';
import type { RgbImage } from '../types.js';
import { siblingModule, spawnModuleWorker } from '../util/module-worker.js';
import type { Worker } from 'node:worker_threads';

/** Pixels per image from which a package's VQ decode runs in lanes (the CLI's one-shot runs): DALL·E Mini's 256 px, not the shipped model's 64 px. */
export const VQ_LANE_MIN_PIXELS = 128 * 128;

/** What a VQ lane's thread loads. */
export interface VqLaneLoad {
  /** The decoder graph (the precision's), an absolute path. */
  graph: string;
  height: number;
  width: number;
  size: number;
}

export type VqLaneRequest = { id: number; codes: Int32Array; count: number };
export type VqLaneReply = { type: 'ready' } | { type: 'failed'; code: ErrorCode | null; message: string } | { type: 'done'; id: number; pixels: Uint8Array[] } | { type: 'error'; id: number; code: ErrorCode | null; message: string };

const WORKER_MODULE = siblingModule(import.meta.url, 'vq-lane-worker');

interface Job {
  resolve: (pixels: Uint8Array[]) => void;
  reject: (error: Error) => void;
}

/** One lane: its thread, its jobs; the thread holds the process only while a job runs. */
class VqLane {
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private failure: Error | null = null;
  private nextId = 1;

  constructor(load: VqLaneLoad) {
    this.worker = spawnModuleWorker(WORKER_MODULE, { workerData: load });
    let started: () => void = () => undefined;
    let failed: (error: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => ((started = resolve), (failed = reject)));
    this.ready.catch(() => undefined); // read by decode(); never an unhandled rejection
    this.worker.on('message', (reply: VqLaneReply) => {
      if (reply.type === 'ready') started();
      else if (reply.type === 'failed') this.fail(laneError(reply.code, reply.message), failed);
      else {
        const job = this.jobs.get(reply.id);
        this.jobs.delete(reply.id);
        if (this.jobs.size === 0) this.worker.unref();
        if (reply.type === 'done') job?.resolve(reply.pixels);
        else job?.reject(laneError(reply.code, reply.message));
      }
    });
    this.worker.on('error', (error) => this.fail(laneError(null, error.message), failed));
    this.worker.on('exit', (code) => this.fail(laneError(null, `its thread exited (code ${code})`), failed));
    this.worker.unref(); // after the listeners: a 'message' listener refs the port again
  }

  private fail(error: Error, failedToStart: (error: Error) => void): void {
    this.failure ??= error;
    this.worker.unref();
    failedToStart(error);
    for (const job of this.jobs.values()) job.reject(error);
    this.jobs.clear();
  }

  /** `count` grids, row-major codes back to back, to interleaved RGB bytes. */
  async decode(codes: Int32Array, count: number): Promise<Uint8Array[]> {
    await this.ready;
    if (this.failure !== null) throw this.failure;
    const id = this.nextId++;
    return new Promise<Uint8Array[]>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, codes, count } satisfies VqLaneRequest, [codes.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.fail(laneError(null, 'its lanes were closed'), () => undefined);
    await this.worker.terminate();
  }
}

function laneError(code: ErrorCode | null, message: string): Error {
  return code === null ? new TesseraError('TESSERA_ERR_INTERNAL', `a VQ decoding lane failed: ${message}`) : new TesseraError(code, message);
}

export class VqLanes {
  /** Settles when every lane has opened its session or failed to (a failed lane fails its decode: VqCodec then decodes itself). */
  readonly ready: Promise<void>;

  private constructor(
    private readonly lanes: VqLane[],
    private readonly load: VqLaneLoad,
  ) {
    this.ready = Promise.allSettled(lanes.map((lane) => lane.ready)).then(() => undefined);
  }

  /** Starts `count` lanes on `load.graph`; each opens its session on its own thread (decode waits for it). */
  static start(load: VqLaneLoad, count: number): VqLanes {
    return new VqLanes(Array.from({ length: count }, () => new VqLane(load)), load);
  }

  /** Grids to images, in order: contiguous parts of about equal size, one per lane, decoded at once. */
  async toPixels(grids: readonly Int32Array[]): Promise<RgbImage[]> {
    const { height, width, size } = this.load;
    const cells = height * width;
    const parts = Math.min(this.lanes.length, grids.length);
    const decoded = await Promise.all(
      Array.from({ length: parts }, (_, p) => {
        const part = grids.slice(Math.floor((p * grids.length) / parts), Math.floor(((p + 1) * grids.length) / parts));
        const codes = new Int32Array(part.length * cells); // [n, h, w], sent (transferred) to the lane
        part.forEach((grid, i) => codes.set(grid, i * cells));
        return this.lanes[p].decode(codes, part.length);
      }),
    );
    return decoded.flat().map((data) => ({ width: size, height: size, data }));
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.close()));
  }
}
