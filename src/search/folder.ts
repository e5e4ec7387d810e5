import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { TesseraError } from '../errors.js';
import type { RgbImage } from '../types.js';
import type { SearchIndex } from './index.js';
import type { SearchRecord } from './store.js';

/**
 * Keeps a folder's search index (FOLDER/search.sqlite) up to date with the images in
 * it, so that `tessera search` works on folders made before results carried their
 * embeddings: a batch output folder (records/NNNN.json, format tessera-batch-record)
 * or a server data folder (results/ID/record.json). Only kept images are indexed, and
 * only those not indexed yet; an index row whose file is gone is dropped.
 */

export const INDEX_FILE = 'search.sqlite';

export type FolderKind = 'batch' | 'server';

export interface FolderImage extends SearchRecord {
  /** Absolute path of the image file. */
  file: string;
}

export function folderKind(dir: string): FolderKind {
  if (existsSync(path.join(dir, 'records'))) return 'batch';
  if (existsSync(path.join(dir, 'results'))) return 'server';
  throw new TesseraError('TESSERA_ERR_INPUT_FILE', `${dir} is neither a batch output folder (records/) nor a server data folder (results/)`, { param: 'folder' });
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return null; // a half-written or foreign file: skipped, as the batch runner would
  }
}

interface BatchRecord {
  format?: string;
  spec?: { prompt?: string; model?: string };
  candidates?: { kept?: boolean; file?: string | null }[];
}

interface ServerRecord {
  id?: string;
  created?: number;
  prompt?: string;
  model?: string;
  images?: { file?: string }[];
}

/** Every kept image a folder describes, with the fields the index stores. */
export function listFolderImages(dir: string): FolderImage[] {
  const images: FolderImage[] = [];
  if (folderKind(dir) === 'batch') {
    const records = path.join(dir, 'records');
    for (const name of readdirSync(records).filter((n) => /^\d+\.json$/.test(n)).sort()) {
      const file = path.join(records, name);
      const record = readJson(file) as BatchRecord | null;
      if (record?.format !== 'tessera-batch-record') continue;
      const created = Math.floor(statSync(file).mtimeMs / 1000);
      for (const c of record.candidates ?? []) {
        if (c.kept !== true || typeof c.file !== 'string') continue;
        images.push({ id: c.file.replace(/\.[a-z]+$/, ''), prompt: record.spec?.prompt ?? '', model: record.spec?.model ?? '', created, source: c.file, file: path.join(dir, c.file) });
      }
    }
  } else {
    const results = path.join(dir, 'results');
    for (const id of readdirSync(results).sort()) {
      const record = readJson(path.join(results, id, 'record.json')) as ServerRecord | null;
      if (record === null || record.id !== id) continue;
      for (const image of record.images ?? []) {
        if (typeof image.file !== 'string') continue;
        const source = `results/${id}/${image.file}`;
        images.push({ id: `${id}/${image.file}`, prompt: record.prompt ?? '', model: record.model ?? '', created: record.created ?? 0, source, file: path.join(dir, source) });
      }
    }
  }
  return images;
}

async function readRgb(file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_IMAGE', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

export interface Embedder {
  embedImages(images: readonly RgbImage[]): Promise<Float32Array[]>;
}

/**
 * Embeds and stores the folder's images the index lacks, in batches of `batch`; drops
 * rows whose image is no longer listed. Returns how many were added and removed.
 */
export async function updateFolderIndex(dir: string, index: SearchIndex, clip: Embedder, batch = 32): Promise<{ added: number; removed: number }> {
  const images = listFolderImages(dir).filter((img) => existsSync(img.file));
  const listed = new Set(images.map((img) => img.id));
  let removed = 0;
  for (const id of index.ids()) {
    if (!listed.has(id)) removed += index.delete(id) ? 1 : 0;
  }
  const missing = images.filter((img) => !index.has(img.id));
  for (let start = 0; start < missing.length; start += batch) {
    const chunk = missing.slice(start, start + batch);
    const embeddings = await clip.embedImages(await Promise.all(chunk.map((img) => readRgb(img.file))));
    index.insertMany(chunk.map(({ file: _file, ...record }, i) => ({ record, embedding: embeddings[i]! })));
  }
  return { added: missing.length, removed };
}
