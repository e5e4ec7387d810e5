/** Writes the shapes dataset as shards: images-NNNNN.npy, scenes-NNNNN.jsonl, meta.json. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../../src/errors.js';
import { MAX_CAPTION_WORDS, VOCABULARY } from './captions.js';
import { splitScene, type GeneratedScene, type Split } from './generate.js';
import { npyHeader } from '../world/npy.js';
import { renderScene } from './render.js';
import { BACKGROUNDS, COLORS, HELD_OUT_PAIRS, IMAGE_SIZE, RELATIONS, SHAPES, SIZES } from './world.js';

export const SHARD_SIZE = 10_000;
export const DATASET_FORMAT_VERSION = 1;

export interface DatasetOptions {
  count: number;
  seed: number;
  out: string;
  split?: Split;
  shardSize?: number;
  /** Renders in flight at once; sharp runs them on its own thread pool (both cores). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface DatasetSummary {
  scenes: number;
  shards: number;
  seconds: number;
  scenesPerSecond: number;
}

function shardName(prefix: string, shard: number, ext: string): string {
  return `${prefix}-${String(shard).padStart(5, '0')}.${ext}`;
}

/** Renders scenes [start, end) of a split, keeping order, `concurrency` at a time. */
async function renderRange(split: Split, seed: number, start: number, end: number, concurrency: number): Promise<{ scenes: GeneratedScene[]; images: Buffer }> {
  const pixels = IMAGE_SIZE * IMAGE_SIZE * 3;
  const images = Buffer.alloc((end - start) * pixels);
  const scenes: GeneratedScene[] = [];
  for (let i = start; i < end; i++) scenes.push(splitScene(split, seed, i));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < scenes.length) {
      const k = next++;
      images.set(await renderScene(scenes[k].scene), k * pixels);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { scenes, images };
}

export async function writeDataset(options: DatasetOptions): Promise<DatasetSummary> {
  const { count, seed, out } = options;
  const split = options.split ?? 'train';
  const shardSize = options.shardSize ?? SHARD_SIZE;
  if (!Number.isInteger(count) || count < 1) throw new TesseraError('TESSERA_ERR_OPTION', `count must be a positive integer, got ${count}`, { param: 'count' });
  if (!Number.isInteger(seed) || seed < 0) throw new TesseraError('TESSERA_ERR_OPTION', `seed must be a non-negative integer, got ${seed}`, { param: 'seed' });
  await mkdir(out, { recursive: true });
  const started = performance.now();
  const shards: { images: string; scenes: string; count: number }[] = [];
  for (let shard = 0, start = 0; start < count; shard++, start += shardSize) {
    const end = Math.min(count, start + shardSize);
    const { scenes, images } = await renderRange(split, seed, start, end, options.concurrency ?? 8);
    const imagesFile = shardName('images', shard, 'npy');
    const scenesFile = shardName('scenes', shard, 'jsonl');
    await writeFile(join(out, imagesFile), Buffer.concat([npyHeader([end - start, IMAGE_SIZE, IMAGE_SIZE, 3]), images]));
    await writeFile(join(out, scenesFile), scenes.map((s) => JSON.stringify({ captions: s.captions, scene: s.scene, spec: s.spec })).join('\n') + '\n');
    shards.push({ images: imagesFile, scenes: scenesFile, count: end - start });
    options.onProgress?.(end, count);
  }
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
