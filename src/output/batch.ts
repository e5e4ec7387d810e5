/**
 * The batch runner's layout (`tessera batch`): per prompt, names are deterministic
 * (zero-padded index and a slug of the prompt):
 *   NNNN-slug-grid.png                every candidate, ranked, with its CLIP score
 *   NNNN-slug-rR-cC.png               kept candidate C at rank R
 *   records/NNNN.json                 the prompt's completion record (written last)
 *   records/NNNN.timings.json         its timings (kept apart so records are byte-stable)
 * and for the folder, manifest.jsonl: one line per completed prompt, rebuilt from the records.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { roundScore } from '../image/index.js';
import type { Device, GenerationResult, ImagesUsage, PrecisionReport, StageTimings } from '../types.js';
import { slugOf } from '../util/fs.js';
import { renderResult, type ResultFile } from './writer.js';

export const MANIFEST_FILE = 'manifest.jsonl';
export const RECORDS_DIR = 'records';

/** The request as a prompt's record stores it; a record with another spec is outdated. */
export interface RecordSpec {
  prompt: string;
  negative_prompt: string | null;
  seed: number;
  candidates: number;
  keep: number;
  temperature: number;
  top_k: number;
  top_p: number;
  guidance: number;
  rerank: boolean;
  grid: boolean;
  model: string;
  model_sha256: string;
  device: Device;
  /** An image prompt's inputs (absent for text alone, so text records keep their bytes). */
  image?: {
    mode: 'complete' | 'edit' | 'vary';
    /** The path as the line gives it, and the SHA-256 of the file's bytes. */
    file: string;
    sha256: string;
    mask: string | null;
    mask_sha256: string | null;
    keep_rows: number | null;
    keep_share: number | null;
  };
}

/** records/NNNN.json: everything about a completed prompt except timings. */
export interface PromptRecord {
  format: 'tessera-batch-record';
  version: 1;
  index: number;
  spec: RecordSpec;
  /** All candidates, best first; scores rounded as in the images (image/metadata.ts SCORE_DECIMALS), so the record is the same on every CPU. */
  candidates: { index: number; rank: number; score: number | null; kept: boolean; file: string | null }[];
  grid: string | null;
  warnings: string[];
  /** SHA-256 of every file this prompt wrote (relative names). */
  files: Record<string, string>;
}

export interface PromptTimings {
  /** Timings of the sampler batch the prompt ran in (shared by its prompts). */
  batch: StageTimings & { prompts: number; candidates: number };
  /** Encoding this prompt's PNGs (alongside the other prompts of its batch). */
  encodeMs: number;
  /** Writing its files (fsync included). */
  writeMs: number;
  /** OpenAI's Images `usage` of the prompt (text tokens in, image tokens sampled). */
  usage?: ImagesUsage | null;
  /**
   * The prompt's footprint (footprintJson; its FLOPs share of its sampler batch's
   * measurement). Here and not in the record: a measurement differs between runs, and
   * records are byte-stable.
   */
  footprint?: Record<string, unknown> | null;
  /** Which precision of the package's graphs ran and why (forced, no-variant, measured, cached); absent in timings written before it existed. */
  precision?: PrecisionReport | null;
}

/** The name stem of a prompt's files: zero-padded index and a slug of the prompt. */
export function stemOf(index: number, prompt: string): string {
  return `${String(index).padStart(4, '0')}-${slugOf(prompt, 40)}`;
}

export function keptImageName(stem: string, rank: number, candidateIndex: number): string {
  return `${stem}-r${rank}-c${candidateIndex}.png`;
}

export function gridName(stem: string): string {
  return `${stem}-grid.png`;
}

export function recordName(index: number): string {
  return path.join(RECORDS_DIR, `${String(index).padStart(4, '0')}.json`);
}

export function timingsName(index: number): string {
  return path.join(RECORDS_DIR, `${String(index).padStart(4, '0')}.timings.json`);
}

/** JSON with a newline at the end; key order is the objects' construction order, so the bytes are deterministic. */
export function jsonFile(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Encodes one prompt's images (kept by rank, then the grid) and builds its record; writes nothing. */
export async function renderPrompt(
  result: GenerationResult,
  prompt: { index: number; stem: string; spec: RecordSpec },
): Promise<{ files: ResultFile[]; record: PromptRecord }> {
  const { index, stem, spec } = prompt;
  const keptName = (c: { rank: number; index: number }) => keptImageName(stem, c.rank, c.index);
  const grid = spec.grid ? gridName(stem) : null;
  const files = await renderResult(result, { keptName, gridName: grid, candidateName: null });
  const keptIndices = new Set(result.kept.map((c) => c.index));
  const record: PromptRecord = {
    format: 'tessera-batch-record',
    version: 1,
    index,
    spec,
    candidates: result.candidates.map((c) => {
      const kept = keptIndices.has(c.index);
      return { index: c.index, rank: c.rank, score: roundScore(c.score), kept, file: kept ? keptName(c) : null };
    }),
    grid,
    warnings: result.warnings,
    files: Object.fromEntries(files.map((f) => [f.name, sha256(f.data)])),
  };
  return { files, record };
}

/** One manifest.jsonl line: the record's facts in a flat, documented shape, timings last. */
export function manifestLine(record: PromptRecord, line: number, timings: PromptTimings): Record<string, unknown> {
  const { spec } = record;
  return {
    index: record.index,
    line,
    prompt: spec.prompt,
    negative_prompt: spec.negative_prompt,
    seed: spec.seed,
    parameters: {
      candidates: spec.candidates,
      keep: spec.keep,
      temperature: spec.temperature,
      top_k: spec.top_k,
      top_p: spec.top_p,
      guidance: spec.guidance,
      rerank: spec.rerank,
    },
    model: spec.model,
    model_sha256: spec.model_sha256,
    device: spec.device,
    images: record.candidates.filter((c) => c.kept).map((c) => ({ file: c.file, candidate: c.index, rank: c.rank, score: c.score, seed: spec.seed })),
    grid: record.grid,
    candidates: record.candidates.map((c) => ({ candidate: c.index, rank: c.rank, score: c.score })),
    warnings: record.warnings,
    record: recordName(record.index),
    timings,
  };
}
