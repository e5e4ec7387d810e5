/**
 * A small PNG chunk reader/writer, so that Tessera can add text chunks (the
 * A1111 `parameters` text, the XMP packet, the `tessera` JSON) that sharp/libvips
 * cannot write. Follows the PNG specification (W3C, Third Edition), sections 5
 * (datastream structure), 11.3.3 (tEXt, zTXt, iTXt) and 5.5 (CRC). Only the
 * chunk layer is handled: pixel data (IDAT) is passed through untouched.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { imageError } from './rgb.js';

/** The 8-byte signature every PNG datastream starts with (PNG spec 5.2). */
export const PNG_SIGNATURE: Buffer = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One chunk: its 4-letter type and its data (length and CRC are derived when writing). */
export interface PngChunk {
  type: string;
  data: Buffer;
}

/** The fields of the IHDR chunk (PNG spec 11.2.2). */
export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

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

/** The spec caps a chunk's length at 2^31 - 1 bytes (PNG spec 5.3). */
const MAX_CHUNK_LENGTH = 0x7fffffff;
const TEXT_CHUNK_TYPES: ReadonlySet<string> = new Set<TextChunkType>(['tEXt', 'zTXt', 'iTXt']);

/** True when `buffer` starts with the PNG signature. */
export function isPng(buffer: Uint8Array): boolean {
  return buffer.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.equals(Buffer.from(buffer.buffer, buffer.byteOffset, 8));
}

/** CRC-32 over the chunk type and data, as PNG spec 5.3 defines it (zlib's CRC, same polynomial). */
function chunkCrc(type: Buffer, data: Buffer): number {
  return crc32(data, crc32(type));
}

function isValidChunkType(type: string): boolean {
  return /^[A-Za-z]{4}$/.test(type);
}

/**
 * Splits a PNG into its chunks, verifying the signature, every chunk's bounds and
 * CRC, that IHDR comes first and that IEND ends the stream. Throws
 * TESSERA_ERR_IMAGE naming the first problem found.
 */
export function parsePngChunks(png: Uint8Array): PngChunk[] {
  const buffer = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!isPng(buffer)) {
    throw imageError('not a PNG file: the PNG signature (89 50 4E 47 0D 0A 1A 0A) is missing');
  }
  const chunks: PngChunk[] = [];
  let offset = PNG_SIGNATURE.length;
  while (offset < buffer.length) {
    if (offset + 12 > buffer.length) {
      throw imageError(`truncated PNG: chunk header at byte ${offset} runs past the end of the file`);
    }
    const length = buffer.readUInt32BE(offset);
    const typeBytes = buffer.subarray(offset + 4, offset + 8);
    const type = typeBytes.toString('latin1');
    if (!isValidChunkType(type)) {
      throw imageError(`corrupt PNG: invalid chunk type ${JSON.stringify(type)} at byte ${offset}`);
    }
    if (length > MAX_CHUNK_LENGTH || offset + 12 + length > buffer.length) {
      throw imageError(`truncated PNG: chunk ${type} at byte ${offset} declares ${length} bytes, past the end of the file`);
    }
    const data = buffer.subarray(offset + 8, offset + 8 + length);
    const storedCrc = buffer.readUInt32BE(offset + 8 + length);
    const actualCrc = chunkCrc(typeBytes, data);
    if (storedCrc !== actualCrc) {
      throw imageError(
        `corrupt PNG: CRC mismatch in chunk ${type} at byte ${offset} ` +
          `(stored 0x${storedCrc.toString(16).padStart(8, '0')}, computed 0x${actualCrc.toString(16).padStart(8, '0')})`,
      );
    }
    chunks.push({ type, data: Buffer.from(data) });
    offset += 12 + length;
    if (type === 'IEND') break;
  }
  if (chunks.length === 0 || chunks[0].type !== 'IHDR') {
    throw imageError('corrupt PNG: the first chunk must be IHDR');
  }
  if (chunks[chunks.length - 1].type !== 'IEND') {
    throw imageError('truncated PNG: no IEND chunk');
  }
  return chunks;
}

/** Writes chunks back into a PNG datastream, computing lengths and CRCs. */
export function serializePngChunks(chunks: readonly PngChunk[]): Buffer {
  const parts: Buffer[] = [PNG_SIGNATURE];
  for (const chunk of chunks) {
    if (!isValidChunkType(chunk.type)) {
      throw imageError(`invalid chunk type ${JSON.stringify(chunk.type)}: expected 4 ASCII letters`);
    }
    if (chunk.data.length > MAX_CHUNK_LENGTH) {
      throw imageError(`chunk ${chunk.type} is too large: ${chunk.data.length} bytes (at most ${MAX_CHUNK_LENGTH})`);
    }
    const header = Buffer.alloc(8);
    header.writeUInt32BE(chunk.data.length, 0);
    header.write(chunk.type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(chunkCrc(header.subarray(4, 8), chunk.data), 0);
    parts.push(header, chunk.data, crc);
  }
  return Buffer.concat(parts);
}

/** Reads the IHDR fields of already-parsed chunks. */
export function readPngHeader(chunks: readonly PngChunk[]): PngHeader {
  const ihdr = chunks[0];
  if (ihdr === undefined || ihdr.type !== 'IHDR' || ihdr.data.length !== 13) {
    throw imageError('corrupt PNG: IHDR chunk missing or not 13 bytes long');
  }
  return {
    width: ihdr.data.readUInt32BE(0),
    height: ihdr.data.readUInt32BE(4),
    bitDepth: ihdr.data[8],
    colorType: ihdr.data[9],
    interlaced: ihdr.data[12] === 1,
  };
}

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
 * Inserts `newChunks` right before the first IDAT chunk. Text chunks may sit
 * anywhere between IHDR and IEND, but readers that stop at the image data (and
 * streaming decoders) only see them when they come first.
 */
export function insertChunksBeforeIdat(png: Uint8Array, newChunks: readonly PngChunk[]): Buffer {
  const chunks = parsePngChunks(png);
  const idatIndex = chunks.findIndex((chunk) => chunk.type === 'IDAT');
  if (idatIndex < 0) throw imageError('corrupt PNG: no IDAT chunk');
  chunks.splice(idatIndex, 0, ...newChunks);
  return serializePngChunks(chunks);
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
