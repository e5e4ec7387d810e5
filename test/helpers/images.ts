import sharp from 'sharp';

/** A smooth RGB test picture (gradients and a square) as PNG/JPEG bytes, any size. */
export async function testPicture(width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inSquare = x > width / 4 && x < width / 2 && y > height / 4 && y < height / 2;
      data[i] = inSquare ? 230 : Math.round((255 * x) / width);
      data[i + 1] = inSquare ? 20 : Math.round((255 * y) / height);
      data[i + 2] = inSquare ? 20 : 128;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } })[format]().toBuffer();
}

/**
 * An RGBA PNG mask: fully transparent (alpha 0) inside `hole` (pixel rectangle), opaque black elsewhere.
 * OpenAI's convention: transparent pixels mark what to change.
 */
export async function maskPng(width: number, height: number, hole: { x0: number; y0: number; x1: number; y1: number } | null): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = hole !== null && x >= hole.x0 && x < hole.x1 && y >= hole.y0 && y < hole.y1;
      data[(y * width + x) * 4 + 3] = inside ? 0 : 255;
    }
  }
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}
