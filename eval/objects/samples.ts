/** A page of sample scenes (PNG grid) for the docs, with their first captions. */
import sharp, { type OverlayOptions } from 'sharp';
import { splitScene, type Split } from './generate.js';
import { renderScene } from './render.js';
import type { World } from './world.js';

export async function samplePage(world: World, split: Split, seed: number, count = 32, columns = 8): Promise<{ png: Buffer; captions: string[] }> {
  const tile = world.imageSize;
  const pad = 4;
  const rows = Math.ceil(count / columns);
  const composites: OverlayOptions[] = [];
  const captions: string[] = [];
  for (let i = 0; i < count; i++) {
    const generated = splitScene(world, split, seed, i);
    captions.push(generated.captions[0]);
    const raw = await renderScene(world, generated.scene);
    const input = await sharp(Buffer.from(raw), { raw: { width: tile, height: tile, channels: 3 } }).png().toBuffer();
    composites.push({ input, left: pad + (i % columns) * (tile + pad), top: pad + Math.floor(i / columns) * (tile + pad) });
  }
  const png = await sharp({ create: { width: pad + columns * (tile + pad), height: pad + rows * (tile + pad), channels: 3, background: '#808080' } })
    .composite(composites).png().toBuffer();
  return { png, captions };
}
