/**
 * Image output that says what it is. Every image Tessera writes carries:
 *
 * - PNG: a `parameters` text chunk in the AUTOMATIC1111 (stable-diffusion-webui)
 *   "infotext" layout, which image viewers and sites such as Civitai already read
 *   (tEXt, or iTXt when the text is not Latin-1); an XMP packet in an iTXt chunk
 *   with the keyword `XML:com.adobe.xmp` (the XMP Specification Part 3, 1.1.5)
 *   declaring the IPTC digital source type `trainedAlgorithmicMedia`, the mark
 *   for AI-generated media (IPTC Photo Metadata Standard 2023.1, Digital Source
 *   Type NewsCodes); and a `tessera` iTXt chunk holding the metadata as JSON for
 *   machines; and, where the face asks for it (CLI, server), a `tessera:footprint`
 *   iTXt chunk: what the request this image came from cost (FLOPs, time, energy,
 *   gCO2e; the request's whole figure, all candidates). It is a measurement of one
 *   run, so it is a chunk of its own: everything else in the file is a function of
 *   the request alone.
 *
 * JPEG and WebP carry the XMP packet and the parameters text (see encode.ts, which
 * encodes and resizes). This module writes the metadata; metadata-reader.ts reads it back.
 */
import type { Candidate, Footprint, GenerationResult, ImagePromptSummary } from '../types.js';
import { escapeXml } from '../util/xml.js';
import { parsePngChunks, serializePngChunks } from './png-chunks.js';
import { createInternationalTextChunk, createTextChunkAuto, decodeTextChunk, replaceTextChunks } from './png-text-chunks.js';
import { imageError } from './rgb.js';

/** What one generated image records about how it was made. */
export interface ImageMetadata {
  prompt: string;
  negativePrompt: string | null;
  /** Base seed of the request; with candidateIndex it reproduces the image. */
  seed: number;
  candidateIndex: number;
  /** Number of sampled image tokens (grid h * w), when known. */
  steps?: number;
  temperature: number;
  topK: number;
  topP: number;
  guidanceScale: number;
  /** Candidates sampled in the request this image was kept from. */
  candidates: number;
  model: string;
  /** CLIP cosine similarity with the prompt; null when reranking was off. */
  score: number | null;
  /** 1-based rank among the request's candidates. */
  rank?: number;
  /** The footprint of the request the image came from (its own chunk, see above). */
  footprint?: Footprint;
  /** The image prompt (completion, edit, variation) the image came from. */
  imagePrompt?: ImagePromptSummary;
}

/** IPTC NewsCodes URI for "created by a model trained on sampled content". */
export const TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';
/**
 * IPTC NewsCodes URI for "a composite that includes trained algorithmic media": an image
 * prompt that kept codes of a source image (an edit, a completion, a variation keeping a share).
 */
export const COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia';

/** The digital source type an image's metadata declares: composite when it kept part of a source image. */
export function digitalSourceTypeOf(meta: ImageMetadata): string {
  const p = meta.imagePrompt;
  const keptSource = p !== undefined && !(p.mode === 'vary' && p.keepShare === 0);
  return keptSource ? COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA : TRAINED_ALGORITHMIC_MEDIA;
}
export const IPTC_EXT_NAMESPACE = 'http://iptc.org/std/Iptc4xmpExt/2008-02-29/';
/** The keyword under which XMP lives in PNG (XMP Specification Part 3). */
export const XMP_PNG_KEYWORD = 'XML:com.adobe.xmp';
export const PARAMETERS_KEYWORD = 'parameters';
export const TESSERA_KEYWORD = 'tessera';
export const FOOTPRINT_KEYWORD = 'tessera:footprint';

/**
 * The PNG without its footprint chunk: the one part of a result file that measures the run
 * (time, energy) rather than follows from the request, so byte comparisons leave it out.
 */
export function withoutFootprintChunk(png: Buffer): Buffer {
  return serializePngChunks(parsePngChunks(png).filter((chunk) => decodeTextChunk(chunk)?.keyword !== FOOTPRINT_KEYWORD));
}
export const SAMPLER_NAME = 'tessera-autoregressive';

