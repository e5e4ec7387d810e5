/**
 * `tessera serve --queue`: one `generate` job per HTTP request, run by any `tessera worker`
 * of the request's engine (the batch jobs' queue; workers dispatch on the job name). This
 * module is the job's wire format: its data, its progress (the inference child's events,
 * step events thinned out, previews as base64) and its result (a GenerationResult with
 * pixels, codes and the kept images' CLIP embeddings as base64), and cancellation (a flag in the job's data the worker
 * watches, because BullMQ can only cancel a job from the process that runs it).
 */
import type { ResolvedRequest } from '../pipeline/settings.js';
import type { Candidate, GenerationEvent, GenerationResult, RgbImage } from '../types.js';
import type { EngineIdentity } from './jobs.js';

export const GENERATE_JOB_NAME = 'generate';

export interface GenerateJobData {
  format: 'tessera-queue-generate';
  version: 1;
  engine: EngineIdentity;
  request: ResolvedRequest;
  /** Set by the API replica that owns the request; the worker aborts the run when it sees it. */
  cancel?: string;
}

interface WireImage {
  width: number;
  height: number;
  data: string;
}

export type WireEvent = Exclude<GenerationEvent, { type: 'preview' }> | { type: 'preview'; step: number; steps: number; images: WireImage[] };

interface WireCandidate {
  index: number;
  tokens: string;
  image: WireImage;
  score: number | null;
  rank: number;
  /** A kept candidate's CLIP image embedding (float32 bytes, base64): the server's search index stores it. */
  embedding?: string;
}

export type WireResult = Omit<GenerationResult, 'candidates' | 'kept'> & { candidates: WireCandidate[]; kept: number[] };

const b64 = (bytes: Uint8Array | Int32Array | Float32Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

function encodeImage(image: RgbImage): WireImage {
  return { width: image.width, height: image.height, data: b64(image.data) };
}

function decodeImage(image: WireImage): RgbImage {
  return { width: image.width, height: image.height, data: new Uint8Array(Buffer.from(image.data, 'base64')) };
}

export function encodeEvent(event: GenerationEvent): WireEvent {
  return event.type === 'preview' ? { ...event, images: event.images.map(encodeImage) } : event;
}

export function decodeEvent(event: WireEvent): GenerationEvent {
  return event.type === 'preview' ? { ...event, images: event.images.map(decodeImage) } : event;
}

export function encodeResult(result: GenerationResult): WireResult {
  const kept = new Set(result.kept.map((c) => c.index));
  const candidates = result.candidates.map((c) => ({
    index: c.index,
    tokens: b64(c.tokens),
    image: encodeImage(c.image),
    score: c.score,
    rank: c.rank,
    ...(c.embedding !== undefined && kept.has(c.index) ? { embedding: b64(c.embedding) } : {}),
  }));
  return { ...result, candidates, kept: result.kept.map((c) => c.index) };
}

export function decodeResult(wire: WireResult): GenerationResult {
  const candidates: Candidate[] = wire.candidates.map((c) => {
    const bytes = Buffer.from(c.tokens, 'base64');
    // Copied into a fresh buffer: Int32Array needs 4-byte alignment.
    const tokens = new Int32Array(new Uint8Array(bytes).buffer, 0, bytes.length / 4);
    const candidate: Candidate = { index: c.index, tokens, image: decodeImage(c.image), score: c.score, rank: c.rank };
    if (typeof c.embedding === 'string') {
      const embedding = Buffer.from(c.embedding, 'base64');
      candidate.embedding = new Float32Array(new Uint8Array(embedding).buffer, 0, Math.floor(embedding.length / 4)); // [embed]
    }
    return candidate;
  });
  const byIndex = new Map(candidates.map((c) => [c.index, c]));
  return { ...wire, candidates, kept: wire.kept.map((i) => byIndex.get(i)!) };
}

/**
 * Thins out step events: every progress update is a Redis write and a pub/sub message to
 * every API replica, so steps go at most every `everyMs` (the last one always); start,
 * stage and preview events always go.
 */
export function stepThrottle(send: (event: GenerationEvent) => void, everyMs = 200): (event: GenerationEvent) => void {
  let last = 0;
  return (event) => {
    if (event.type === 'step' && event.step < event.steps) {
      const now = performance.now();
      if (now - last < everyMs) return;
      last = now;
    }
    send(event);
  };
}
