import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ModelManifest } from '../model/manifest.js';

/**
 * Which embedding space a model's results live in: the CLIP that ranked them. An index
 * holds one space (src/search/index.ts checks it on open): the package's own CLIP is
 * `<model name>/clip`; a CLIP given with --clip is named by its folder.
 */
export interface EmbeddingSpace {
  space: string;
  /** Embedding width (the CLIP config's projection_dim). */
  dim: number;
  clipDir: string;
}

/** The space of a model package's results, or null when it ranks with no CLIP. */
export function embeddingSpace(modelDir: string, manifest: ModelManifest, clipOverride: string | null = null): EmbeddingSpace | null {
  const clipDir = clipOverride ?? (manifest.clip === null ? null : path.join(modelDir, manifest.clip));
  if (clipDir === null || !existsSync(path.join(clipDir, 'config.json'))) return null;
  const { projection_dim: dim } = JSON.parse(readFileSync(path.join(clipDir, 'config.json'), 'utf8')) as { projection_dim: number };
  return { space: clipOverride === null ? `${manifest.name}/clip` : `clip:${path.basename(path.resolve(clipOverride))}`, dim, clipDir };
}
