/**
 * The one result writer. A face (the CLI, the batch runner, the server) describes its
 * folder with a ResultLayout: which files a generation result becomes, their names, and
 * the format and size of kept images. renderResult encodes them (every image carries its
 * metadata, see image/metadata.ts) and writeFiles writes them in order through a sink
 * that writes atomically (util/fs.ts writeFileAtomic, or the batch store built on it).
 *
 * What each file holds is the same for every face:
 *   kept       a kept candidate, with its metadata (rank and CLIP score included)
 *   grid       the ranked contact sheet of all candidates, kept ones framed; its
 *              metadata is the best candidate's without rank and score
 *   candidate  a candidate at native size as PNG, with its metadata
 */
import path from 'node:path';
import { composeGrid, encodeImage, encodePng, formatCandidateLabel, imageMetadataFor, upscale, type ImageFormat, type UpscaleKernel } from '../image/index.js';
import type { Candidate, GenerationResult } from '../types.js';
import { writeFileAtomic } from '../util/fs.js';

export interface ResultLayout {
  /** File name of a kept candidate. */
  keptName: (candidate: Candidate) => string;
  /** Format of kept images (default png). */
  keptFormat?: ImageFormat;
  /** Size kept images are upscaled to; null or absent: the model's size. */
  keptSize?: { width: number; height: number } | null;
  /** Resampling kernel of that upscaling (default: upscale()'s, nearest). */
  keptKernel?: UpscaleKernel;
  /** jpeg/webp quality of kept images, 1-100 (default: encodeImage()'s, 92). */
  keptQuality?: number;
  /** File name of the contact sheet of all candidates; null: no sheet. */
  gridName: string | null;
  /** File name of every candidate's native PNG; null: candidates are not written on their own. */
  candidateName: ((candidate: Candidate) => string) | null;
  /**
   * Write the request's footprint into each PNG (a `tessera:footprint` chunk). Off for
   * the batch layout: its files must be byte-identical when a prompt is generated
   * again, and a measurement differs between runs (batch keeps it in the timings file).
   */
  footprintMetadata?: boolean;
}

/** The metadata of one candidate's file under `layout`. */
function metadataOf(result: GenerationResult, candidate: Candidate, layout: ResultLayout) {
  const meta = imageMetadataFor(result, candidate);
  return layout.footprintMetadata === true && result.footprint !== undefined ? { ...meta, footprint: result.footprint } : meta;
}

export type ResultFileKind = 'kept' | 'grid' | 'candidate';

export interface ResultFile {
  name: string;
  data: Buffer;
  kind: ResultFileKind;
  /** The candidate the file shows; null for the grid. */
  candidate: Candidate | null;
}

/** Where files go: an atomic write of `name` (relative to the sink's folder). */
export interface FileSink {
  write(name: string, data: Uint8Array | string): Promise<void>;
}

async function encodeKept(result: GenerationResult, candidate: Candidate, layout: ResultLayout): Promise<Buffer> {
  const image = layout.keptSize ? await upscale(candidate.image, layout.keptSize, layout.keptKernel) : candidate.image;
  return encodeImage(image, layout.keptFormat ?? 'png', metadataOf(result, candidate, layout), layout.keptQuality);
}

async function encodeGrid(result: GenerationResult, layout: ResultLayout): Promise<Buffer> {
  const keptIndices = new Set(result.kept.map((c) => c.index));
  const sheet = await composeGrid(result.candidates.map((c) => ({ image: c.image, label: formatCandidateLabel(c.rank, c.score), kept: keptIndices.has(c.index) })));
  return encodePng(sheet, { ...metadataOf(result, result.candidates[0], layout), rank: undefined, score: null });
}

/**
 * Encodes the files of `result` under `layout`, in writing order: kept images best
 * first, the grid, then every candidate best first. All encodings run at once (sharp
 * works on its own threads); nothing is written.
 */
export async function renderResult(result: GenerationResult, layout: ResultLayout): Promise<ResultFile[]> {
  const pending: { name: string; data: Promise<Buffer>; kind: ResultFileKind; candidate: Candidate | null }[] = [];
  for (const candidate of result.kept) pending.push({ name: layout.keptName(candidate), data: encodeKept(result, candidate, layout), kind: 'kept', candidate });
  if (layout.gridName !== null) pending.push({ name: layout.gridName, data: encodeGrid(result, layout), kind: 'grid', candidate: null });
  const { candidateName } = layout;
  if (candidateName !== null) {
    for (const candidate of result.candidates) {
      pending.push({ name: candidateName(candidate), data: encodePng(candidate.image, metadataOf(result, candidate, layout)), kind: 'candidate', candidate });
    }
  }
  // Observe every promise now so one failure does not leave the others unhandled.
  const settled = await Promise.allSettled(pending.map((p) => p.data));
  return pending.map((p, i) => {
    const outcome = settled[i];
    if (outcome.status === 'rejected') throw outcome.reason;
    return { name: p.name, data: outcome.value, kind: p.kind, candidate: p.candidate };
  });
}

/** Writes `files` one after another, in order, through `sink`. */
export async function writeFiles(sink: FileSink, files: readonly { name: string; data: Uint8Array | string }[]): Promise<void> {
  for (const file of files) await sink.write(file.name, file.data);
}

/** A sink writing into `dir` (which must exist) with writeFileAtomic. */
export function folderSink(dir: string): FileSink {
  return { write: (name, data) => writeFileAtomic(path.join(dir, name), data) };
}
