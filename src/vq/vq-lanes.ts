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
import { JobWorker, type JobReply } from '../util/job-worker.js';
import { siblingModule } from '../util/module-worker.js';

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

/** A decoding job: `count` grids, row-major codes back to back (its id from JobWorker.run). */
export type VqLaneRequest = { id: number; codes: Int32Array; count: number };
/** Each image's interleaved RGB bytes, in the job's order. */
export type VqLaneReply = JobReply<Uint8Array[]>;

const WORKER_MODULE = siblingModule(import.meta.url, 'vq-lane-worker');

function laneError(code: ErrorCode | null, message: string): Error {
  return code === null ? new TesseraError('TESSERA_ERR_INTERNAL', `a VQ decoding lane failed: ${message}`) : new TesseraError(code, message);
}

/** One lane: its thread (src/util/job-worker.ts: it holds the process only while a job runs), its jobs. */
class VqLane {
  private readonly worker: JobWorker<Uint8Array[]>;

  constructor(load: VqLaneLoad) {
    this.worker = new JobWorker(WORKER_MODULE, load, laneError, true); // its thread opens the decoder as it starts
  }

  get ready(): Promise<void> {
    return this.worker.ready;
  }

  /** `count` grids, row-major codes back to back, to interleaved RGB bytes. */
  async decode(codes: Int32Array, count: number): Promise<Uint8Array[]> {
    await this.ready;
    return this.worker.run({ codes, count }, { transfer: [codes.buffer as ArrayBuffer] }).result;
  }

  close(): Promise<void> {
    return this.worker.close(laneError(null, 'its lanes were closed'));
  }
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
