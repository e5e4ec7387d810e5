/** A page of sample shapes scenes (PNG grid, tiles drawn at twice their size) for the docs, with their first captions. */
import type { Split } from '../world/layout.js';
import { samplePage as worldSamplePage } from '../world/samples.js';
import { splitScene } from './generate.js';
import { renderScene } from './render.js';
import { IMAGE_SIZE } from './world.js';

export async function samplePage(split: Split, seed: number, count = 32, columns = 8, scale = 2): Promise<{ png: Buffer; captions: string[] }> {
  return worldSamplePage({ imageSize: IMAGE_SIZE, sceneAt: (i) => splitScene(split, seed, i), render: renderScene, count, columns, scale });
}
