/**
 * Reading an RGB scene back, the parts every world's judge shares: the background (the
 * named one most border pixels are nearest to, at its measured colour), the foreground
 * mask, and its connected components. Images are n x n, row-major, interleaved RGB.
 */
import { TesseraError } from '../../src/errors.js';

/** Accepted image inputs: raw RGB bytes, or an image with its size. */
export type JudgeInput = Uint8Array | { width: number; height: number; data: Uint8Array };

/** The RGB bytes of an n x n input; `judge` names the reader in the error. */
export function imageBytes(input: JudgeInput, n: number, judge: string): Uint8Array {
  const data = input instanceof Uint8Array ? input : input.data;
  if (!(input instanceof Uint8Array) && (input.width !== n || input.height !== n)) {
    throw new TesseraError('TESSERA_ERR_IMAGE', `${judge} reads ${n}x${n} images, got ${input.width}x${input.height}`);
  }
  if (data.length !== n * n * 3) throw new TesseraError('TESSERA_ERR_IMAGE', `expected ${n * n * 3} RGB bytes, got ${data.length}`);
  return data;
}

function dist2(r: number, g: number, b: number, to: readonly number[]): number {
  const dr = r - to[0];
  const dg = g - to[1];
  const db = b - to[2];
  return dr * dr + dg * dg + db * db;
}

/**
 * The background: the palette colour most border pixels are nearest to. Its measured
 * mean, not the palette value, is returned, so a decoder's colour shift is absorbed.
 */
export function detectBackground<B extends string>(data: Uint8Array, n: number, names: readonly B[], palette: Record<B, readonly number[]>): { background: B; rgb: number[] } {
  const votes = new Map<B, { count: number; sum: number[] }>();
  for (let i = 0; i < n; i++) {
    for (const p of [i, (n - 1) * n + i, i * n, i * n + n - 1]) {
      let name = names[0];
      let best = Infinity;
      for (const b of names) {
        const d = dist2(data[3 * p], data[3 * p + 1], data[3 * p + 2], palette[b]);
        if (d < best) [name, best] = [b, d];
      }
      const vote = votes.get(name) ?? { count: 0, sum: [0, 0, 0] };
      vote.count++;
      for (let c = 0; c < 3; c++) vote.sum[c] += data[3 * p + c];
      votes.set(name, vote);
    }
  }
  const [background, vote] = [...votes.entries()].sort((a, b) => b[1].count - a[1].count)[0];
  return { background, rgb: vote.sum.map((s) => s / vote.count) };
}

/** 1 where a pixel is more than `distance` (RGB) from the background colour `bg`. [n * n] */
export function foregroundMask(data: Uint8Array, n: number, bg: readonly number[], distance: number): Uint8Array {
  const fg = new Uint8Array(n * n);
  const threshold2 = distance * distance;
  for (let p = 0; p < n * n; p++) fg[p] = dist2(data[3 * p], data[3 * p + 1], data[3 * p + 2], bg) > threshold2 ? 1 : 0;
  return fg;
}

/**
 * Connected components of a binary mask, as lists of its pixel indices: 8-connected after
 * dilating by `mergeRadius` (0: none), so the separate parts of one drawing join.
 */
export function components(mask: Uint8Array, n: number, mergeRadius = 0): number[][] {
  let grown = mask;
  if (mergeRadius > 0) {
    grown = new Uint8Array(n * n);
    for (let p = 0; p < n * n; p++) {
      if (mask[p] === 0) continue;
      const x = p % n;
      const y = (p - x) / n;
      for (let dy = -mergeRadius; dy <= mergeRadius; dy++) for (let dx = -mergeRadius; dx <= mergeRadius; dx++) {
        const nx = x + dx;
        const ny = y + dy;
        if (nx >= 0 && ny >= 0 && nx < n && ny < n) grown[ny * n + nx] = 1;
      }
    }
  }
  const seen = new Uint8Array(n * n);
  const result: number[][] = [];
  for (let start = 0; start < n * n; start++) {
    if (grown[start] === 0 || seen[start] === 1) continue;
    const members: number[] = [];
    const stack = [start];
    seen[start] = 1;
    while (stack.length > 0) {
      const p = stack.pop() as number;
      if (mask[p] === 1) members.push(p);
      const x = p % n;
      const y = (p - x) / n;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx;
        const ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= n || ny >= n) continue;
        const q = ny * n + nx;
        if (grown[q] === 1 && seen[q] === 0) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    result.push(members);
  }
  return result;
}
