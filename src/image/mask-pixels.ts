/**
 * The per-pixel part of reading a mask, as a pure function over an alpha plane: which
 * model pixels a fully transparent source pixel reaches under the centre "cover" crop.
 * It walks every source pixel (16.7 M for a 4096x4096 mask), so it runs in a worker
 * thread (pixel-pool.ts), never on the HTTP event loop (issue 23: a 65 KB transparent
 * 4096x4096 mask held the loop for 0.3-1.1 s per request).
 */

/**
 * Per model pixel (size * size), 1 where a fully transparent source pixel (alpha 0) reaches
 * it. Each transparent source pixel marks every model pixel its area reaches, so the region
 * to change only grows (never a blurred edge's guess).
 */
export function transparentFromAlpha(alpha: Uint8Array, width: number, height: number, size: number): Uint8Array {
  const scale = size / Math.min(width, height);
  const offsetX = (width * scale - size) / 2;
  const offsetY = (height * scale - size) / 2;
  // The model pixels [first, last] a source pixel's extent [p*scale - offset, (p+1)*scale - offset) reaches.
  const first = (p: number, offset: number): number => Math.max(0, Math.floor(p * scale - offset + 1e-9));
  const last = (p: number, offset: number): number => Math.min(size - 1, Math.ceil((p + 1) * scale - offset - 1e-9) - 1);
  const changed = new Uint8Array(size * size); // [size, size]
  for (let y = 0; y < height; y++) {
    const y0 = first(y, offsetY);
    const y1 = last(y, offsetY);
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (alpha[row + x] !== 0) continue; // alpha: [h, w]
      const x0 = first(x, offsetX);
      const x1 = last(x, offsetX);
      for (let my = y0; my <= y1; my++) changed.fill(1, my * size + x0, my * size + x1 + 1);
    }
  }
  return changed;
}
