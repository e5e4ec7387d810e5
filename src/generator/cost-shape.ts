/** The manifest figures both generators' cost counts share (src/generator/<architecture>/cost.ts). */
import { DEFAULT_STEP_CACHE, type ModelManifest, type StepCacheLayout } from '../model/manifest.js';
import type { PhaseBytes } from '../types.js';
import { slotsLaidOut } from './kv-slots.js';

/** What a generator's cost count reads of the manifest: text length, slots, grid, cache layout and attention width. */
export interface CostShape {
  /** Heads × head width (the width q·kᵀ runs over). */
  attentionWidth: number;
  layers: number;
  textLength: number;
  maxLength: number;
  imageTokens: number;
  cache: StepCacheLayout;
}

export function costShapeOf(manifest: ModelManifest): CostShape {
  return {
    attentionWidth: manifest.generator.heads * manifest.generator.headDim,
    layers: manifest.generator.layers,
    textLength: manifest.text.length,
    maxLength: manifest.generator.maxLength,
    imageTokens: manifest.image.grid.height * manifest.image.grid.width,
    cache: manifest.generator.cache ?? DEFAULT_STEP_CACHE,
  };
}

/** Bytes of one float32 and one int64 element: the cache, masks, states and logits are float32; ids and positions int64. */
export const FLOAT_BYTES = 4;
export const ID_BYTES = 8;

/** Bytes of `entries` key/value entries of one row in every layer: a key and a value of heads × headDim floats each. */
export function kvEntryBytes(shape: CostShape, entries: number): number {
  return shape.layers * 2 * entries * shape.attentionWidth * FLOAT_BYTES;
}

/**
 * Slots the cache passes to the step graph that feeds stream position `needed - 1` (the KvSlots
 * rule), of `perRow` a row can hold (maxLength; maxLength - T where the text is fed once per text).
 */
export function stepSlots(shape: CostShape, needed: number, perRow: number = shape.maxLength): number {
  return slotsLaidOut(shape.cache, perRow, needed);
}

export function phaseBytes(weights: number, kvRead: number, kvWritten: number, activations: number): PhaseBytes {
  return { weights, kvRead, kvWritten, activations, total: weights + kvRead + kvWritten + activations };
}
