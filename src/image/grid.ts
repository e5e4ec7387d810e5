/**
 * A contact sheet of all candidates of a request, in the manner of the DALL·E
 * (2021) blog's grids: every candidate, scaled up (nearest, so the token grid's
 * blocks stay crisp), with its rank and CLIP score under it; the kept ones framed
 * in a coloured border. Pixels and borders are drawn in plain JS; only the labels
 * go through an SVG overlay that sharp (librsvg, fontconfig) renders.
 */
import sharp from 'sharp';
import { TesseraError } from '../errors.js';
import type { RgbImage } from '../pipeline/types.js';

export interface GridCell {
  image: RgbImage;
  /** Shown under the cell, e.g. "#1 0.312" (see formatCandidateLabel). */
  label: string;
  /** Kept candidates get a coloured border. */
  kept: boolean;
}

export interface GridOptions {
  /** Cells per row; default ceil(sqrt(n)). */
  columns?: number;
  /** Integer nearest-neighbour scale of each cell; default 2 (64x64 -> 128x128). */
  scale?: number;
}

type Rgb = readonly [number, number, number];

/** Layout in pixels of the sheet; exported so tests and callers can find a cell. */
export const GRID_LAYOUT = {
  /** Space around and between tiles. */
  padding: 6,
  /** Frame around each scaled cell (coloured when kept). */
  border: 3,
  /** Strip under each framed cell for its label. */
  labelHeight: 16,
  fontSize: 12,
} as const;

export const GRID_BACKGROUND: Rgb = [24, 24, 24];
export const KEPT_BORDER: Rgb = [255, 176, 0];
export const OTHER_BORDER: Rgb = [72, 72, 72];
const KEPT_TEXT = '#ffb000';
const OTHER_TEXT = '#c8c8c8';
/** DejaVu ships with most Linux distributions; the generic family covers the rest. */
const FONT_FAMILY = "'DejaVu Sans Mono', 'DejaVu Sans', monospace";

/** The label Tessera puts under a candidate: rank, then the CLIP score when there is one. */
export function formatCandidateLabel(rank: number, score: number | null): string {
  return score === null ? `#${rank}` : `#${rank} ${score.toFixed(3)}`;
}

/** Where cell `index` sits: the top-left corner of its scaled image (inside the border). */
export function gridCellOrigin(
  index: number,
  cellSize: { width: number; height: number },
  options: Required<GridOptions>,
): { x: number; y: number } {
  const { padding, border, labelHeight } = GRID_LAYOUT;
  const tileWidth = cellSize.width * options.scale + 2 * border;
  const tileHeight = cellSize.height * options.scale + 2 * border + labelHeight;
  const column = index % options.columns;
  const row = Math.floor(index / options.columns);
  return { x: padding + column * (tileWidth + padding) + border, y: padding + row * (tileHeight + padding) + border };
}

function imageError(message: string, param?: string): TesseraError {
  return new TesseraError('TESSERA_ERR_IMAGE', message, param === undefined ? {} : { param });
}

