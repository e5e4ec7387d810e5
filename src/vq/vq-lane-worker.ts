/**
 * The worker thread of a VQ decoding lane (vq-lanes.ts): opens the decoder graph it is given
 * on one intra-op thread, then decodes the grids it is sent one per call and posts each
 * image's interleaved RGB bytes back (transferred).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isTesseraError } from '../errors.js';
import { createSession } from '../model/runtime.js';
import { decodeCall, planarToRgb, VQ_SESSION } from './vq-codec.js';
import type { VqLaneLoad, VqLaneReply, VqLaneRequest } from './vq-lanes.js';

const port = parentPort!;
const load = workerData as VqLaneLoad;
const post = (reply: VqLaneReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
const codeOf = (error: unknown) => (isTesseraError(error) ? error.code : null);

// One grid per call: the same time per image as four here, and a quarter of the activations (docs/benchmarks.md).
const session = createSession(load.graph, 'cpu', undefined, { ...VQ_SESSION, intraOpNumThreads: 1 });
session.then(
  () => post({ type: 'ready' }),
  (error: Error) => post({ type: 'failed', code: codeOf(error), message: error.message }),
);

port.on('message', async ({ id, codes, count }: VqLaneRequest) => {
  try {
    const decoder = await session;
    const cells = load.height * load.width;
    const pixels: Uint8Array[] = [];
    for (let b = 0; b < count; b++) {
      const grid = BigInt64Array.from(codes.subarray(b * cells, (b + 1) * cells), (code) => BigInt(code)); // [1, h, w]
      const planar = await decodeCall(decoder, grid, 1, load.height, load.width); // [1, 3, size, size] in [0, 1]
      pixels.push(planarToRgb(planar, 0, load.size).data);
    }
    post({ type: 'done', id, result: pixels }, pixels.map((p) => p.buffer as ArrayBuffer));
  } catch (error) {
    post({ type: 'error', id, code: codeOf(error), message: (error as Error).message });
  }
});
