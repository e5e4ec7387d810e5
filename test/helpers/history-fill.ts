/**
 * Fills a result store with `count` stored generations without running a model: one small
 * PNG per kept image and a record.json each, newest last. The gallery's e2e tests and its
 * bench (bench/gallery.bench.ts) use it to have a long history at once.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { GenerationRecord, ResultStore, StoredImage } from '../../src/server/store.js';

/** A 16x16 PNG of one colour per index, so tiles differ on screen. */
async function tilePng(index: number): Promise<Buffer> {
  const hue = (index * 47) % 360;
  const r = Math.round(128 + 127 * Math.cos((hue * Math.PI) / 180));
  const g = Math.round(128 + 127 * Math.cos(((hue - 120) * Math.PI) / 180));
  const b = Math.round(128 + 127 * Math.cos(((hue + 120) * Math.PI) / 180));
  return sharp({ create: { width: 16, height: 16, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

export interface FillOptions {
  /** Unix seconds of the first (oldest) record; each next one is one second later. */
  start?: number;
  /** Kept images per generation. */
  kept?: number;
  /** The tenant that owns them (src/server/tenancy.ts); null: unowned. */
  owner?: string | null;
}

export async function fillHistory(store: ResultStore, count: number, { start = 1_700_000_000, kept = 1, owner = null }: FillOptions = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const id = randomUUID();
    const png = await tilePng(i);
    const images: StoredImage[] = [];
    for (let k = 0; k < kept; k += 1) {
      const file = `image-${k}.png`;
      await store.writeFile(id, file, png);
      images.push({ rank: k + 1, candidate_index: k, seed: i, clip_score: 0.3 - k * 0.01, kept: true, file });
    }
    const record: GenerationRecord = {
      id,
      object: 'generation',
      created: start + i,
      model: 'tiny',
      prompt: `stored picture number ${i}`,
      negative_prompt: null,
      seed: i,
      user: null,
      size: '16x16',
      native_size: '16x16',
      upscaled: false,
      output_format: 'png',
      settings: { candidates: kept },
      timings: {},
      warnings: [],
      images,
      candidates: images,
    };
    await store.save(record, owner);
    ids.push(id);
  }
  return ids;
}
