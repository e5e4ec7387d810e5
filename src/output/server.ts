/**
 * The server's layout: one folder per generation (the server's ResultStore puts it at
 * `<dataDir>/results/<id>/`) holding the kept images at the requested size and format
 * as `image-<rank>.<ext>`, every candidate at native size as `candidate-<index>.png`,
 * and `record.json`, the GenerationRecord the HTTP API returns.
 */
import type { ImageFormat, UpscaleKernel } from '../image/index.js';
import { footprintJson } from '../footprint/report.js';
import type { Candidate, GenerationResult, ImagePromptSummary, ImagesUsage, PrecisionReport } from '../types.js';
import { renderResult, writeFiles, type ResultLayout } from './writer.js';

export interface StoredImage {
  rank: number;
  candidate_index: number;
  seed: number;
  clip_score: number | null;
  kept: boolean;
  file: string;
}

export interface GenerationRecord {
  id: string;
  object: 'generation';
  created: number;
  model: string;
  prompt: string;
  negative_prompt: string | null;
  seed: number;
  user: string | null;
  size: string;
  native_size: string;
  upscaled: boolean;
  output_format: string;
  settings: Record<string, unknown>;
  timings: Record<string, number>;
  warnings: string[];
  /** Kept images, best first, at the requested size and format. */
  images: StoredImage[];
  /** Every candidate, ranked, at native size (PNG). */
  candidates: StoredImage[];
  /** OpenAI's Images `usage` (text tokens in, image tokens sampled over all candidates); null in records written before it existed. */
  usage?: ImagesUsage | null;
  /** The request's footprint (footprintJson: FLOPs per stage, time, energy and its method, gCO2e); null when not measured. */
  footprint?: Record<string, unknown> | null;
  /** The image prompt (edit, completion, variation) the images came from; absent for text alone. */
  image_prompt?: ImagePromptSummary;
  /** Which precision of the package's graphs ran and why (forced, no-variant, measured, cached); absent in records written before it existed. */
  precision?: PrecisionReport | null;
}

/** What the request decided about its output, besides the result itself. */
export interface ServerOutput {
  /** The job id: the folder's name and the record's id. */
  id: string;
  /** Unix seconds. */
  created: number;
  user: string | null;
  /** Requested size; `upscaled` when it is not the model's native size. */
  size: { width: number; height: number; label: string; upscaled: boolean };
  /** The model's native image side in pixels. */
  nativeSize: number;
  format: ImageFormat;
  /** Resampling kernel when `size.upscaled` (the API's `upscale`; it defaults to lanczos3). */
  kernel: UpscaleKernel;
  /** jpeg/webp quality 1-100 (the API's output_compression); null: the encoder's default. */
  quality: number | null;
}

/** Where the server keeps results: files of a generation's folder, then its record (both written atomically). */
export interface ServerResultSink {
  writeFile(id: string, name: string, data: Uint8Array): Promise<void>;
  save(record: GenerationRecord): Promise<void>;
}

export interface KeptImage {
  stored: StoredImage;
  data: Buffer;
}

export function serverLayout(output: ServerOutput): ResultLayout {
  return {
    keptName: (candidate) => `image-${candidate.rank}.${output.format}`,
    keptFormat: output.format,
    keptSize: output.size.upscaled ? { width: output.size.width, height: output.size.height } : null,
    keptKernel: output.kernel,
    keptQuality: output.quality ?? undefined,
    gridName: null,
    candidateName: (candidate) => `candidate-${candidate.index}.png`,
    footprintMetadata: true,
  };
}

function storedImage(result: GenerationResult, candidate: Candidate, kept: boolean, file: string): StoredImage {
  return { rank: candidate.rank, candidate_index: candidate.index, seed: result.seed, clip_score: candidate.score, kept, file };
}

/**
 * Writes a generation's folder (kept images, then every candidate) and saves its record;
 * returns the record and the kept images' bytes (for b64_json responses).
 */
export async function writeServerResult(
  result: GenerationResult,
  output: ServerOutput,
  sink: ServerResultSink,
): Promise<{ record: GenerationRecord; kept: KeptImage[] }> {
  const files = await renderResult(result, serverLayout(output));
  await writeFiles({ write: (name, data) => sink.writeFile(output.id, name, typeof data === 'string' ? Buffer.from(data) : data) }, files);
  const keptIndices = new Set(result.kept.map((c) => c.index));
  const kept: KeptImage[] = [];
  const candidates: StoredImage[] = [];
  for (const { name, data, kind, candidate } of files) {
    if (candidate === null) continue;
    if (kind === 'kept') kept.push({ stored: storedImage(result, candidate, true, name), data });
    else candidates.push(storedImage(result, candidate, keptIndices.has(candidate.index), name));
  }
  const record: GenerationRecord = {
    id: output.id,
    object: 'generation',
    created: output.created,
    model: result.model,
    prompt: result.prompt,
    negative_prompt: result.negativePrompt,
    seed: result.seed,
    user: output.user,
    size: output.size.label,
    native_size: `${output.nativeSize}x${output.nativeSize}`,
    upscaled: output.size.upscaled,
    output_format: output.format,
    settings: { ...result.settings },
    timings: { ...result.timings },
    warnings: result.warnings,
    images: kept.map((k) => k.stored),
    candidates,
    usage: result.usage ?? null,
    footprint: result.footprint === undefined ? null : footprintJson(result.footprint),
    ...(result.imagePrompt === undefined ? {} : { image_prompt: result.imagePrompt }),
    precision: result.precision ?? null,
  };
  await sink.save(record);
  return { record, kept };
}
