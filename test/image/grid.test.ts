import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import {
  GRID_BACKGROUND,
  GRID_LAYOUT,
  KEPT_BORDER,
  OTHER_BORDER,
  composeGrid,
  formatCandidateLabel,
  gridCellOrigin,
  type GridCell,
} from '../../src/image/grid.js';
import type { RgbImage } from '../../src/types.js';
import { patternImage, solidImage } from './helpers.js';

/** Label rendering needs fontconfig fonts; composeGrid leaves labels out without them. */
function hasFonts(): boolean {
  try {
    return execFileSync('fc-list', { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}
const FONTS = hasFonts();

function pixel(image: RgbImage, x: number, y: number): number[] {
  const offset = (y * image.width + x) * 3;
  return Array.from(image.data.subarray(offset, offset + 3));
}

function cells(count: number, keep: number): GridCell[] {
  return Array.from({ length: count }, (_, i) => ({
    image: patternImage(64, 64, i),
    label: formatCandidateLabel(i + 1, 0.312 - i * 0.01),
    kept: i < keep,
  }));
}

describe('composeGrid', () => {
  it('has the layout dimensions (default columns ceil(sqrt(n)), scale 2)', async () => {
    const { padding, border, labelHeight } = GRID_LAYOUT;
    const grid = await composeGrid(cells(6, 2));
    const tileWidth = 128 + 2 * border;
    const tileHeight = 128 + 2 * border + labelHeight;
    expect(grid.width).toBe(padding + 3 * (tileWidth + padding));
    expect(grid.height).toBe(padding + 2 * (tileHeight + padding));
    expect(grid.data.length).toBe(grid.width * grid.height * 3);

    const wide = await composeGrid(cells(5, 1), { columns: 5, scale: 1 });
    expect(wide.width).toBe(padding + 5 * (64 + 2 * border + padding));
    expect(wide.height).toBe(padding + 64 + 2 * border + labelHeight + padding);
  });

  it('frames kept cells in colour and the others in grey, with the pixels scaled by nearest', async () => {
    const input = cells(4, 1);
    const options = { columns: 2, scale: 2 };
    const grid = await composeGrid(input, options);
    const kept = gridCellOrigin(0, { width: 64, height: 64 }, options);
    const other = gridCellOrigin(1, { width: 64, height: 64 }, options);
    expect(pixel(grid, kept.x - 1, kept.y + 10)).toEqual([...KEPT_BORDER]);
    expect(pixel(grid, other.x - 1, other.y + 10)).toEqual([...OTHER_BORDER]);
    expect(pixel(grid, kept.x - 1, kept.y + 10)).not.toEqual(pixel(grid, other.x - 1, other.y + 10));
    expect(pixel(grid, 0, 0)).toEqual([...GRID_BACKGROUND]);
    // Source pixel (1, 2) of cell 1 fills the 2x2 block at (2..3, 4..5).
    const source = pixel(input[1].image, 1, 2);
    for (const [dx, dy] of [[2, 4], [3, 4], [2, 5], [3, 5]]) expect(pixel(grid, other.x + dx, other.y + dy)).toEqual(source);
  });

  it.skipIf(!FONTS)('draws labels under the cells (needs fonts; skipped without fc-list fonts)', async () => {
    const plain = solidImage(64, 64, [0, 0, 0]);
    const labelled = await composeGrid([{ image: plain, label: '#1 0.312', kept: true }], { scale: 1 });
    const unlabelled = await composeGrid([{ image: plain, label: '', kept: true }], { scale: 1 });
    expect(labelled.width).toBe(unlabelled.width);
    // Only the label strip may differ.
    const stripTop = GRID_LAYOUT.padding + 64 + 2 * GRID_LAYOUT.border;
    let changedInStrip = 0;
    let changedElsewhere = 0;
    for (let y = 0; y < labelled.height; y++) {
      for (let x = 0; x < labelled.width; x++) {
        if (pixel(labelled, x, y).join() === pixel(unlabelled, x, y).join()) continue;
        if (y >= stripTop && y < stripTop + GRID_LAYOUT.labelHeight) changedInStrip++;
        else changedElsewhere++;
      }
    }
    expect(changedElsewhere).toBe(0);
    expect(changedInStrip).toBeGreaterThan(10);
  });

  it('formats labels as rank and score', () => {
    expect(formatCandidateLabel(1, 0.31249)).toBe('#1 0.312');
    expect(formatCandidateLabel(12, null)).toBe('#12');
  });

  it('escapes labels that look like markup', async () => {
    const grid = await composeGrid([{ image: patternImage(8, 8), label: '<b>&"x"</b>', kept: false }], { scale: 4 });
    expect(grid.width).toBeGreaterThan(32);
  });

  it('rejects no cells, mixed sizes and bad options', async () => {
    await expect(composeGrid([])).rejects.toSatisfy((e) => isTesseraError(e, 'TESSERA_ERR_IMAGE'));
    await expect(
      composeGrid([
        { image: patternImage(8, 8), label: 'a', kept: true },
        { image: patternImage(8, 4), label: 'b', kept: false },
      ]),
    ).rejects.toSatisfy((e) => isTesseraError(e, 'TESSERA_ERR_IMAGE'));
    await expect(composeGrid(cells(2, 1), { scale: 0 })).rejects.toSatisfy((e) => isTesseraError(e, 'TESSERA_ERR_OPTION'));
    await expect(composeGrid(cells(2, 1), { columns: 1.5 })).rejects.toSatisfy((e) => isTesseraError(e, 'TESSERA_ERR_OPTION'));
  });
});
