/**
 * Golden files compared the way they can be compared on any CPU (issue 22). What a
 * request writes is partly discrete (file names, candidate indices, ranks, seeds,
 * settings, the chunks a PNG has and their order) and partly the outcome of
 * floating-point work whose last bits depend on the SIMD kernels onnxruntime picks for
 * the CPU (AVX2, AVX-512 VNNI, AMX sum in different orders): CLIP scores and the
 * decoder's pixels. The discrete part is compared exactly; the rest within the
 * tolerances below. A recorded file is kept whole (less its tessera:footprint chunk, a
 * measurement of the run) under test/fixtures/golden/, so a failure can be looked at.
 *
 * TESSERA_GOLDEN_UPDATE=1 rewrites the recorded files from this run instead of comparing
 * (for a change of behaviour that is meant; say why in the commit).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import { decodeTextChunk, GRID_LAYOUT, gridCellOrigin, parsePngChunks, SCORE_DECIMALS, withoutFootprintChunk } from '../../src/image/index.js';
import { ROOT } from './tiny.js';

export const GOLDEN_DIR = path.join(ROOT, 'test/fixtures/golden');
export const UPDATE_GOLDEN = process.env.TESSERA_GOLDEN_UPDATE === '1';

/**
 * Numbers in a file's text chunks (scores; every other number is an integer or a setting,
 * equal anyway) may differ by one step of the rounding files carry (image/metadata.ts
 * SCORE_DECIMALS): a score a CPU apart can fall on either side of a rounding boundary.
 */
export const NUMBER_TOLERANCE = 10 ** -SCORE_DECIMALS * (1 + 1e-6);

/**
 * Pixels (0-255 per channel) may differ by this much: the decoder's float output is
 * rounded to 8 bits, so a last-bit difference moves a channel by at most 1; 2 leaves a
 * margin for the CLIP-free path through sharp. A different image token (a discrete
 * change) moves a whole 8x8 patch by far more and fails.
 */
export const PIXEL_TOLERANCE = 2;

/**
 * onnxruntime settings that give other float bits than the default ones, the way another
 * CPU does: graph optimizations off (no fused LayerNorm, GELU or MatMul+Add: other
 * formulas and summation orders) and one intra-op thread. On the tiny fixture they move
 * the CLIP scores in the 7th decimal (0.18482530868368413 -> 0.1848240392078621); the
 * golden tests run under both and must pass under both. Threads alone change nothing here
 * (MLAS splits work by rows, not inside a sum), graph optimizations do.
 */
export const OTHER_KERNELS = { TESSERA_GRAPH_OPT: 'disabled', TESSERA_THREADS: '1' } as const;

export const KERNEL_SETTINGS: { name: string; env: Record<string, string> }[] = [
  { name: 'default kernels', env: {} },
  { name: 'other kernels (TESSERA_GRAPH_OPT=disabled TESSERA_THREADS=1)', env: OTHER_KERNELS },
];

const NUMBER = /-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g;

/** Expects `actual` to be `expected` with its numbers within NUMBER_TOLERANCE (the rest of the text exact). */
export function expectTextLike(actual: string, expected: string, where: string): void {
  const skeleton = (text: string) => text.replace(NUMBER, '#');
  expect(skeleton(actual), `${where}: text apart from numbers`).toBe(skeleton(expected));
  const a = (actual.match(NUMBER) ?? []).map(Number);
  const e = (expected.match(NUMBER) ?? []).map(Number);
  const far = a.map((value, i) => ({ i, actual: value, expected: e[i] })).filter((x) => !(Math.abs(x.actual - x.expected) <= NUMBER_TOLERANCE));
  expect(far, `${where}: numbers further apart than ${NUMBER_TOLERANCE}`).toEqual([]);
}