/**
 * Decimals a CLIP score keeps in what is written into a file (the `tessera` chunk, the
 * infotext, a batch folder's records): what a person reads, as AUTOMATIC1111's infotext
 * rounds its values. The full float's last digits depend on which SIMD kernels the CPU
 * gives onnxruntime (AVX2, AVX-512 VNNI, AMX differ in summation order), so a file that
 * carried them would differ from one machine to the next for the same request (issue 22).
 * The JSON API and the CLI's --json keep full precision.
 */
export const SCORE_DECIMALS = 4;

/** A score rounded to SCORE_DECIMALS (the nearest double to k / 10^4, so it prints with at most 4 decimals). */
export function roundScore(score: number): number;
export function roundScore(score: number | null): number | null;
export function roundScore(score: number | null): number | null {
  if (score === null) return null;
  const scale = 10 ** SCORE_DECIMALS;
  const rounded = Math.round(score * scale) / scale;
  return rounded === 0 ? 0 : rounded; // no "-0" in JSON or text
}
const CREATOR_TOOL = 'Tessera';

/**
 * A1111 quotes a value that contains a comma, colon or newline as a JSON string
 * (modules/infotext_utils.py, `quote`), so the `Key: value, ...` line stays parseable.
 */
function quoteInfotextValue(value: string): string {
  return /[,:\n"]/.test(value) ? JSON.stringify(value) : value;
}

/**
 * Formats the A1111 infotext: the prompt, then `Negative prompt: …` when there is
 * one, then one line of `Key: value` pairs. Readers take the last line as the
 * pairs, so multi-line prompts survive.
 */
export function formatParameters(meta: ImageMetadata, size: { width: number; height: number }): string {
  const pairs: [string, string][] = [];
  if (meta.steps !== undefined) pairs.push(['Steps', String(meta.steps)]);
  pairs.push(
    ['Sampler', SAMPLER_NAME],
    ['CFG scale', String(meta.guidanceScale)],
    ['Seed', String(meta.seed)],
    ['Size', `${size.width}x${size.height}`],
    ['Model', quoteInfotextValue(meta.model)],
    ['Candidate', String(meta.candidateIndex)],
    ['Candidates', String(meta.candidates)],
    ['Temperature', String(meta.temperature)],
    ['Top-k', String(meta.topK)],
    ['Top-p', String(meta.topP)],
  );
  if (meta.score !== null) pairs.push(['CLIP score', roundScore(meta.score).toFixed(SCORE_DECIMALS)]);
  if (meta.rank !== undefined) pairs.push(['Rank', String(meta.rank)]);
  if (meta.imagePrompt !== undefined) pairs.push(['Image prompt', describeImagePrompt(meta.imagePrompt)]);
  const lines = [meta.prompt];
  if (meta.negativePrompt !== null && meta.negativePrompt !== '') lines.push(`Negative prompt: ${meta.negativePrompt}`);
  lines.push(pairs.map(([key, value]) => `${key}: ${value}`).join(', '));
  return lines.join('\n');
}

/** "complete 4 rows", "edit 12/64 codes", "vary keep 0.5", then the source's hash prefix. */
function describeImagePrompt(p: ImagePromptSummary): string {
  const setting = p.mode === 'complete' ? `${p.keepRows} rows` : p.mode === 'edit' ? `${p.resampledCells}/${p.cells} codes` : `keep ${p.keepShare}`;
  return `${p.mode} ${setting} of ${p.sourceSha256.slice(0, 12)}`;
}

/**
 * The XMP packet: the IPTC digital source type, the creator tool and the
 * parameters text as dc:description. Written as plain RDF/XML so that any XMP
 * reader (exiftool, Adobe, Photoshop's "Content Credentials" panel) finds it.
 */
export function buildXmpPacket(parameters: string, digitalSourceType: string = TRAINED_ALGORITHMIC_MEDIA): string {
  return [
    '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    '  <rdf:Description rdf:about=""',
    `    xmlns:Iptc4xmpExt="${IPTC_EXT_NAMESPACE}"`,
    '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
    '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
    `    Iptc4xmpExt:DigitalSourceType="${digitalSourceType}"`,
    `    xmp:CreatorTool="${CREATOR_TOOL}">`,
    '   <dc:description>',
    '    <rdf:Alt>',
    `     <rdf:li xml:lang="x-default">${escapeXml(parameters)}</rdf:li>`,
    '    </rdf:Alt>',
    '   </dc:description>',
    '  </rdf:Description>',
    ' </rdf:RDF>',
    '</x:xmpmeta>',
    '<?xpacket end="w"?>',
  ].join('\n');
}

/** Throws TESSERA_ERR_IMAGE unless the fields every format writes are present and finite. */
export function validateMetadata(meta: ImageMetadata): void {
  if (typeof meta.prompt !== 'string') throw imageError('image metadata: prompt must be a string', { param: 'prompt' });
  for (const key of ['seed', 'candidateIndex', 'temperature', 'topK', 'topP', 'guidanceScale', 'candidates'] as const) {
    if (typeof meta[key] !== 'number' || !Number.isFinite(meta[key])) {
      throw imageError(`image metadata: ${key} must be a finite number, got ${JSON.stringify(meta[key])}`, { param: key });
    }
  }
  if (meta.score !== null && (typeof meta.score !== 'number' || !Number.isFinite(meta.score))) {
    throw imageError(`image metadata: score must be a finite number or null, got ${JSON.stringify(meta.score)}`, { param: 'score' });
  }
}

/** Copies only the known fields, in a fixed order, so the JSON is stable byte for byte (the score rounded, see SCORE_DECIMALS). */
function canonicalMetadata(meta: ImageMetadata): ImageMetadata {
  return {
    prompt: meta.prompt,
    negativePrompt: meta.negativePrompt,
    seed: meta.seed,
    candidateIndex: meta.candidateIndex,
    ...(meta.steps === undefined ? {} : { steps: meta.steps }),
    temperature: meta.temperature,
    topK: meta.topK,
    topP: meta.topP,
    guidanceScale: meta.guidanceScale,
    candidates: meta.candidates,
    model: meta.model,
    score: roundScore(meta.score),
    ...(meta.rank === undefined ? {} : { rank: meta.rank }),
    ...(meta.imagePrompt === undefined ? {} : { imagePrompt: meta.imagePrompt }),
  };
}

/** The metadata of one candidate of a generation result (steps = its number of image tokens). */
export function imageMetadataFor(result: GenerationResult, candidate: Candidate): ImageMetadata {
  return {
    prompt: result.prompt,
    negativePrompt: result.negativePrompt,
    seed: result.seed,
    candidateIndex: candidate.index,
    steps: candidate.tokens.length,
    temperature: result.settings.temperature,
    topK: result.settings.topK,
    topP: result.settings.topP,
    guidanceScale: result.settings.guidanceScale,
    candidates: result.settings.candidates,
    model: result.model,
    score: candidate.score,
    rank: candidate.rank,
    ...(result.imagePrompt === undefined ? {} : { imagePrompt: result.imagePrompt }),
  };
}

/** Adds the parameters, XMP and tessera chunks to an existing PNG (replacing any with the same keywords). */
export function addPngMetadata(png: Uint8Array, meta: ImageMetadata): Buffer {
  validateMetadata(meta);
  const chunks = parsePngChunks(png);
  const ihdr = chunks[0].data;
  const parameters = formatParameters(meta, { width: ihdr.readUInt32BE(0), height: ihdr.readUInt32BE(4) });
  return replaceTextChunks(png, [
    createTextChunkAuto(PARAMETERS_KEYWORD, parameters),
    // XMP in PNG is uncompressed iTXt with empty language tag and translated keyword (XMP spec Part 3).
    createInternationalTextChunk(XMP_PNG_KEYWORD, buildXmpPacket(parameters, digitalSourceTypeOf(meta))),
    createInternationalTextChunk(TESSERA_KEYWORD, JSON.stringify(canonicalMetadata(meta))),
    ...(meta.footprint === undefined ? [] : [createInternationalTextChunk(FOOTPRINT_KEYWORD, JSON.stringify({ scope: 'request', ...meta.footprint }))]),
  ]);
}
