/**
 * Near-misses of the shapes world (eval/world/nearmiss.ts): a spec with exactly one thing
 * wrong (colour, shape, size, count, relation or background), to measure the judge's false accepts.
 */
import { allGroups, nearMissSpec, other } from '../world/nearmiss.js';
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, SHAPES, type BackgroundName, type SizeName, type Spec } from './world.js';

export type NearMissKind = 'color' | 'shape' | 'size' | 'count' | 'relation' | 'background';

/** The kinds of near-miss that apply to `spec` (a size or background is asserted wrong even where the spec left it out). */
export function nearMissKinds(spec: Spec): NearMissKind[] {
  const kinds: NearMissKind[] = ['color', 'shape', 'size', 'count', 'background'];
  if (spec.relation !== undefined) kinds.push('relation');
  return kinds;
}

/**
 * `spec` with one thing changed so that the original scene no longer satisfies it.
 * `truth.sizes` are the scene's sizes per group, `truth.background` its background.
 */
export function nearMiss(rng: Rng, spec: Spec, kind: NearMissKind, truth: { sizes: SizeName[]; background: Spec['background'] }): Spec {
  return nearMissSpec(rng, spec, kind, allGroups(spec), BACKGROUND_NAMES, (g) => ({ size: truth.sizes[g], background: truth.background as BackgroundName }), (group) => {
    if (kind === 'color') group.color = other(rng, COLOR_NAMES, group.color);
    else group.shape = other(rng, SHAPES, group.shape);
  });
}
