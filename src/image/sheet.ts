/**
 * The one contact-sheet maker: images laid out on a plain background, each scaled
 * by nearest neighbour (so a token grid's blocks stay crisp) and optionally framed,
 * with text drawn over the sheet. The candidate grid (grid.ts), the eval contact
 * sheet and the shapes sample page are layouts on top of it.
 *
 * Pixels and frames are drawn in plain JS; only the text goes through an SVG overlay
 * that sharp (librsvg, fontconfig) renders. Text rendering depends on the installed
 * fonts; if it fails the sheet is still useful, so it comes back without text
 * instead of failing the caller.
 */
import type { RgbImage } from '../types.js';
import { escapeXml } from '../util/xml.js';
import { imageError, rgbFromSharp, sharpFromRgb, validateRgbImage } from './rgb.js';

export type Rgb = readonly [number, number, number];

export interface SheetTile {
  image: RgbImage;
  /** Top-left corner of the scaled image on the sheet (inside its frame). */
  x: number;
  y: number;
  /** Size the image is scaled to (nearest neighbour). */
  width: number;
  height: number;
  /** A solid border of `width` pixels around the scaled image. */
  frame?: { color: Rgb; width: number };
}

export interface SheetText {
  /** Start of the baseline. */
  x: number;
  y: number;
  text: string;
  /** CSS colour. */
  fill: string;
  fontFamily: string;
  fontSize: number;
  bold?: boolean;
}

export interface SheetSpec {
  width: number;
  height: number;
  background: Rgb;
  tiles: readonly SheetTile[];
  /** Drawn last, over tiles and frames. */
  texts?: readonly SheetText[];
}

function fillRect(sheet: RgbImage, x: number, y: number, width: number, height: number, color: Rgb): void {
  for (let row = y; row < y + height; row++) {
    for (let column = x; column < x + width; column++) {
      const offset = (row * sheet.width + column) * 3;
      sheet.data[offset] = color[0];
      sheet.data[offset + 1] = color[1];
      sheet.data[offset + 2] = color[2];
    }
  }
}

/** Copies `tile.image` onto `sheet`, scaled to the tile's size by nearest neighbour. */
function blitScaled(sheet: RgbImage, tile: SheetTile): void {
  const { image } = tile;
  for (let row = 0; row < tile.height; row++) {
    const sourceRow = Math.floor((row * image.height) / tile.height);
    for (let column = 0; column < tile.width; column++) {
      const source = (sourceRow * image.width + Math.floor((column * image.width) / tile.width)) * 3;
      const target = ((tile.y + row) * sheet.width + tile.x + column) * 3;
      sheet.data[target] = image.data[source];
      sheet.data[target + 1] = image.data[source + 1];
      sheet.data[target + 2] = image.data[source + 2];
    }
  }
}

function checkTile(spec: SheetSpec, tile: SheetTile, index: number): void {
  validateRgbImage(tile.image);
  const border = tile.frame?.width ?? 0;
  const inside =
    Number.isInteger(tile.x) && Number.isInteger(tile.y) && Number.isInteger(tile.width) && Number.isInteger(tile.height) && Number.isInteger(border) &&
    tile.width >= 1 && tile.height >= 1 && border >= 0 &&
    tile.x - border >= 0 && tile.y - border >= 0 && tile.x + tile.width + border <= spec.width && tile.y + tile.height + border <= spec.height;
  if (!inside) throw imageError(`sheet tile ${index} (${tile.width}x${tile.height} at ${tile.x},${tile.y}) does not fit the ${spec.width}x${spec.height} sheet`, { param: 'tiles' });
}

async function drawTexts(sheet: RgbImage, texts: readonly SheetText[]): Promise<RgbImage> {
  const elements = texts
    .map(
      (t) =>
        `<text x="${t.x}" y="${t.y}" font-family="${t.fontFamily}" font-size="${t.fontSize}" fill="${t.fill}"` +
        `${t.bold === true ? ' font-weight="bold"' : ''}>${escapeXml(t.text)}</text>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${sheet.width}" height="${sheet.height}">${elements}</svg>`;
  try {
    const drawn = await rgbFromSharp(sharpFromRgb(sheet).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]));
    return drawn.width === sheet.width && drawn.height === sheet.height ? drawn : sheet;
  } catch {
    return sheet;
  }
}

/** Draws a contact sheet: background, then each tile's frame and scaled image, then the texts. */
export async function composeSheet(spec: SheetSpec): Promise<RgbImage> {
  const { width, height } = spec;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw imageError(`invalid sheet size ${width}x${height}: expected positive integers`, { param: 'size' });
  }
  spec.tiles.forEach((tile, index) => checkTile(spec, tile, index));
  const sheet: RgbImage = { width, height, data: new Uint8Array(width * height * 3) }; // [height, width, 3]
  fillRect(sheet, 0, 0, width, height, spec.background);
  for (const tile of spec.tiles) {
    const border = tile.frame?.width ?? 0;
    if (tile.frame !== undefined && border > 0) fillRect(sheet, tile.x - border, tile.y - border, tile.width + 2 * border, tile.height + 2 * border, tile.frame.color);
    blitScaled(sheet, tile);
  }
  const texts = (spec.texts ?? []).filter((t) => t.text !== '');
  return texts.length === 0 ? sheet : drawTexts(sheet, texts);
}
