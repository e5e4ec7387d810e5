/**
 * A contact sheet of all candidates of a request, in the manner of the DALL·E
 * (2021) blog's grids: every candidate, scaled up (nearest, so the token grid's
 * blocks stay crisp), with its rank and CLIP score under it; the kept ones framed
 * in a coloured border. A layout on the contact-sheet maker (sheet.ts).
 */
import { TesseraError } from '../errors.js';
import type { RgbImage } from '../types.js';
import { imageError } from './rgb.js';
import { composeSheet, type Rgb, type SheetText, type SheetTile } from './sheet.js';

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

/**
 * Composes a contact sheet of `cells` (all the same size), left to right, top to
 * bottom. Labels longer than the cell is wide are cut with an ellipsis.
 */
export async function composeGrid(cells: readonly GridCell[], options: GridOptions = {}): Promise<RgbImage> {
  if (cells.length === 0) throw imageError('cannot compose a grid of no images', { param: 'cells' });
  const first = cells[0].image;
  for (const [index, cell] of cells.entries()) {
    const { width, height, data } = cell.image;
    if (width !== first.width || height !== first.height) {
      throw imageError(`grid cell ${index} is ${width}x${height}, expected ${first.width}x${first.height} like cell 0`, { param: 'cells' });
    }
    if (data.length !== width * height * 3) {
      throw imageError(`grid cell ${index} has ${data.length} bytes, expected ${width * height * 3} (RGB)`, { param: 'cells' });
    }
  }
  const resolved = resolveOptions(cells.length, options);
  const { padding, border, labelHeight, fontSize } = GRID_LAYOUT;
  const scaledWidth = first.width * resolved.scale;
  const scaledHeight = first.height * resolved.scale;
  const rows = Math.ceil(cells.length / resolved.columns);

  // Monospace glyphs are about 0.6 em wide: cut labels that would spill into the next tile.
  const maxChars = Math.max(1, Math.floor((scaledWidth + 2 * border) / (fontSize * 0.6)));
  const tiles: SheetTile[] = [];
  const texts: SheetText[] = [];
  for (const [index, cell] of cells.entries()) {
    const { x, y } = gridCellOrigin(index, first, resolved);
    tiles.push({ image: cell.image, x, y, width: scaledWidth, height: scaledHeight, frame: { color: cell.kept ? KEPT_BORDER : OTHER_BORDER, width: border } });
    const text = cell.label.length > maxChars ? `${cell.label.slice(0, maxChars - 1)}…` : cell.label;
    texts.push({
      x: x - border,
      y: y + scaledHeight + border + labelHeight - 4,
      text,
      fill: cell.kept ? KEPT_TEXT : OTHER_TEXT,
      fontFamily: FONT_FAMILY,
      fontSize,
      bold: cell.kept,
    });
  }
  return composeSheet({
    width: padding + resolved.columns * (scaledWidth + 2 * border + padding),
    height: padding + rows * (scaledHeight + 2 * border + labelHeight + padding),
    background: GRID_BACKGROUND,
    tiles,
    texts,
  });
}
