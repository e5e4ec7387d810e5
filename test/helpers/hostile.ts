/**
 * The hostile uploads of issue 23's probe, shared by the hardening tests and the fuzzers:
 * a 1.2 KB SVG whose filters took librsvg over 13 minutes, other refused formats, a
 * transparent 4096x4096 mask (about 65 KB) and corrupt or lying PNGs.
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** 4096x4096, feTurbulence (10 octaves) + feGaussianBlur (stdDeviation 500) over 20 full-size rects. */
export function hostileSvg(): Buffer {
  const rects = Array.from({ length: 20 }, (_, i) => `<rect width="4096" height="4096" fill="#${(i * 12345).toString(16).padStart(6, '0').slice(0, 6)}" filter="url(#f)"/>`).join('');
  return Buffer.from(
    `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="4096" height="4096"><defs><filter id="f"><feTurbulence baseFrequency="0.9" numOctaves="10"/><feGaussianBlur stdDeviation="500"/></filter></defs>${rects}</svg>`,
  );
}

/** A fully transparent RGBA PNG of width x height: the big-mask case at 4096x4096. */
export async function transparentPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png({ compressionLevel: 9 }).toBuffer();
}

/** A plain opaque image of width x height (small when encoded: one colour). */
export async function flatImage(width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 200 } } })[format]().toBuffer();
}

function crc32(data: Buffer): number {
  let c = ~0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG whose header claims width x height pixels with almost no data: a decompression bomb's shape. */
export function lyingPng(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

/** Formats that are refused, as real files (GIF, TIFF from sharp) or their first bytes, with the name the refusal gives. */
export async function refusedImages(): Promise<{ name: string; data: Buffer }[]> {
  const base = sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } });
  return [
    { name: 'SVG', data: hostileSvg() },
    { name: 'SVG', data: Buffer.from('\uFEFF  <!-- a comment --><svg width="10" height="10"></svg>') },
    { name: 'GIF', data: await base.clone().gif().toBuffer() },
    { name: 'TIFF', data: await base.clone().tiff().toBuffer() },
    { name: 'BMP', data: Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]) },
    { name: 'AVIF', data: Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypavif'), Buffer.alloc(40)]) },
    { name: 'HEIF', data: Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypheic'), Buffer.alloc(40)]) },
    { name: 'PDF', data: Buffer.from('%PDF-1.7\n%...') },
  ];
}
