import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { insertChunksBeforeIdat, parsePngChunks, readPngHeader, serializePngChunks, type PngChunk } from '../../src/image/png-chunks.js';
import { createInternationalTextChunk, createTextChunk, createTextChunkAuto, isLatin1Text, readTextChunks, replaceTextChunks } from '../../src/image/png-text-chunks.js';
import { patternImage } from './helpers.js';

async function samplePng(): Promise<Buffer> {
  const image = patternImage(16, 8);
  return sharp(Buffer.from(image.data), { raw: { width: 16, height: 8, channels: 3 } }).png().toBuffer();
}

function expectImageError(action: () => unknown): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(isTesseraError(caught, 'TESSERA_ERR_IMAGE'), String(caught)).toBe(true);
}

describe('parsePngChunks / serializePngChunks', () => {
  it('round-trips a PNG byte for byte', async () => {
    const png = await samplePng();
    const chunks = parsePngChunks(png);
    expect(chunks[0].type).toBe('IHDR');
    expect(chunks[chunks.length - 1].type).toBe('IEND');
    expect(chunks.some((chunk) => chunk.type === 'IDAT')).toBe(true);
    expect(serializePngChunks(chunks).equals(png)).toBe(true);
    expect(readPngHeader(chunks)).toMatchObject({ width: 16, height: 8, bitDepth: 8, colorType: 2, interlaced: false });
  });

  it('rejects a corrupted chunk by its CRC', async () => {
    const png = Buffer.from(await samplePng());
    const chunks = parsePngChunks(png);
    // Flip one byte inside the first IDAT's data: structure intact, CRC wrong.
    let offset = 8;
    for (const chunk of chunks) {
      if (chunk.type === 'IDAT') break;
      offset += 12 + chunk.data.length;
    }
    png[offset + 8 + 2] ^= 0xff;
    expectImageError(() => parsePngChunks(png));
  });

  it('rejects a bad signature, a truncated file and a missing IEND', async () => {
    const png = await samplePng();
    expectImageError(() => parsePngChunks(Buffer.from('GIF89a not a png at all')));
    expectImageError(() => parsePngChunks(png.subarray(0, png.length - 5)));
    expectImageError(() => parsePngChunks(png.subarray(0, png.length - 12))); // IEND cut off cleanly
    expectImageError(() => parsePngChunks(Buffer.alloc(0)));
  });

  it('rejects invalid chunk types when writing', () => {
    expectImageError(() => serializePngChunks([{ type: 'IH1R', data: Buffer.alloc(0) }]));
  });
});

describe('text chunks', () => {
  it('inserts tEXt and iTXt before IDAT and reads them back', async () => {
    const png = await samplePng();
    const withText = insertChunksBeforeIdat(png, [
      createTextChunk('Comment', 'café, naïve\nsecond line'),
      createInternationalTextChunk('Title', '一只红色的立方体 🟥', { languageTag: 'zh-CN', translatedKeyword: '标题' }),
      createInternationalTextChunk('Big', 'x'.repeat(5000), { compressed: true }),
    ]);
    const types = parsePngChunks(withText).map((chunk) => chunk.type);
    expect(types.indexOf('tEXt')).toBeLessThan(types.indexOf('IDAT'));
    expect(types.lastIndexOf('iTXt')).toBeLessThan(types.indexOf('IDAT'));
    expect(readTextChunks(withText)).toEqual([
      { keyword: 'Comment', text: 'café, naïve\nsecond line', chunkType: 'tEXt' },
      { keyword: 'Title', text: '一只红色的立方体 🟥', chunkType: 'iTXt', languageTag: 'zh-CN', translatedKeyword: '标题' },
      { keyword: 'Big', text: 'x'.repeat(5000), chunkType: 'iTXt', languageTag: '', translatedKeyword: '' },
    ]);
    // The pixels are untouched.
    const decoded = await sharp(withText).raw().toBuffer();
    expect(decoded.equals(Buffer.from(patternImage(16, 8).data))).toBe(true);
  });

  it('reads zTXt chunks', async () => {
    const zTXt: PngChunk = {
      type: 'zTXt',
      data: Buffer.concat([Buffer.from('Description', 'latin1'), Buffer.of(0, 0), deflateSync(Buffer.from('zipped text é', 'latin1'))]),
    };
    const png = insertChunksBeforeIdat(await samplePng(), [zTXt]);
    expect(readTextChunks(png)).toEqual([{ keyword: 'Description', text: 'zipped text é', chunkType: 'zTXt' }]);
  });

  it('chooses tEXt for Latin-1 and iTXt otherwise', () => {
    expect(isLatin1Text('plain ASCII\nand Latin-1: ÿ')).toBe(true);
    expect(isLatin1Text('tab\there')).toBe(false);
    expect(isLatin1Text('Ω')).toBe(false);
    expect(createTextChunkAuto('k', 'abc').type).toBe('tEXt');
    expect(createTextChunkAuto('k', 'snow ☃').type).toBe('iTXt');
    expectImageError(() => createTextChunk('k', 'snow ☃'));
  });

  it('validates keywords', () => {
    expectImageError(() => createTextChunk('', 'x'));
    expectImageError(() => createTextChunk(' lead', 'x'));
    expectImageError(() => createTextChunk('a'.repeat(80), 'x'));
    expectImageError(() => createTextChunk('bad\0key', 'x'));
    expectImageError(() => createInternationalTextChunk('ключ', 'x'));
  });

  it('replaceTextChunks swaps chunks with the same keyword and keeps the others', async () => {
    const once = insertChunksBeforeIdat(await samplePng(), [createTextChunk('parameters', 'old'), createTextChunk('Software', 'x')]);
    const twice = replaceTextChunks(once, [createTextChunkAuto('parameters', 'new ☃')]);
    expect(readTextChunks(twice).map((entry) => [entry.keyword, entry.text])).toEqual([
      ['Software', 'x'],
      ['parameters', 'new ☃'],
    ]);
  });
});
