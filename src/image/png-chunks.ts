/**
 * A small PNG chunk reader/writer, so that Tessera can add text chunks (the
 * A1111 `parameters` text, the XMP packet, the `tessera` JSON) that sharp/libvips
 * cannot write. Follows the PNG specification (W3C, Third Edition), sections 5
 * (datastream structure), 11.3.3 (tEXt, zTXt, iTXt) and 5.5 (CRC). Only the
 * chunk layer is handled: pixel data (IDAT) is passed through untouched. The textual
 * chunks (tEXt, zTXt, iTXt) are encoded and decoded in png-text-chunks.ts.
 */
import { crc32 } from 'node:zlib';
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

/** The spec caps a chunk's length at 2^31 - 1 bytes (PNG spec 5.3). */
const MAX_CHUNK_LENGTH = 0x7fffffff;
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
