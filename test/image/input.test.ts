import { describe, expect, it } from 'vitest';
import { MAX_INPUT_BYTES, maskToGrid, readInputImage, readMask } from '../../src/image/input.js';
import { maskPng, testPicture } from '../helpers/images.js';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('input images', () => {
  it('brings any size and format to the model size and says what it did', async () => {
    const wide = await readInputImage(await testPicture(120, 60, 'jpeg'), 64);
    expect(wide.image.width).toBe(64);
    expect(wide.image.data).toHaveLength(64 * 64 * 3);
    expect(wide.origin).toEqual({ width: 120, height: 60, format: 'jpeg' });
    expect(wide.adjusted).toContain('resized from 120x60 and centre-cropped to 64x64');
    expect(wide.adjusted).toContain('converted from jpeg');
    expect(wide.transparent).toBeNull();
    const exact = await readInputImage(await testPicture(64, 64), 64);
    expect(exact.adjusted).toBeNull();
  });

  it('a centre crop keeps the middle of a wide picture', async () => {
    // The red square of testPicture sits at x in (w/4, w/2): after a centre crop of a 2:1 picture it is in the left half.
    const { image } = await readInputImage(await testPicture(128, 64), 64);
    const at = (x: number, y: number) => Array.from(image.data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
    expect(at(10, 24)[0]).toBeGreaterThan(200);
    expect(at(10, 24)[1]).toBeLessThan(60);
  });

  it('refuses what is not an image, empty bytes and oversized uploads with codes', async () => {
    expect(await codeOf(readInputImage(Buffer.from('hello, not an image'), 64))).toBe('TESSERA_ERR_INPUT_IMAGE');
    expect(await codeOf(readInputImage(Buffer.alloc(0), 64))).toBe('TESSERA_ERR_INPUT_IMAGE');
    expect(await codeOf(readInputImage(Buffer.alloc(MAX_INPUT_BYTES + 1), 64))).toBe('TESSERA_ERR_INPUT_IMAGE_TOO_LARGE');
    const truncated = (await testPicture(64, 64)).subarray(0, 60);
    expect(await codeOf(readInputImage(truncated, 64))).toBe('TESSERA_ERR_INPUT_IMAGE');
  });

  it('reads a mask: transparent pixels to change, rounded outwards to grid cells', async () => {
    const origin = { width: 128, height: 128, format: 'png' };
    // Transparent in the top-left quarter plus one pixel column into the next cell.
    const changed = await readMask(await maskPng(128, 128, { x0: 0, y0: 0, x1: 66, y1: 64 }), origin, 64);
    const grid = maskToGrid(changed, 64, { height: 8, width: 8 });
    const expected = Array.from({ length: 64 }, (_, j) => (Math.floor(j / 8) < 4 && j % 8 < 5 ? 1 : 0));
    expect(Array.from(grid)).toEqual(expected);
  });

  it('refuses masks of the wrong size, format or alpha, and masks with nothing to change', async () => {
    const origin = { width: 64, height: 64, format: 'png' };
    expect(await codeOf(readMask(await maskPng(32, 32, { x0: 0, y0: 0, x1: 8, y1: 8 }), origin, 64))).toBe('TESSERA_ERR_MASK');
    expect(await codeOf(readMask(await testPicture(64, 64), origin, 64))).toBe('TESSERA_ERR_MASK');
    expect(await codeOf(readMask(await testPicture(64, 64, 'jpeg'), origin, 64))).toBe('TESSERA_ERR_MASK');
    expect(await codeOf(readMask(await maskPng(64, 64, null), origin, 64))).toBe('TESSERA_ERR_MASK');
    expect(await codeOf(readMask(Buffer.from('not a png'), origin, 64))).toBe('TESSERA_ERR_INPUT_IMAGE');
  });

  it("an image's own transparency is reported at the model size", async () => {
    const rgba = await maskPng(32, 32, { x0: 16, y0: 0, x1: 32, y1: 32 });
    const input = await readInputImage(rgba, 64);
    expect(input.transparent).not.toBeNull();
    expect(input.transparent![10 * 64 + 5]).toBe(0);
    expect(input.transparent![10 * 64 + 60]).toBe(1);
    expect(input.adjusted).toContain('transparency flattened onto white');
  });
});
