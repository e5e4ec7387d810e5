/** A page of sample scenes (PNG grid) for the docs, with their first captions: a layout on the product's contact-sheet maker. */
import { composeSheet, encodePlainPng, type SheetTile } from '../../src/image/index.js';

export interface SamplePageOptions<Scene> {
  imageSize: number;
  /** Scene `index` of the page. */
  sceneAt(index: number): { captions: string[]; scene: Scene };
  render(scene: Scene): Promise<Uint8Array>;
  count?: number;
  columns?: number;
  /** Each tile's edge is imageSize * scale. */
  scale?: number;
}

export async function samplePage<Scene>(options: SamplePageOptions<Scene>): Promise<{ png: Buffer; captions: string[] }> {
  const { imageSize, count = 32, columns = 8, scale = 1 } = options;
  const tile = imageSize * scale;
  const pad = 4;
  const rows = Math.ceil(count / columns);
  const tiles: SheetTile[] = [];
  const captions: string[] = [];
  for (let i = 0; i < count; i++) {
    const generated = options.sceneAt(i);
    captions.push(generated.captions[0]);
    const image = { width: imageSize, height: imageSize, data: await options.render(generated.scene) };
    tiles.push({ image, x: pad + (i % columns) * (tile + pad), y: pad + Math.floor(i / columns) * (tile + pad), width: tile, height: tile });
  }
  const sheet = await composeSheet({ width: pad + columns * (tile + pad), height: pad + rows * (tile + pad), background: [128, 128, 128], tiles });
  return { png: await encodePlainPng(sheet, { opaqueAlpha: true }), captions };
}
