/**
 * Writes one finished generation for the server through the one result writer
 * (src/output/server.ts: kept images at the requested size and format as
 * `image-<rank>.<ext>`, every candidate at native size as `candidate-<index>.png`, then
 * the record the store indexes). The engine only says where and how.
 */
import { writeServerResult, type GenerationRecord, type ServerOutput, type ServerResultSink } from '../../output/server.js';
import type { GenerationResult } from '../../types.js';
import type { ImageParams } from '../params.js';

/** Where the files and the record go (ResultStore is one). */
export type ResultFiles = ServerResultSink;

/** What the server's layout needs to know of the request. */
export type ResultLayout = ServerOutput;

export interface WrittenResult {
  record: GenerationRecord;
  /** The kept images as written, in record.images order. */
  images: Buffer[];
}

export function layoutFor(id: string, created: number, params: ImageParams): ResultLayout {
  return {
    id,
    created,
    format: params.outputFormat,
    size: params.size,
    user: params.user,
    nativeSize: params.model.manifest.image.size,
    kernel: params.upscale,
    quality: params.outputCompression,
  };
}

export async function writeResult(result: GenerationResult, layout: ResultLayout, files: ResultFiles): Promise<WrittenResult> {
  const { record, kept } = await writeServerResult(result, layout, files);
  return { record, images: kept.map((k) => k.data) };
}
