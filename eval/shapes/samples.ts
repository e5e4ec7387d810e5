/** A page of sample scenes (PNG grid) for the docs, with their first captions. A layout on the contact-sheet maker. */
import { composeSheet, encodePlainPng, type SheetTile } from '../../src/image/index.js';
import { splitScene, type Split } from './generate.js';
import { renderScene } from './render.js';
import { IMAGE_SIZE } from './world.js';

export async function samplePage(split: Split, seed: number, count = 32, columns = 8, scale = 2): Promise<{ png: Buffer; captions: string[] }> {
  const tile = IMAGE_SIZE * scale;
  const pad = 4;
  const rows = Math.ceil(count / columns);
  const tiles: SheetTile[] = [];
  const captions: string[] = [];
  for (let i = 0; i < count; i++) {
    const generated = splitScene(split, seed, i);
    captions.push(generated.captions[0]);
    const image = { width: IMAGE_SIZE, height: IMAGE_SIZE, data: await renderScene(generated.scene) };
    tiles.push({ image, x: pad + (i % columns) * (tile + pad), y: pad + Math.floor(i / columns) * (tile + pad), width: tile, height: tile });
  }
  const sheet = await composeSheet({ width: pad + columns * (tile + pad), height: pad + rows * (tile + pad), background: [128, 128, 128], tiles });
  return { png: await encodePlainPng(sheet, { opaqueAlpha: true }), captions };
}
