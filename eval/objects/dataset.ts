/** Writes an objects dataset as shards (images-NNNNN.npy, scenes-NNNNN.jsonl, meta.json), like the shapes one. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../../src/errors.js';
import { npyHeader } from '../world/npy.js';
import { MAX_CAPTION_WORDS, RELATION_PHRASES, SIZE_WORDS, nounForms, vocabularyOf } from './captions.js';
import { splitScene, type GeneratedScene, type Split } from './generate.js';
import { writeAtlas } from './atlas.js';
import { renderScene } from './render.js';
import { BACKGROUNDS, COLORS, RELATIONS, type World } from './world.js';

export const SHARD_SIZE = 10_000;

export interface DatasetOptions {
  world: World;
  count: number;
  seed: number;
  out: string;
  split?: Split;
  shardSize?: number;
  concurrency?: number;
  /** Scenes only, plus the sprite atlas (the GPU machine composites the images itself). */
  atlas?: boolean;
  onProgress?: (done: number, total: number) => void;
}

function shardName(prefix: string, shard: number, ext: string): string {
  return `${prefix}-${String(shard).padStart(5, '0')}.${ext}`;
}

async function renderRange(world: World, split: Split, seed: number, start: number, end: number, concurrency: number): Promise<{ scenes: GeneratedScene[]; images: Buffer }> {
  const pixels = world.imageSize * world.imageSize * 3;
  const images = Buffer.alloc((end - start) * pixels);
  const scenes: GeneratedScene[] = [];
  for (let i = start; i < end; i++) scenes.push(splitScene(world, split, seed, i));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < scenes.length) {
      const k = next++;
      images.set(await renderScene(world, scenes[k].scene), k * pixels);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { scenes, images };
}

/** What the Python trainers read besides the shards: vocabulary, concept surface forms (CLIP's concept swaps), palettes. */
export function datasetMeta(world: World): Record<string, unknown> {
  return {
    format: 'tessera-objects',
    world: world.name,
    image: { size: world.imageSize, channels: 3, dtype: 'uint8', layout: 'NHWC' },
    maxCaptionWords: MAX_CAPTION_WORDS,
    vocabulary: vocabularyOf(world),
    // Concept -> [singular, plural] surface forms, for hard negatives that swap concepts.
    nouns: Object.fromEntries(world.concepts.map((c) => [c.name, nounForms(world, c.name)])),
    colors: COLORS,
    backgrounds: BACKGROUNDS,
    sizes: world.sizes,
    sizeWords: SIZE_WORDS,
    relations: RELATIONS,
    relationPhrases: RELATION_PHRASES,
    heldOutColors: world.heldOutColors,
    heldOutPairs: world.heldOutPairs,
  };
}

export async function writeObjectsDataset(options: DatasetOptions): Promise<{ scenes: number; shards: number; seconds: number }> {
  const { world, count, seed, out } = options;
  const split = options.split ?? 'train';
  const shardSize = options.shardSize ?? SHARD_SIZE;
  if (!Number.isInteger(count) || count < 1) throw new TesseraError('TESSERA_ERR_OPTION', `count must be a positive integer, got ${count}`, { param: 'count' });
  if (!Number.isInteger(seed) || seed < 0) throw new TesseraError('TESSERA_ERR_OPTION', `seed must be a non-negative integer, got ${seed}`, { param: 'seed' });
  await mkdir(out, { recursive: true });
  const started = performance.now();
  const shards: { images: string; scenes: string; count: number }[] = [];
  const n = world.imageSize;
  for (let shard = 0, start = 0; start < count; shard++, start += shardSize) {
    const end = Math.min(count, start + shardSize);
    const imagesFile = shardName('images', shard, 'npy');
    const scenesFile = shardName('scenes', shard, 'jsonl');
    let scenes: GeneratedScene[];
    if (options.atlas === true) {
      scenes = Array.from({ length: end - start }, (_, k) => splitScene(world, split, seed, start + k));
    } else {
      const rendered = await renderRange(world, split, seed, start, end, options.concurrency ?? 8);
      scenes = rendered.scenes;
      await writeFile(join(out, imagesFile), Buffer.concat([npyHeader([end - start, n, n, 3]), rendered.images]));
    }
    await writeFile(join(out, scenesFile), scenes.map((s) => JSON.stringify({ captions: s.captions, scene: s.scene, spec: s.spec })).join('\n') + '\n');
    shards.push({ images: imagesFile, scenes: scenesFile, count: end - start });
    options.onProgress?.(end, count);
  }
  const sprites = options.atlas === true ? await writeAtlas(world, out) : 0;
  const seconds = (performance.now() - started) / 1000;
  const meta = { ...datasetMeta(world), formatVersion: 1, split, seed, count, shardSize, atlas: options.atlas === true ? { sprites, file: 'sprites.npy', index: 'sprites.json' } : null, shards };
  await writeFile(join(out, 'meta.json'), JSON.stringify(meta, null, 1) + '\n');
  return { scenes: count, shards: shards.length, seconds };
}
