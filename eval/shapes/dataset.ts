/** Writes the shapes dataset as shards (eval/world/shards.ts): images-NNNNN.npy, scenes-NNNNN.jsonl, meta.json. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHARD_SIZE, writeShards, type DatasetOptionsBase } from '../world/shards.js';
import { MAX_CAPTION_WORDS, VOCABULARY } from './captions.js';
import { splitScene } from './generate.js';
import { renderScene } from './render.js';
import { BACKGROUNDS, COLORS, HELD_OUT_PAIRS, IMAGE_SIZE, RELATIONS, SHAPES, SIZES } from './world.js';

const DATASET_FORMAT_VERSION = 1;

export type DatasetOptions = DatasetOptionsBase;

export interface DatasetSummary {
  scenes: number;
  shards: number;
  seconds: number;
  scenesPerSecond: number;
}

export async function writeDataset(options: DatasetOptions): Promise<DatasetSummary> {
  const { count, seed, out } = options;
  const split = options.split ?? 'train';
  const shardSize = options.shardSize ?? SHARD_SIZE;
  const started = performance.now();
  const shards = await writeShards({
    count, seed, out, shardSize, imageSize: IMAGE_SIZE, concurrency: options.concurrency ?? 8, onProgress: options.onProgress,
    sceneAt: (i) => splitScene(split, seed, i), render: renderScene,
  });
  const seconds = (performance.now() - started) / 1000;
  const meta = {
    format: 'tessera-shapes',
    formatVersion: DATASET_FORMAT_VERSION,
    split,
    seed,
    count,
    shardSize,
    image: { size: IMAGE_SIZE, channels: 3, dtype: 'uint8', layout: 'NHWC' },
    maxCaptionWords: MAX_CAPTION_WORDS,
    vocabulary: VOCABULARY,
    shapes: SHAPES,
    colors: COLORS,
    backgrounds: BACKGROUNDS,
    sizes: SIZES,
    relations: RELATIONS,
    heldOutPairs: HELD_OUT_PAIRS,
    shards,
  };
  await writeFile(join(out, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  return { scenes: count, shards: shards.length, seconds, scenesPerSecond: count / seconds };
}
