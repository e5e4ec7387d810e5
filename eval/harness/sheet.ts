/** The eval contact sheet: one row per prompt, its top candidates, green/red judge marks. A layout on the contact-sheet maker. */
import { composeSheet, encodePlainPng, type SheetText, type SheetTile } from '../../src/image/index.js';
import type { RgbImage } from '../../src/types.js';

export interface SheetRow {
  prompt: string;
  category: string;
  candidates: { image: RgbImage; pass: boolean }[];
}

const SCALE = 2;
const TILE = 64 * SCALE;
/** A tile, its 3-pixel verdict frame and a 1-pixel white gap on each side. */
const CELL = TILE + 8;
const TEXT_WIDTH = 420;
const HEADER = 28;
const FONT = 'DejaVu Sans';
const PASS: readonly [number, number, number] = [0x1a, 0x9e, 0x2f];
const FAIL: readonly [number, number, number] = [0xd4, 0x20, 0x20];

/** Long prompts wrap onto more lines at word boundaries. */
function wrap(prompt: string, width = 44): string[] {
  const lines: string[] = [''];
  for (const word of prompt.split(' ')) {
    if ((lines[lines.length - 1] + ' ' + word).length > width) lines.push('');
    lines[lines.length - 1] = (lines[lines.length - 1] + ' ' + word).trim();
  }
  return lines;
}

/** Renders the sheet to PNG bytes; rows beyond `maxRows` are left out to keep it readable. */
export async function contactSheet(rows: readonly SheetRow[], title: string, maxRows = 60): Promise<Buffer> {
  const shown = rows.slice(0, maxRows);
  const columns = Math.max(1, ...shown.map((r) => r.candidates.length));
  const tiles: SheetTile[] = [];
  const texts: SheetText[] = [{ x: 8, y: 19, text: title, fill: '#000', fontFamily: FONT, fontSize: 15, bold: true }];
  for (const [r, row] of shown.entries()) {
    const top = HEADER + r * CELL;
    texts.push({ x: 8, y: top + 24, text: row.category, fill: '#555', fontFamily: FONT, fontSize: 13 });
    wrap(row.prompt).forEach((line, i) => texts.push({ x: 8, y: top + 48 + i * 18, text: line, fill: '#000', fontFamily: FONT, fontSize: 14 }));
    for (const [c, candidate] of row.candidates.entries()) {
      const left = TEXT_WIDTH + c * CELL;
      tiles.push({ image: candidate.image, x: left + 4, y: top + 4, width: TILE, height: TILE, frame: { color: candidate.pass ? PASS : FAIL, width: 3 } });
    }
  }
  const sheet = await composeSheet({
    width: TEXT_WIDTH + columns * CELL,
    height: HEADER + Math.max(1, shown.length) * CELL,
    background: [255, 255, 255],
    tiles,
    texts,
  });
  return encodePlainPng(sheet, { opaqueAlpha: true });
}
