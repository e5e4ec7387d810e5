/** The manifest figures both generators' FLOP counts share (src/generator/<architecture>/cost.ts). */
import { DEFAULT_STEP_CACHE, type ModelManifest, type StepCacheLayout } from '../model/manifest.js';

/** What a generator's FLOP count reads of the manifest: text length, slots, grid, cache layout and attention width. */
export interface CostShape {
  /** Heads × head width (the width q·kᵀ runs over). */
  attentionWidth: number;
  textLength: number;
  maxLength: number;
  imageTokens: number;
  cache: StepCacheLayout;
}

export function costShapeOf(manifest: ModelManifest): CostShape {
  return {
    attentionWidth: manifest.generator.heads * manifest.generator.headDim,
    textLength: manifest.text.length,
    maxLength: manifest.generator.maxLength,
    imageTokens: manifest.image.grid.height * manifest.image.grid.width,
    cache: manifest.generator.cache ?? DEFAULT_STEP_CACHE,
  };
}
