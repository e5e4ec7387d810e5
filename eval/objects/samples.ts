/** A page of sample objects scenes (PNG grid) for the docs, with their first captions. */
import type { Split } from '../world/layout.js';
import { samplePage as worldSamplePage } from '../world/samples.js';
import { splitScene } from './generate.js';
import { renderScene } from './render.js';
import type { World } from './world.js';

export async function samplePage(world: World, split: Split, seed: number, count = 32, columns = 8): Promise<{ png: Buffer; captions: string[] }> {
  return worldSamplePage({ imageSize: world.imageSize, sceneAt: (i) => splitScene(world, split, seed, i), render: (scene) => renderScene(world, scene), count, columns });
}