async function rgbOf(png: Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/**
 * Expects the PNG `actual` to be `expected` as far as a CPU allows: the same chunks in the
 * same order (the footprint chunk left out), the same header, every text chunk equal but
 * for its numbers (NUMBER_TOLERANCE), every pixel within PIXEL_TOLERANCE except rows that
 * `skipRow` names (a grid's labels: rendered text of a rounded score, and fonts).
 */
export async function expectPngLike(actual: Buffer, expected: Buffer, name: string, skipRow: (y: number) => boolean = () => false): Promise<void> {
  const chunksA = parsePngChunks(withoutFootprintChunk(actual));
  const chunksE = parsePngChunks(expected);
  const shape = (chunks: typeof chunksA) => chunks.filter((c) => c.type !== 'IDAT').map((c) => `${c.type} ${decodeTextChunk(c)?.keyword ?? ''}`.trim());
  expect(shape(chunksA), `${name}: chunks`).toEqual(shape(chunksE));
  expect(chunksA[0].data.equals(chunksE[0].data), `${name}: IHDR`).toBe(true);
  const textsA = chunksA.map((c) => decodeTextChunk(c)).filter((t) => t !== undefined);
  const textsE = chunksE.map((c) => decodeTextChunk(c)).filter((t) => t !== undefined);
  for (const [i, text] of textsA.entries()) expectTextLike(text.text, textsE[i].text, `${name} ${text.keyword}`);

  const [a, e] = await Promise.all([rgbOf(actual), rgbOf(expected)]);
  expect([a.width, a.height, a.channels], `${name}: size`).toEqual([e.width, e.height, e.channels]);
  const rowBytes = a.width * a.channels;
  let worst = 0;
  let differing = 0;
  for (let y = 0; y < a.height; y++) {
    if (skipRow(y)) continue;
    for (let i = y * rowBytes; i < (y + 1) * rowBytes; i++) {
      const d = Math.abs(a.data[i] - e.data[i]);
      if (d > 0) differing++;
      if (d > worst) worst = d;
    }
  }
  expect({ name, worst: worst <= PIXEL_TOLERANCE ? 'within tolerance' : worst, differing: worst <= PIXEL_TOLERANCE ? '-' : differing }).toEqual({ name, worst: 'within tolerance', differing: '-' });
}

/** The rows of a grid of `count` cells of `cell` pixels (default scale and columns) that hold labels. */
export function gridLabelRows(count: number, cell: { width: number; height: number }, options: { columns?: number; scale?: number } = {}): (y: number) => boolean {
  const columns = Math.min(options.columns ?? Math.ceil(Math.sqrt(count)), count);
  const scale = options.scale ?? 2;
  const bands: [number, number][] = [];
  for (let index = 0; index < count; index += columns) {
    const { y } = gridCellOrigin(index, cell, { columns, scale });
    const top = y + cell.height * scale + GRID_LAYOUT.border;
    bands.push([top, top + GRID_LAYOUT.labelHeight]);
  }
  return (y) => bands.some(([top, bottom]) => y >= top && y < bottom);
}

/**
 * Compares the files `outDir` holds with those recorded in test/fixtures/golden/`name`:
 * the same file names (candidate indices, seeds), each PNG like its recorded one
 * (expectPngLike). Grids skip their label rows (`grid` gives the cell count and size).
 */
export async function expectFolderLikeGolden(outDir: string, name: string, grid?: { count: number; cell: { width: number; height: number } }, only: (file: string) => boolean = () => true): Promise<void> {
  const goldenDir = path.join(GOLDEN_DIR, name);
  const files = readdirSync(outDir).filter(only).sort();
  // Recorded under the default kernels only (the other kernels' run compares with them).
  if (UPDATE_GOLDEN && process.env.TESSERA_GRAPH_OPT === undefined) {
    mkdirSync(goldenDir, { recursive: true });
    for (const file of files) writeFileSync(path.join(goldenDir, file), withoutFootprintChunk(readFileSync(path.join(outDir, file))));
  }
  expect(existsSync(goldenDir), `${goldenDir} (record it with TESSERA_GOLDEN_UPDATE=1)`).toBe(true);
  expect(files).toEqual(readdirSync(goldenDir).sort());
  for (const file of files) {
    const skip = file.endsWith('-grid.png') && grid !== undefined ? gridLabelRows(grid.count, grid.cell) : undefined;
    await expectPngLike(readFileSync(path.join(outDir, file)), readFileSync(path.join(goldenDir, file)), `${name}/${file}`, skip);
  }
}
