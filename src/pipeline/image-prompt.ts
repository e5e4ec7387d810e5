/**
 * Image prompts (DALL·E 2021's image completion; OpenAI's edits and variations): a source
 * image is encoded to codes by the package's VQ encoder and part of those codes is forced
 * while the rest is sampled (src/sampler/conditioning.ts).
 *
 *   complete  the first k rows of codes are a forced prefix; the rest follows the prompt
 *   edit      codes outside the mask are forced at their positions; inside are sampled
 *   vary      a share of the codes (or none), at positions drawn per candidate, is kept;
 *             the rest is resampled with no text or a caption; CLIP ranks by similarity
 *             to the source image
 *
 * The positions a variation keeps come from a stream keyed by (seed, candidate) apart from
 * the sampling stream, so a candidate's outputs are the same alone or batched.
 */
import { forcedOutsideMask, forcedPrefix } from '../sampler/conditioning.js';
import { CandidateStream } from '../sampler/rng.js';
import { TesseraError, allowed } from '../errors.js';
import { maskToGrid, readInputImage, readMask } from '../image/input.js';
import type { ModelManifest } from '../model/manifest.js';
import { createHash } from 'node:crypto';
import { IMAGE_PROMPT_MODES, type ImagePromptInput, type ImagePromptMode, type ImagePromptSummary, type RgbImage } from '../types.js';

/** Share of the source's codes a variation keeps when none is given. */
export const DEFAULT_KEEP_SHARE = 0.5;

/** An image prompt after its checks; `codes` are filled by Tessera.prepareRequest (the encoder runs where the model is). */
export interface ResolvedImagePrompt {
  mode: ImagePromptMode;
  pixels: string;
  keepRows: number | null;
  resample: number[] | null;
  keepShare: number | null;
  adjusted: string | null;
  /** The source's codes, row-major over the grid; null until encoded. */
  codes: number[] | null;
}

/** How messages name a setting: its published spelling (API fields, prompt-file keys), never the code's camelCase. */
const PUBLISHED: Record<string, string> = { keepRows: 'keep_rows', keepShare: 'keep_share', resample: "the mask's grid cells" };

function optionError(param: string, message: string): TesseraError {
  return new TesseraError('TESSERA_ERR_OPTION', `${PUBLISHED[param] ?? param} ${message}`, { param });
}

/** Throws TESSERA_ERR_NO_IMAGE_ENCODER when the package cannot turn pixels into codes. */
export function checkImageEncoder(manifest: ModelManifest): void {
  if (manifest.encoder === null) {
    throw new TesseraError(
      'TESSERA_ERR_NO_IMAGE_ENCODER',
      `model ${manifest.name} has no image encoder (manifest "encoder" is null): completion, edits and variations need one; DALL·E Mini/Mega packages converted from min-dalle have none`,
      { param: 'image' },
    );
  }
}

/** Checks an image prompt against the model: mode, pixel count, and the one setting its mode takes. */
export function resolveImagePrompt(input: ImagePromptInput, manifest: ModelManifest): ResolvedImagePrompt {
  checkImageEncoder(manifest);
  const { size, grid } = manifest.image;
  if (!IMAGE_PROMPT_MODES.includes(input.mode)) throw optionError('mode', `must be one of ${allowed(IMAGE_PROMPT_MODES)}, got ${JSON.stringify(input.mode)}`);
  if (typeof input.pixels !== 'string' || Buffer.from(input.pixels, 'base64').length !== size * size * 3) {
    throw optionError('image', `pixels must be ${size}x${size} RGB (${size * size * 3} bytes, base64)`);
  }
  const foreign = (['keepRows', 'resample', 'keepShare'] as const).filter((k) => input[k] !== undefined && k !== settingOf(input.mode));
  if (foreign.length > 0) throw optionError(foreign[0], `does not apply to mode ${JSON.stringify(input.mode)} (${PUBLISHED[settingOf(input.mode)]} does)`);
  const resolved: ResolvedImagePrompt = { mode: input.mode, pixels: input.pixels, keepRows: null, resample: null, keepShare: null, adjusted: input.adjusted ?? null, codes: null };
  if (input.mode === 'complete') {
    const rows = input.keepRows;
    if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 1 || rows >= grid.height) {
      throw optionError('keepRows', `must be an integer from 1 to ${grid.height - 1} (the grid has ${grid.height} rows of codes), got ${JSON.stringify(rows)}`);
    }
    resolved.keepRows = rows;
  } else if (input.mode === 'edit') {
    const cells = grid.height * grid.width;
    const r = input.resample;
    if (!Array.isArray(r) || r.length !== cells || r.some((v) => v !== 0 && v !== 1)) throw optionError('resample', `must be ${cells} entries of 0 or 1 (one per grid cell)`);
    if (!r.includes(1)) throw new TesseraError('TESSERA_ERR_MASK', 'the mask marks nothing to change', { param: 'mask' });
    resolved.resample = r;
  } else {
    const share = input.keepShare ?? DEFAULT_KEEP_SHARE;
    if (typeof share !== 'number' || !Number.isFinite(share) || share < 0 || share >= 1) {
      throw optionError('keepShare', `must be a number from 0 (keep no code) to below 1, got ${JSON.stringify(share)}`);
    }
    resolved.keepShare = share;
  }
  return resolved;
}

