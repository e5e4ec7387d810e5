/**
 * Dataset sharding shared by every world: scenes rendered in order, a bounded number at
 * once, written as images-NNNNN.npy (uint8 [count, n, n, 3]) and scenes-NNNNN.jsonl
 * (captions, scene, spec) per shard. A world writes its meta.json beside them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TesseraError } from '../../src/errors.js';
import type { Split } from './layout.js';
import { npyHeader } from './npy.js';

export const SHARD_SIZE = 10_000;

/** One scene as the dataset stores it. */
export interface DatasetScene<Scene> {
  captions: string[];
  scene: Scene;
  spec: unknown;
}

/** What every world's dataset writer takes. */
export interface DatasetOptionsBase {
  count: number;
  seed: number;
  out: string;
  split?: Split;
  shardSize?: number;
  /** Renders in flight at once; sharp runs them on its own thread pool (both cores). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ShardEntry { images: string; scenes: string; count: number }

export interface ShardOptions<Scene> {
  count: number;
  seed: number;
  out: string;
  shardSize: number;
  imageSize: number;
  /** Scene `index` of the dataset. */
  sceneAt(index: number): DatasetScene<Scene>;
  /** RGB bytes of a scene [imageSize, imageSize, 3]. */
  render(scene: Scene): Promise<Uint8Array>;
  /** Renders in flight at once; sharp runs them on its own thread pool. */
  concurrency: number;
  /** Scenes only: no images-NNNNN.npy (another machine draws them). */
  scenesOnly?: boolean;
  onProgress?: (done: number, total: number) => void;
}

function shardName(prefix: string, shard: number, ext: string): string {
  return `${prefix}-${String(shard).padStart(5, '0')}.${ext}`;
}

/** Renders scenes [start, end), keeping order, `concurrency` at a time. */
async function renderRange<Scene>(options: ShardOptions<Scene>, start: number, end: number): Promise<{ scenes: DatasetScene<Scene>[]; images: Buffer }> {
  const pixels = options.imageSize * options.imageSize * 3;
  const images = Buffer.alloc((end - start) * pixels);
  const scenes: DatasetScene<Scene>[] = [];
  for (let i = start; i < end; i++) scenes.push(options.sceneAt(i));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < scenes.length) {
      const k = next++;
      images.set(await options.render(scenes[k].scene), k * pixels);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { scenes, images };
}

/** Refuses a count or seed that is not a positive / non-negative integer. */
function checkDatasetSize(count: number, seed: number): void {
  if (!Number.isInteger(count) || count < 1) throw new TesseraError('TESSERA_ERR_OPTION', `count must be a positive integer, got ${count}`, { param: 'count' });
  if (!Number.isInteger(seed) || seed < 0) throw new TesseraError('TESSERA_ERR_OPTION', `seed must be a non-negative integer, got ${seed}`, { param: 'seed' });
}

/** Writes every shard into `out` (made if missing); the shards' entries for meta.json. */
export async function writeShards<Scene>(options: ShardOptions<Scene>): Promise<ShardEntry[]> {
  const { count, out, shardSize } = options;
  checkDatasetSize(count, options.seed);
  await mkdir(out, { recursive: true });
  const n = options.imageSize;
  const shards: ShardEntry[] = [];
  for (let shard = 0, start = 0; start < count; shard++, start += shardSize) {
    const end = Math.min(count, start + shardSize);
    const imagesFile = shardName('images', shard, 'npy');
    const scenesFile = shardName('scenes', shard, 'jsonl');
    let scenes: DatasetScene<Scene>[];
    if (options.scenesOnly === true) {
      scenes = Array.from({ length: end - start }, (_, k) => options.sceneAt(start + k));
    } else {
      const rendered = await renderRange(options, start, end);
      scenes = rendered.scenes;
      await writeFile(join(out, imagesFile), Buffer.concat([npyHeader([end - start, n, n, 3]), rendered.images]));
    }
    await writeFile(join(out, scenesFile), scenes.map((s) => JSON.stringify({ captions: s.captions, scene: s.scene, spec: s.spec })).join('\n') + '\n');
    shards.push({ images: imagesFile, scenes: scenesFile, count: end - start });
    options.onProgress?.(end, count);
  }
  return shards;
}
