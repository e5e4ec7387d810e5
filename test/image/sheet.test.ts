/** The contact-sheet maker under the candidate grid, the eval sheet and the shapes sample page. */
import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { composeSheet } from '../../src/image/sheet.js';
import type { RgbImage } from '../../src/types.js';
import { escapeXml, unescapeXml } from '../../src/util/xml.js';
import { patternImage } from './helpers.js';

function pixel(image: RgbImage, x: number, y: number): number[] {
  const offset = (y * image.width + x) * 3;
  return Array.from(image.data.subarray(offset, offset + 3));
}

describe('composeSheet', () => {
  it('fills the background, frames tiles and scales them by nearest neighbour (up and down)', async () => {
    const small = patternImage(4, 4, 1);
    const large = patternImage(8, 8, 2);
    const sheet = await composeSheet({
      width: 40,
      height: 20,
      background: [1, 2, 3],
      tiles: [
        { image: small, x: 2, y: 2, width: 8, height: 8, frame: { color: [200, 0, 0], width: 2 } },
        { image: large, x: 20, y: 2, width: 4, height: 4 },
      ],
    });
    expect([sheet.width, sheet.height]).toEqual([40, 20]);
    expect(pixel(sheet, 39, 19)).toEqual([1, 2, 3]);
    expect(pixel(sheet, 0, 0)).toEqual([200, 0, 0]);
    expect(pixel(sheet, 11, 11)).toEqual([200, 0, 0]);
    expect(pixel(sheet, 12, 12)).toEqual([1, 2, 3]);
    // Source pixel (1, 3) of the 2x tile fills (2..3, 6..7) of it; the halved tile takes every other source pixel.
    for (const [dx, dy] of [[2, 6], [3, 6], [2, 7], [3, 7]]) expect(pixel(sheet, 2 + dx, 2 + dy)).toEqual(pixel(small, 1, 3));
    expect(pixel(sheet, 20 + 1, 2 + 3)).toEqual(pixel(large, 2, 6));
    expect(pixel(sheet, 19, 2)).toEqual([1, 2, 3]);
  });

  it('draws texts over the sheet and nowhere else (or leaves them out without fonts)', async () => {
    const spec = { width: 60, height: 30, background: [0, 0, 0] as const, tiles: [] };
    const plain = await composeSheet(spec);
    const texted = await composeSheet({ ...spec, texts: [{ x: 2, y: 14, text: '<#1 & "x">', fill: '#fff', fontFamily: 'DejaVu Sans', fontSize: 12 }] });
    for (let y = 16; y < 30; y++) for (let x = 0; x < 60; x++) expect(pixel(texted, x, y)).toEqual(pixel(plain, x, y));
  });

  it('rejects a tile that does not fit and an image whose bytes do not match its size', async () => {
    const tile = { image: patternImage(4, 4), x: 1, y: 1, width: 8, height: 8 };
    await expect(composeSheet({ width: 8, height: 8, background: [0, 0, 0], tiles: [tile] })).rejects.toSatisfy((e) => isTesseraError(e, 'TESSERA_ERR_IMAGE'));
    const broken = { ...tile, x: 0, y: 0, width: 4, height: 4, image: { width: 4, height: 4, data: new Uint8Array(5) } };
    await expect(composeSheet({ width: 8, height: 8, background: [0, 0, 0], tiles: [broken] })).rejects.toSatisfy((e) => isTesseraError(e, 'TESSERA_ERR_IMAGE'));
  });
});

describe('escapeXml', () => {
  it('escapes markup, drops characters XML cannot carry, and unescapeXml reverses it', () => {
    expect(escapeXml('<a & "b">\u0001')).toBe('&lt;a &amp; &quot;b&quot;&gt;');
    expect(unescapeXml(escapeXml('<a & "b">'))).toBe('<a & "b">');
  });
});