function settingOf(mode: ImagePromptMode): 'keepRows' | 'resample' | 'keepShare' {
  return mode === 'complete' ? 'keepRows' : mode === 'edit' ? 'resample' : 'keepShare';
}

/** The forced codes of one candidate (FREE where sampled). */
export function forcedFor(image: ResolvedImagePrompt, seed: number, candidateIndex: number, grid: { height: number; width: number }): Int32Array {
  const codes = image.codes;
  if (codes === null) throw new TesseraError('TESSERA_ERR_INFERENCE', 'the image prompt was not encoded before sampling');
  const cells = grid.height * grid.width;
  if (image.mode === 'complete') return forcedPrefix(codes.slice(0, (image.keepRows ?? 0) * grid.width), cells);
  if (image.mode === 'edit') return forcedOutsideMask(codes, image.resample ?? []);
  return forcedOutsideMask(codes, resampledPositions(cells, image.keepShare ?? 0, seed, candidateIndex));
}

/**
 * Which positions a variation resamples: all but round(share * cells), the kept ones drawn
 * by a partial Fisher-Yates shuffle from a stream keyed by (seed + 2^32, candidate). Seeds
 * are below 2^32, so this stream is never a sampling stream.
 */
export function resampledPositions(cells: number, share: number, seed: number, candidateIndex: number): Uint8Array {
  const resample = new Uint8Array(cells).fill(1);
  const keep = Math.round(share * cells);
  const order = Array.from({ length: cells }, (_, j) => j);
  const stream = new CandidateStream(seed + 2 ** 32, candidateIndex);
  for (let i = 0; i < keep; i++) {
    const j = i + Math.floor(stream.uniform() * (cells - i));
    [order[i], order[j]] = [order[j], order[i]];
    resample[order[i]] = 0;
  }
  return resample;
}

/** The source image of a resolved prompt. */
export function sourceImage(image: ResolvedImagePrompt, size: number): RgbImage {
  return { width: size, height: size, data: new Uint8Array(Buffer.from(image.pixels, 'base64')) };
}

/** What results, image metadata and records say of an image prompt. */
export function summaryOf(image: ResolvedImagePrompt): ImagePromptSummary {
  const sourceSha256 = createHash('sha256').update(Buffer.from(image.pixels, 'base64')).digest('hex');
  if (image.mode === 'complete') return { mode: 'complete', keepRows: image.keepRows ?? 0, sourceSha256 };
  if (image.mode === 'edit') {
    const resample = image.resample ?? [];
    return { mode: 'edit', resampledCells: resample.filter((v) => v === 1).length, cells: resample.length, sourceSha256 };
  }
  return { mode: 'vary', keepShare: image.keepShare ?? 0, sourceSha256 };
}

export interface ImagePromptFiles {
  mode: ImagePromptMode;
  /** The input image's bytes (PNG, JPEG, WebP, ...). */
  image: Uint8Array;
  /** edit: a PNG the image's size whose fully transparent pixels mark what to change; without it the image's own transparency is the mask. */
  mask?: Uint8Array;
  keepRows?: number;
  keepShare?: number;
}

/**
 * Builds the image half of a request from file bytes (the CLI, the server and batch
 * share it): reads and fits the image, reads the mask, checks everything against the
 * model. Throws catalogue errors (TESSERA_ERR_INPUT_IMAGE, _MASK, _NO_IMAGE_ENCODER, _OPTION).
 */
export async function imagePromptFromBytes(files: ImagePromptFiles, manifest: ModelManifest): Promise<ImagePromptInput> {
  checkImageEncoder(manifest);
  const { size, grid } = manifest.image;
  if (files.mask !== undefined && files.mode !== 'edit') throw optionError('mask', `applies only to mode "edit", not ${JSON.stringify(files.mode)}`);
  if (files.keepRows !== undefined && files.mode !== 'complete') throw optionError('keepRows', `applies only to mode "complete", not ${JSON.stringify(files.mode)}`);
  if (files.keepShare !== undefined && files.mode !== 'vary') throw optionError('keepShare', `applies only to mode "vary", not ${JSON.stringify(files.mode)}`);
  const input = await readInputImage(files.image, size, 'image');
  const prompt: ImagePromptInput = { mode: files.mode, pixels: Buffer.from(input.image.data).toString('base64'), adjusted: input.adjusted };
  if (files.mode === 'complete') prompt.keepRows = files.keepRows;
  if (files.mode === 'vary' && files.keepShare !== undefined) prompt.keepShare = files.keepShare;
  if (files.mode === 'edit') {
    let changed: Uint8Array;
    if (files.mask !== undefined) changed = await readMask(files.mask, input.origin, size, 'mask');
    else if (input.transparent !== null && input.transparent.includes(1)) changed = input.transparent;
    else throw new TesseraError('TESSERA_ERR_MASK', 'an edit needs a mask (a PNG whose fully transparent pixels mark what to change), or an image with fully transparent pixels', { param: 'mask' });
    prompt.resample = Array.from(maskToGrid(changed, size, grid));
  }
  resolveImagePrompt(prompt, manifest);
  return prompt;
}
