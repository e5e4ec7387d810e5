/** The golden comparison (test/helpers/golden.ts) lets a CPU's float bits through and nothing else. */
import { describe, expect, it } from 'vitest';
import { encodePng, gridCellOrigin, GRID_LAYOUT } from '../../src/image/index.js';
import { expectPngLike, expectTextLike, gridLabelRows, NUMBER_TOLERANCE, PIXEL_TOLERANCE } from '../helpers/golden.js';
import { patternImage, SAMPLE_META } from '../image/helpers.js';

const fails = async (check: () => unknown): Promise<void> => {
  let failed = false;
  try {
    await check();
  } catch {
    failed = true;
  }
  expect(failed).toBe(true);
};

describe('golden comparison', () => {
  it('text: numbers within one rounding step pass; a further number, another integer or other words fail', async () => {
    expectTextLike('CLIP score: 0.1848, Rank: 1', 'CLIP score: 0.1849, Rank: 1', 'infotext');
    expectTextLike('{"score":0.185,"rank":2}', '{"score":0.1849,"rank":2}', 'json');
    await fails(() => expectTextLike('CLIP score: 0.1848, Rank: 1', 'CLIP score: 0.1850, Rank: 1', 'infotext'));
    await fails(() => expectTextLike('CLIP score: 0.1848, Rank: 2', 'CLIP score: 0.1848, Rank: 1', 'infotext'));
    await fails(() => expectTextLike('Seed: 43', 'Seed: 42', 'infotext'));
    await fails(() => expectTextLike('a red circle', 'a blue circle', 'prompt'));
    expect(NUMBER_TOLERANCE).toBeLessThan(1.01e-4);
  });

  it('PNG: pixels within the tolerance pass, beyond it fail; metadata differences fail', async () => {
    const image = patternImage(16, 16);
    const expected = await encodePng(image, SAMPLE_META);
    await expectPngLike(await encodePng(image, { ...SAMPLE_META, score: SAMPLE_META.score! + 0.0001 }), expected, 'score a step apart');
    const nudged = { ...image, data: image.data.map((v) => (v >= 128 ? v - PIXEL_TOLERANCE : v + PIXEL_TOLERANCE)) };
    await expectPngLike(await encodePng(nudged, SAMPLE_META), expected, 'pixels within tolerance');
    const moved = { ...image, data: Uint8Array.from(image.data) };
    moved.data[100] = moved.data[100] >= 128 ? moved.data[100] - PIXEL_TOLERANCE - 1 : moved.data[100] + PIXEL_TOLERANCE + 1;
    await fails(() => encodePng(moved, SAMPLE_META).then((png) => expectPngLike(png, expected, 'one channel beyond')));
    await fails(() => encodePng(image, { ...SAMPLE_META, rank: 2 }).then((png) => expectPngLike(png, expected, 'rank')));
    await fails(() => encodePng(image, { ...SAMPLE_META, score: 0.3125 }).then((png) => expectPngLike(png, expected, 'score')));
    await fails(() => encodePng(image, { ...SAMPLE_META, candidateIndex: 4 }).then((png) => expectPngLike(png, expected, 'candidate')));
  });

  it('a grid\'s label rows are the strips under each row of cells', () => {
    const skip = gridLabelRows(6, { width: 64, height: 64 });
    const { y } = gridCellOrigin(0, { width: 64, height: 64 }, { columns: 3, scale: 2 });
    expect(skip(y)).toBe(false);
    expect(skip(y + 127)).toBe(false);
    expect(skip(y + 128 + GRID_LAYOUT.border)).toBe(true);
    expect(skip(y + 128 + GRID_LAYOUT.border + GRID_LAYOUT.labelHeight - 1)).toBe(true);
    const second = gridCellOrigin(3, { width: 64, height: 64 }, { columns: 3, scale: 2 });
    expect(skip(second.y)).toBe(false);
    expect(skip(second.y + 128 + GRID_LAYOUT.border)).toBe(true);
  });
});
