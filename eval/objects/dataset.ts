/** Writes an objects dataset as shards (eval/world/shards.ts: images-NNNNN.npy, scenes-NNNNN.jsonl) and meta.json. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHARD_SIZE, writeShards, type DatasetOptionsBase } from '../world/shards.js';
import { MAX_CAPTION_WORDS, RELATION_PHRASES, SIZE_WORDS, nounForms, vocabularyOf } from './captions.js';
import { splitScene } from './generate.js';
import { writeAtlas } from './atlas.js';
import { renderScene } from './render.js';
import { BACKGROUNDS, COLORS, RELATIONS, type World } from './world.js';

export interface DatasetOptions extends DatasetOptionsBase {
  world: World;
  /** Scenes only, plus the sprite atlas (the GPU machine composites the images itself). */
  atlas?: boolean;
}

/** What the Python trainers read besides the shards: vocabulary, concept surface forms (CLIP's concept swaps), palettes. */
function datasetMeta(world: World): Record<string, unknown> {
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
  const started = performance.now();
  const shards = await writeShards({
    count, seed, out, shardSize, imageSize: world.imageSize, concurrency: options.concurrency ?? 8, scenesOnly: options.atlas === true,
    onProgress: options.onProgress, sceneAt: (i) => splitScene(world, split, seed, i), render: (scene) => renderScene(world, scene),
  });
  const sprites = options.atlas === true ? await writeAtlas(world, out) : 0;
  const seconds = (performance.now() - started) / 1000;
  const meta = { ...datasetMeta(world), formatVersion: 1, split, seed, count, shardSize, atlas: options.atlas === true ? { sprites, file: 'sprites.npy', index: 'sprites.json' } : null, shards };
  await writeFile(join(out, 'meta.json'), JSON.stringify(meta, null, 1) + '\n');
  return { scenes: count, shards: shards.length, seconds };
}