function resolveOptions(count: number, options: GridOptions): Required<GridOptions> {
  const columns = options.columns ?? Math.ceil(Math.sqrt(count));
  const scale = options.scale ?? 2;
  if (!Number.isInteger(columns) || columns < 1) {
    throw new TesseraError('TESSERA_ERR_OPTION', `invalid grid columns ${columns}: expected a positive integer`, { param: 'columns' });
  }
  if (!Number.isInteger(scale) || scale < 1 || scale > 16) {
    throw new TesseraError('TESSERA_ERR_OPTION', `invalid grid scale ${scale}: expected an integer in [1, 16]`, { param: 'scale' });
  }
  return { columns: Math.min(columns, count), scale };
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

/** Copies `image` into `sheet` at (x, y), each pixel repeated scale x scale times. */
function blitScaled(sheet: RgbImage, image: RgbImage, x: number, y: number, scale: number): void {
  for (let row = 0; row < image.height * scale; row++) {
    const sourceRow = Math.floor(row / scale);
    for (let column = 0; column < image.width * scale; column++) {
      const source = (sourceRow * image.width + Math.floor(column / scale)) * 3;
      const target = ((y + row) * sheet.width + x + column) * 3;
      sheet.data[target] = image.data[source];
      sheet.data[target + 1] = image.data[source + 1];
      sheet.data[target + 2] = image.data[source + 2];
    }
  }
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Draws the labels over the sheet. Text rendering depends on librsvg and the
 * installed fonts; if it fails the sheet is still useful, so it comes back
 * without labels instead of failing the whole generation.
 */
async function drawLabels(sheet: RgbImage, labels: { x: number; y: number; text: string; kept: boolean }[]): Promise<RgbImage> {
  const texts = labels
    .map(
      (label) =>
        `<text x="${label.x}" y="${label.y}" fill="${label.kept ? KEPT_TEXT : OTHER_TEXT}"` +
        `${label.kept ? ' font-weight="bold"' : ''}>${escapeXml(label.text)}</text>`,
    )
    .join('');
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${sheet.width}" height="${sheet.height}">` +
    `<g font-family="${FONT_FAMILY}" font-size="${GRID_LAYOUT.fontSize}">${texts}</g></svg>`;
  try {
    const { data, info } = await sharp(Buffer.from(sheet.data.buffer, sheet.data.byteOffset, sheet.data.byteLength), {
      raw: { width: sheet.width, height: sheet.height, channels: 3 },
    })
      .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== sheet.width || info.height !== sheet.height || info.channels !== 3) return sheet;
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch {
    return sheet;
  }
}

/**
 * Composes a contact sheet of `cells` (all the same size), left to right, top to
 * bottom. Labels longer than the cell is wide are cut with an ellipsis.
 */
export async function composeGrid(cells: readonly GridCell[], options: GridOptions = {}): Promise<RgbImage> {
  if (cells.length === 0) throw imageError('cannot compose a grid of no images', 'cells');
  const first = cells[0].image;
  for (const [index, cell] of cells.entries()) {
    const { width, height, data } = cell.image;
    if (width !== first.width || height !== first.height) {
      throw imageError(`grid cell ${index} is ${width}x${height}, expected ${first.width}x${first.height} like cell 0`, 'cells');
    }
    if (data.length !== width * height * 3) {
      throw imageError(`grid cell ${index} has ${data.length} bytes, expected ${width * height * 3} (RGB)`, 'cells');
    }
  }
  const resolved = resolveOptions(cells.length, options);
  const { padding, border, labelHeight, fontSize } = GRID_LAYOUT;
  const scaledWidth = first.width * resolved.scale;
  const scaledHeight = first.height * resolved.scale;
  const rows = Math.ceil(cells.length / resolved.columns);
  const width = padding + resolved.columns * (scaledWidth + 2 * border + padding);
  const height = padding + rows * (scaledHeight + 2 * border + labelHeight + padding);
  const sheet: RgbImage = { width, height, data: new Uint8Array(width * height * 3) };
  fillRect(sheet, 0, 0, width, height, GRID_BACKGROUND);

  // Monospace glyphs are about 0.6 em wide: cut labels that would spill into the next tile.
  const maxChars = Math.max(1, Math.floor((scaledWidth + 2 * border) / (fontSize * 0.6)));
  const labels: { x: number; y: number; text: string; kept: boolean }[] = [];
  for (const [index, cell] of cells.entries()) {
    const { x, y } = gridCellOrigin(index, first, resolved);
    fillRect(sheet, x - border, y - border, scaledWidth + 2 * border, scaledHeight + 2 * border, cell.kept ? KEPT_BORDER : OTHER_BORDER);
    blitScaled(sheet, cell.image, x, y, resolved.scale);
    const text = cell.label.length > maxChars ? `${cell.label.slice(0, maxChars - 1)}…` : cell.label;
    if (text !== '') labels.push({ x: x - border, y: y + scaledHeight + border + labelHeight - 4, text, kept: cell.kept });
  }
  return labels.length === 0 ? sheet : drawLabels(sheet, labels);
}
