/**
 * PNG textual chunks (PNG spec 11.3.3: tEXt, zTXt, iTXt): building them with checked
 * keywords, decoding any of the three, and replacing the ones a new set supersedes. Kept
 * apart from png-chunks.ts, the chunk layer (signature, lengths, CRCs, IHDR), which knows
 * nothing of what a chunk's data means; this module is where text encodings and
 * compression live.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { imageError } from './rgb.js';
import { parsePngChunks, serializePngChunks, type PngChunk } from './png-chunks.js';

export type TextChunkType = 'tEXt' | 'zTXt' | 'iTXt';

/** A decoded textual chunk of any of the three kinds. */
export interface PngTextEntry {
  keyword: string;
  text: string;
  chunkType: TextChunkType;
  /** iTXt only: RFC 3066 language tag, '' when unspecified. */
  languageTag?: string;
  /** iTXt only: the keyword translated into the language, '' when unspecified. */
  translatedKeyword?: string;
}

export interface InternationalTextOptions {
  languageTag?: string;
  translatedKeyword?: string;
  /** Deflate the text (iTXt compression flag 1). XMP readers expect it uncompressed. */
  compressed?: boolean;
}

const TEXT_CHUNK_TYPES: ReadonlySet<string> = new Set<TextChunkType>(['tEXt', 'zTXt', 'iTXt']);

/**
 * Keywords are 1-79 Latin-1 characters, printable or non-breaking space, with no
 * leading, trailing or consecutive spaces (PNG spec 11.3.3.2).
 */
function validateKeyword(keyword: string): void {
  const ok =
    keyword.length >= 1 &&
    keyword.length <= 79 &&
    /^[\x20-\x7e\xa1-\xff]+$/.test(keyword) &&
    !keyword.startsWith(' ') &&
    !keyword.endsWith(' ') &&
    !keyword.includes('  ');
  if (!ok) {
    throw imageError(
      `invalid PNG text keyword ${JSON.stringify(keyword)}: expected 1-79 printable Latin-1 characters without leading, trailing or double spaces`,
    );
  }
}

/**
 * True when `text` can go in a tEXt chunk: Latin-1 only, with line feeds but no
 * other control characters (PNG spec 11.3.3.2 excludes 0x00-0x1F but LF, and 0x7F-0x9F).
 */
export function isLatin1Text(text: string): boolean {
  return /^[\n\x20-\x7e\xa0-\xff]*$/.test(text);
}

/** A tEXt chunk; throws TESSERA_ERR_IMAGE when `text` is not Latin-1 (use iTXt for that). */
export function createTextChunk(keyword: string, text: string): PngChunk {
  validateKeyword(keyword);
  if (!isLatin1Text(text)) {
    throw imageError(`text for PNG keyword ${JSON.stringify(keyword)} is not Latin-1: write it as iTXt`);
  }
  return { type: 'tEXt', data: Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0), Buffer.from(text, 'latin1')]) };
}

/** An iTXt chunk (UTF-8 text, optional language tag and translated keyword). */
export function createInternationalTextChunk(keyword: string, text: string, options: InternationalTextOptions = {}): PngChunk {
  validateKeyword(keyword);
  const languageTag = options.languageTag ?? '';
  if (!/^[A-Za-z0-9-]*$/.test(languageTag)) {
    throw imageError(`invalid iTXt language tag ${JSON.stringify(languageTag)}: expected letters, digits and hyphens`);
  }
  const translatedKeyword = options.translatedKeyword ?? '';
  if (translatedKeyword.includes('\0') || text.includes('\0')) {
    throw imageError(`iTXt text for keyword ${JSON.stringify(keyword)} contains a NUL character`);
  }
  const compressed = options.compressed === true;
  const textBytes = Buffer.from(text, 'utf8');
  return {
    type: 'iTXt',
    data: Buffer.concat([
      Buffer.from(keyword, 'latin1'),
      Buffer.of(0, compressed ? 1 : 0, 0), // NUL, compression flag, compression method 0 (zlib)
      Buffer.from(languageTag, 'latin1'),
      Buffer.of(0),
      Buffer.from(translatedKeyword, 'utf8'),
      Buffer.of(0),
      compressed ? deflateSync(textBytes) : textBytes,
    ]),
  };
}

