/**
 * What travels through Redis: the queue a job goes to, its data (one planned sampler batch
 * of `tessera batch`, plain JSON) and its result (the batch's prompts rendered: PNG bytes
 * as base64 and each prompt's record), and the job id that makes enqueueing idempotent.
 */
import { createHash } from 'node:crypto';
import { TesseraError } from '../errors.js';
import type { PromptRecord, RecordSpec } from '../output/batch.js';
import type { ResultFile, ResultFileKind } from '../output/writer.js';
import type { ResolvedImagePrompt } from '../pipeline/image-prompt.js';
import type { ResolvedRequest } from '../pipeline/settings.js';
import type { Device, GenerateRequest, ImagePromptInput, ImagesUsage, PrecisionReport, StageTimings } from '../types.js';

/** What a worker must run for a job's results to be the bytes a local run writes. */
export interface EngineIdentity {
  model: { name: string; manifestSha256: string };
  device: Device;
  /** The --clip folder's identity; null: the package's own CLIP (or none). */
  clip: { sha256: string } | null;
}

/**
 * One queue per engine identity: a worker only ever sees jobs its model, device and CLIP
 * can run byte-identically, and a client whose workers are absent waits (its progress says
 * "0 workers") rather than having its jobs fail on the wrong machine.
 */
export function queueNameOf(engine: EngineIdentity): string {
  const key = JSON.stringify([engine.model.manifestSha256, engine.device, engine.clip?.sha256 ?? null]);
  const slug = engine.model.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 32);
  return `tessera-${slug}-${engine.device}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

export const BATCH_JOB_NAME = 'batch';

/** One prompt of a planned batch: where its files go (stem, spec) and the request to sample. */
export interface JobPrompt {
  index: number;
  stem: string;
  spec: RecordSpec;
  /** The request as planned, unresolved: the worker resolves it against its manifest (bad input fails there, once). */
  request: GenerateRequest;
}

export interface BatchJobData {
  format: 'tessera-queue-batch';
  version: 1;
  engine: EngineIdentity;
  /** The batch's position in the run's plan (for messages; identity is the job id). */
  batch: number;
  prompts: JobPrompt[];
}

export interface JobFile {
  name: string;
  kind: ResultFileKind;
  /** The file's bytes, base64. */
  data: string;
}

/** A kept image's CLIP embedding, as its reranking on the worker computed it. */
export interface JobEmbedding {
  candidate: number;
  /** The float32 vector's bytes (little-endian, as every platform onnxruntime-node runs on stores them), base64. */
  data: string;
}

export interface BatchJobResult {
  /** The worker that ran the job (its --name, or host:pid). */
  worker: string;
  prompts: {
    index: number;
    files: JobFile[];
    record: PromptRecord;
    encodeMs: number;
    usage: ImagesUsage | null;
    footprint: Record<string, unknown> | null;
    /** The kept images' embeddings, for the folder's search index (absent from workers older than issue 22: `tessera search` embeds those images). */
    embeddings?: JobEmbedding[];
    precision?: PrecisionReport | null;
  }[];
  timings: StageTimings;
  /** Candidate images sampled, and the job's wall time on the worker (per-worker throughput). */
  images: number;
  elapsedMs: number;
}

/**
 * The job id: a hash of the run's settings and the batch's content. Adding a job whose id
 * exists is a no-op in BullMQ, so re-running `tessera batch --queue` after any crash finds
 * the jobs already queued, running or done instead of adding them again. (No ':' — BullMQ
 * keys are ':'-separated — and not an integer, which BullMQ reserves for its own ids.)
 */
export function jobIdOf(runKey: string, data: BatchJobData): string {
  const content = JSON.stringify([runKey, data.engine, data.prompts.map((p) => [p.index, p.stem, p.spec, p.request])]);
  return `b${data.batch}-${createHash('sha256').update(content).digest('hex').slice(0, 32)}`;
}

/**
 * A resolved request as the unresolved one that resolves to it (the worker checks it
 * again): a batch job's planned request (previews off) and, with its previewCandidates, a
 * `serve --queue` request on the worker.
 */
export function requestOf(resolved: ResolvedRequest, previewCandidates = 0): GenerateRequest {
  const s = resolved.settings;
  return {
    prompt: resolved.prompt,
    negativePrompt: resolved.negativePrompt ?? undefined,
    seed: resolved.seed,
    candidates: s.candidates,
    keep: s.keep,
    temperature: s.temperature,
    topK: s.topK,
    topP: s.topP,
    guidanceScale: s.guidanceScale,
    previewEvery: s.previewEvery,
    candidateIndices: resolved.candidateIndices,
    rerank: resolved.rerank,
    previewCandidates,
    // Text alone keeps the request (and so the job id) it always had.
    ...(resolved.image === null || resolved.image === undefined ? {} : { image: imageInputOf(resolved.image) }),
  };
}

/**
 * A resolved image prompt as the input that resolves to it: the source's pixels at the
 * model's size (base64) and the one setting of its mode (an edit's mask is its grid of
 * resampled cells). The pixels travel in the job's data, not as a path: a worker on another
 * machine cannot read the client's files, and the bytes pin what was asked. The codes do
 * not travel: the worker's VQ encoder makes them, as the local child's does (same engine,
 * same codes). Job data is foreign input to a worker: resolveRequest checks every field.
 */
export function imageInputOf(image: ResolvedImagePrompt): ImagePromptInput {
  // `adjusted` is only reported (a warning), never checked: anything but a string is dropped.
  const input: ImagePromptInput = { mode: image.mode, pixels: image.pixels, adjusted: typeof image.adjusted === 'string' ? image.adjusted : null };
  if (image.mode === 'complete') input.keepRows = image.keepRows ?? undefined;
  else if (image.mode === 'edit') input.resample = image.resample ?? undefined;
  else input.keepShare = image.keepShare ?? undefined;
  return input;
}

export function encodeFiles(files: readonly ResultFile[]): JobFile[] {
  return files.map((f) => ({ name: f.name, kind: f.kind, data: f.data.toString('base64') }));
}

export function decodeFiles(files: readonly JobFile[]): ResultFile[] {
  return files.map((f) => ({ name: f.name, kind: f.kind, data: Buffer.from(f.data, 'base64'), candidate: null }));
}

export function encodeEmbeddings(embeddings: ReadonlyMap<number, Float32Array>): JobEmbedding[] {
  return [...embeddings].map(([candidate, e]) => ({ candidate, data: Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64') }));
}

/** The embeddings of a job's prompt by candidate index; null when one is not a whole float32 vector of a candidate. */
export function decodeEmbeddings(embeddings: readonly JobEmbedding[] | undefined): Map<number, Float32Array> | null {
  const decoded = new Map<number, Float32Array>();
  if (embeddings === undefined) return decoded;
  if (!Array.isArray(embeddings)) return null;
  for (const { candidate, data } of embeddings) {
    if (!Number.isInteger(candidate) || typeof data !== 'string') return null;
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length === 0 || bytes.length % 4 !== 0) return null;
    // Copied into an aligned buffer of its own ([embed]).
    decoded.set(candidate, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
  }
  return decoded;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a job's data before any work (a hand-made or foreign job fails once, with TESSERA_ERR_QUEUE_JOB). */
export function checkJobData(data: unknown): BatchJobData {
  const bad = (why: string) => new TesseraError('TESSERA_ERR_QUEUE_JOB', `job data ${why}; expected a tessera-queue-batch version 1 job made by tessera batch --queue`);
  if (!isObject(data)) throw bad('is not an object');
  if (data.format !== 'tessera-queue-batch' || data.version !== 1) throw bad(`has format ${JSON.stringify(data.format)} version ${JSON.stringify(data.version)}`);
  if (!isObject(data.engine) || !isObject(data.engine.model)) throw bad('has no engine');
  if (!Array.isArray(data.prompts) || data.prompts.length === 0) throw bad('has no prompts');
  for (const p of data.prompts as unknown[]) {
    if (!isObject(p) || !Number.isInteger(p.index) || typeof p.stem !== 'string' || !isObject(p.spec) || !isObject(p.request)) {
      throw bad('has a prompt without index, stem, spec and request');
    }
    // The stem names files the client writes: a path in it would escape the output folder.
    if (!/^[\w.-]+$/.test(p.stem) || p.stem.startsWith('.')) throw bad(`has a prompt stem ${JSON.stringify(p.stem)} that is not a plain file name`);
  }
  return data as unknown as BatchJobData;
}
