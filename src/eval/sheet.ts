/** The eval contact sheet: one row per prompt, its top candidates, green/red judge marks. */
import sharp, { type OverlayOptions } from 'sharp';
import type { RgbImage } from '../pipeline/types.js';

export interface SheetRow {
  prompt: string;
  category: string;
  candidates: { image: RgbImage; pass: boolean; score: number | null }[];
}

const SCALE = 2;
const CELL = 64 * SCALE + 8;
const TEXT_WIDTH = 420;
const HEADER = 28;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Renders the sheet to PNG bytes; rows beyond `maxRows` are left out to keep it readable. */
export async function contactSheet(rows: readonly SheetRow[], title: string, maxRows = 60): Promise<Buffer> {
  const shown = rows.slice(0, maxRows);
  const columns = Math.max(1, ...shown.map((r) => r.candidates.length));
  const width = TEXT_WIDTH + columns * CELL;
  const height = HEADER + Math.max(1, shown.length) * CELL;
  const marks: string[] = [];
  const composites: OverlayOptions[] = [];
  for (const [r, row] of shown.entries()) {
    const top = HEADER + r * CELL;
    marks.push(`<text x="8" y="${top + 24}" font-family="DejaVu Sans" font-size="13" fill="#555">${escapeXml(row.category)}</text>`);
    // Long prompts wrap onto a second line at a word boundary.
    const words = row.prompt.split(' ');
    const lines: string[] = [''];
    for (const word of words) {
      if ((lines[lines.length - 1] + ' ' + word).length > 44) lines.push('');
      lines[lines.length - 1] = (lines[lines.length - 1] + ' ' + word).trim();
    }
    lines.forEach((line, i) => marks.push(`<text x="8" y="${top + 48 + i * 18}" font-family="DejaVu Sans" font-size="14" fill="#000">${escapeXml(line)}</text>`));
    for (const [c, candidate] of row.candidates.entries()) {
      const left = TEXT_WIDTH + c * CELL;
      marks.push(`<rect x="${left + 1}" y="${top + 1}" width="${CELL - 2}" height="${CELL - 2}" fill="${candidate.pass ? '#1a9e2f' : '#d42020'}"/>`);
      if (candidate.score !== null) {
        marks.push(`<text x="${left + 6}" y="${top + CELL - 6}" font-family="DejaVu Sans" font-size="10" fill="#fff">${candidate.score.toFixed(3)}</text>`);
      }
      const tile = await sharp(Buffer.from(candidate.image.data), { raw: { width: candidate.image.width, height: candidate.image.height, channels: 3 } })
        .resize(64 * SCALE, 64 * SCALE, { kernel: 'nearest' })
        .png()
        .toBuffer();
      composites.push({ input: tile, left: left + 4, top: top + 4 });
    }
  }
  marks.push(`<text x="8" y="19" font-family="DejaVu Sans" font-size="15" font-weight="bold" fill="#000">${escapeXml(title)}</text>`);
  const overlay = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${marks.join('')}</svg>`);
  // Marks first (borders under the tiles), then tiles on top.
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([{ input: overlay, left: 0, top: 0 }, ...composites])
    .png()
    .toBuffer();
}
