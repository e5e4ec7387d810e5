/**
 * The worker thread of pixel-pool.ts: runs the per-pixel loops of input images off the
 * HTTP event loop. One message in (a job), one message out (its result or its error).
 */
import { parentPort } from 'node:worker_threads';
import { transparentFromAlpha } from './mask-pixels.js';
import type { PixelJob, PixelReply } from './pixel-pool.js';

parentPort?.on('message', (job: PixelJob) => {
  let reply: PixelReply;
  try {
    const changed = transparentFromAlpha(job.alpha, job.width, job.height, job.size);
    reply = { id: job.id, changed };
    parentPort?.postMessage(reply, [changed.buffer as ArrayBuffer]);
  } catch (error) {
    reply = { id: job.id, error: (error as Error).message };
    parentPort?.postMessage(reply);
  }
});
