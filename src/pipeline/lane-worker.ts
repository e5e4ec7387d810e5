/**
 * The worker thread of a sampling lane (lanes.ts): loads the generator of the package,
 * device and precision it is given, its sessions as LANE_SESSION says, then samples
 * the sequences it is sent, one job at a time, posting each step's codes as it goes and
 * its codes at the end. A 'cancel' stops the job between steps.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { isTesseraError } from '../errors.js';
import { architectureOf, warmFirstCache } from '../generator/architectures.js';
import { readManifest } from '../model/manifest.js';
import { graphsFor, type Precision } from '../model/precision.js';
import { BatchSampler } from '../sampler/sampler.js';
import { LANE_SESSION } from './lanes.js';
import type { LaneLoad, LaneReply, LaneRequest } from './worker-lane.js';

const port = parentPort!;
const load = workerData as LaneLoad;
const post = (reply: LaneReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
const codeOf = (error: unknown) => (isTesseraError(error) ? error.code : null);

// The first part's KV cache, mapped on another thread while this one loads; ready before the lane is.
// A package that cannot be read here fails in open(), with its own error code, not at this module's load.
const warmed = load.firstRows === undefined ? Promise.resolve() : Promise.resolve().then(() => warmFirstCache(readManifest(load.dir), load.device, load.firstRows, load.int8Cache ?? false)).catch(() => undefined);

async function open(precision: Precision): Promise<BatchSampler> {
  // The calling thread verifies the package's files before it opens its own generator.
  const manifest = readManifest(load.dir);
  const file = (relative: string) => path.join(load.dir, relative);
  const opened = await architectureOf(manifest).load(manifest, file, load.device, graphsFor(manifest, precision), LANE_SESSION);
  await warmed;
  return new BatchSampler(opened.generator);
}

const controllers = new Map<number, AbortController>();
let sampler: Promise<BatchSampler> | null = null;

async function sample(id: number, sequences: LaneRequest & { type: 'sample' }): Promise<void> {
  const controller = new AbortController();
  controllers.set(id, controller);
  try {
    if (sampler === null) throw new Error('sampled before it was opened');
    const lane = await sampler;
    const before = lane.stats.prefillMs;
    const state = await lane.prefill(sequences.sequences);
    const prefillMs = lane.stats.prefillMs - before;
    await lane.decodeSteps(state, lane.imageTokens, {
      signal: controller.signal,
      onStep: ({ tokensDone, codes }) => post({ type: 'progress', id, progress: { tokensDone, column: Int32Array.from(codes, (c) => c[tokensDone - 1]) } }),
    });
    lane.release(state);
    post({ type: 'done', id, result: { codes: state.codes, prefillMs } }, state.codes.map((c) => c.buffer as ArrayBuffer));
  } catch (error) {
    post({ type: 'error', id, code: codeOf(error), message: (error as Error).message });
  } finally {
    controllers.delete(id);
  }
}

port.on('message', (request: LaneRequest) => {
  if (request.type === 'open') {
    sampler = open(request.precision);
    sampler.then(
      () => post({ type: 'ready' }),
      (error: Error) => post({ type: 'failed', code: codeOf(error), message: error.message }),
    );
  } else if (request.type === 'cancel') controllers.get(request.id)?.abort();
  else void sample(request.id, request);
});
