import { expect } from 'vitest';
import { parsePngChunks, withoutFootprintChunk } from '../../src/image/index.js';

/**
 * A PNG without its `tessera:footprint` chunk (issue 14): that chunk is a measurement of
 * the run (time, energy), the only part of the file that is not a function of the
 * request, so pinned bytes are everything else. The chunk must be there, exactly once.
 */
export function withoutFootprint(png: Buffer): Buffer {
  const stripped = withoutFootprintChunk(png);
  expect(parsePngChunks(stripped).length).toBe(parsePngChunks(png).length - 1);
  return stripped;
}