/** tEXt when the text is Latin-1, iTXt otherwise: plain readers see tEXt, and nothing is lost. */
export function createTextChunkAuto(keyword: string, text: string): PngChunk {
  return isLatin1Text(text) ? createTextChunk(keyword, text) : createInternationalTextChunk(keyword, text);
}

function nulIndex(data: Buffer, from: number, what: string, type: string): number {
  const index = data.indexOf(0, from);
  if (index < 0) throw imageError(`corrupt PNG: ${type} chunk has no NUL after its ${what}`);
  return index;
}

function inflateText(data: Buffer, type: string, keyword: string): Buffer {
  try {
    return inflateSync(data);
  } catch (error) {
    throw imageError(`corrupt PNG: compressed ${type} text for keyword ${JSON.stringify(keyword)} does not inflate`, { cause: error });
  }
}

/** Decodes one tEXt, zTXt or iTXt chunk; returns undefined for any other chunk type. */
export function decodeTextChunk(chunk: PngChunk): PngTextEntry | undefined {
  const { type, data } = chunk;
  if (!TEXT_CHUNK_TYPES.has(type)) return undefined;
  const keywordEnd = nulIndex(data, 0, 'keyword', type);
  const keyword = data.toString('latin1', 0, keywordEnd);
  if (type === 'tEXt') {
    return { keyword, text: data.toString('latin1', keywordEnd + 1), chunkType: 'tEXt' };
  }
  if (type === 'zTXt') {
    if (data[keywordEnd + 1] !== 0) throw imageError(`corrupt PNG: zTXt chunk ${JSON.stringify(keyword)} uses an unknown compression method`);
    return { keyword, text: inflateText(data.subarray(keywordEnd + 2), type, keyword).toString('latin1'), chunkType: 'zTXt' };
  }
  const compressionFlag = data[keywordEnd + 1];
  const compressionMethod = data[keywordEnd + 2];
  if (compressionFlag === undefined || compressionMethod === undefined || compressionFlag > 1 || compressionMethod !== 0) {
    throw imageError(`corrupt PNG: iTXt chunk ${JSON.stringify(keyword)} has an invalid compression flag or method`);
  }
  const languageEnd = nulIndex(data, keywordEnd + 3, 'language tag', type);
  const translatedEnd = nulIndex(data, languageEnd + 1, 'translated keyword', type);
  const body = data.subarray(translatedEnd + 1);
  return {
    keyword,
    text: (compressionFlag === 1 ? inflateText(body, type, keyword) : body).toString('utf8'),
    chunkType: 'iTXt',
    languageTag: data.toString('latin1', keywordEnd + 3, languageEnd),
    translatedKeyword: data.toString('utf8', languageEnd + 1, translatedEnd),
  };
}

/** All textual chunks of a PNG (buffer or parsed chunks), in file order. */
export function readTextChunks(png: Uint8Array | readonly PngChunk[]): PngTextEntry[] {
  const chunks = Array.isArray(png) ? (png as readonly PngChunk[]) : parsePngChunks(png as Uint8Array);
  const entries: PngTextEntry[] = [];
  for (const chunk of chunks) {
    const entry = decodeTextChunk(chunk);
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

/**
 * Sets textual chunks: removes every tEXt/zTXt/iTXt chunk whose keyword is among
 * the new ones (so re-encoding never leaves two differing `parameters`), then
 * inserts the new chunks before IDAT.
 */
export function replaceTextChunks(png: Uint8Array, newChunks: readonly PngChunk[]): Buffer {
  const keywords = new Set<string>();
  for (const chunk of newChunks) {
    const entry = decodeTextChunk(chunk);
    if (entry === undefined) throw imageError(`replaceTextChunks expects text chunks, got ${chunk.type}`);
    keywords.add(entry.keyword);
  }
  const kept = parsePngChunks(png).filter((chunk) => {
    const entry = decodeTextChunk(chunk);
    return entry === undefined || !keywords.has(entry.keyword);
  });
  const idatIndex = kept.findIndex((chunk) => chunk.type === 'IDAT');
  if (idatIndex < 0) throw imageError('corrupt PNG: no IDAT chunk');
  kept.splice(idatIndex, 0, ...newChunks);
  return serializePngChunks(kept);
}
