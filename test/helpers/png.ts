import { expect } from 'vitest';
import { decodeTextChunk, FOOTPRINT_KEYWORD, parsePngChunks, serializePngChunks } from '../../src/image/index.js';

/**
 * A PNG without its `tessera:footprint` chunk (issue 14): that chunk is a measurement of
 * the run (time, energy), the only part of the file that is not a function of the
 * request, so pinned bytes are everything else. The chunk must be there, exactly once.
 */
export function withoutFootprint(png: Buffer): Buffer {
  const chunks = parsePngChunks(png);
  const kept = chunks.filter((c) => decodeTextChunk(c)?.keyword !== FOOTPRINT_KEYWORD);
  expect(kept.length).toBe(chunks.length - 1);
  return serializePngChunks(kept);
}
