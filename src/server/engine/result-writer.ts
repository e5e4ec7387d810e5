/**
 * Writes one finished generation for the server: the kept images at the requested size
 * and format (`image-<rank>.<ext>`, upscaled when asked), every candidate at native size
 * (`candidate-<index>.png`), then the record (the store indexes it). One function with a
 * narrow interface so the engine does not care how results are laid out or stored.
 */
import { encodeImage, encodePng, imageMetadataFor, upscale, type ImageFormat } from '../../image/index.js';
import type { Candidate, GenerationResult } from '../../pipeline/types.js';
import type { ImageParams } from '../params.js';
import type { GenerationRecord, StoredImage } from '../store.js';

/** Where the files and the record go (ResultStore is one). */
export interface ResultFiles {
  writeFile(id: string, name: string, data: Uint8Array): Promise<void>;
  save(record: GenerationRecord): Promise<void>;
}

/** What the server's layout needs to know of the request. */
export interface ResultLayout {
  /** The result's id (the job's): its folder and the record's id. */
  id: string;
  /** Unix seconds. */
  created: number;
  outputFormat: ImageFormat;
  size: { width: number; height: number; label: string; upscaled: boolean };
  user: string | null;
  /** The model's native image side. */
  nativeSize: number;
}

export interface WrittenResult {
  record: GenerationRecord;
  /** The kept images as written, in record.images order. */
  images: Buffer[];
}

export function layoutFor(id: string, created: number, params: ImageParams): ResultLayout {
  return { id, created, outputFormat: params.outputFormat, size: params.size, user: params.user, nativeSize: params.model.manifest.image.size };
}

export async function writeResult(result: GenerationResult, layout: ResultLayout, files: ResultFiles): Promise<WrittenResult> {
  const ext = layout.outputFormat;
  const keptIndices = new Set(result.kept.map((c) => c.index));
  const kept: StoredImage[] = [];
  const images: Buffer[] = [];
  for (const candidate of result.kept) {
    const meta = imageMetadataFor(result, candidate);
    const image = layout.size.upscaled ? await upscale(candidate.image, { width: layout.size.width, height: layout.size.height }) : candidate.image;
    const data = await encodeImage(image, ext, meta);
    const file = `image-${candidate.rank}.${ext}`;
    await files.writeFile(layout.id, file, data);
    kept.push(storedImage(result, candidate, true, file));
    images.push(data);
  }
  const candidates: StoredImage[] = [];
  for (const candidate of result.candidates) {
    const file = `candidate-${candidate.index}.png`;
    await files.writeFile(layout.id, file, await encodePng(candidate.image, imageMetadataFor(result, candidate)));
    candidates.push(storedImage(result, candidate, keptIndices.has(candidate.index), file));
  }
  const record: GenerationRecord = {
    id: layout.id,
    object: 'generation',
    created: layout.created,
    model: result.model,
    prompt: result.prompt,
    negative_prompt: result.negativePrompt,
    seed: result.seed,
    user: layout.user,
    size: layout.size.label,
    native_size: `${layout.nativeSize}x${layout.nativeSize}`,
    upscaled: layout.size.upscaled,
    output_format: ext,
    settings: { ...result.settings },
    timings: { ...result.timings },
    warnings: result.warnings,
    images: kept,
    candidates,
  };
  await files.save(record);
  return { record, images };
}

function storedImage(result: GenerationResult, candidate: Candidate, kept: boolean, file: string): StoredImage {
  return { rank: candidate.rank, candidate_index: candidate.index, seed: result.seed, clip_score: candidate.score, kept, file };
}
