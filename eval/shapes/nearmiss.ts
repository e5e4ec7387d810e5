/**
 * Near-misses: a spec with exactly one thing wrong (colour, shape, size, count,
 * relation or background), used to measure the judge's false accepts.
 */
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, RELATIONS, SHAPES, type Spec } from './world.js';

export type NearMissKind = 'color' | 'shape' | 'size' | 'count' | 'relation' | 'background';

function clone(spec: Spec): Spec {
  return JSON.parse(JSON.stringify(spec)) as Spec;
}

function other<T>(rng: Rng, items: readonly T[], not: T): T {
  for (;;) {
    const item = rng.pick(items);
    if (item !== not) return item;
  }
}

/** The kinds of near-miss that apply to `spec` (size and background only when asserted... or added wrong). */
export function nearMissKinds(spec: Spec): NearMissKind[] {
  const kinds: NearMissKind[] = ['color', 'shape', 'size', 'count', 'background'];
  if (spec.relation !== undefined) kinds.push('relation');
  return kinds;
}

/**
 * `spec` with one thing changed so that the original scene no longer satisfies it.
 * `trueSizes` are the scene's sizes per group (a wrong size is asserted even when the
 * original spec left size out); `trueBackground` likewise.
 */
export function nearMiss(rng: Rng, spec: Spec, kind: NearMissKind, truth: { sizes: ('small' | 'large')[]; background: Spec['background'] }): Spec {
  const wrong = clone(spec);
  const g = rng.int(wrong.groups.length);
  const group = wrong.groups[g];
  switch (kind) {
    case 'color': group.color = other(rng, COLOR_NAMES, group.color); break;
    case 'shape': group.shape = other(rng, SHAPES, group.shape); break;
    case 'size': group.size = truth.sizes[g] === 'small' ? 'large' : 'small'; break;
    case 'count': group.count = group.count === 1 ? 2 : group.count === 3 ? 2 : rng.pick([1, 3]); break;
    case 'relation': wrong.relation = other(rng, RELATIONS, spec.relation as (typeof RELATIONS)[number]); break;
    case 'background': wrong.background = other(rng, BACKGROUND_NAMES, truth.background as (typeof BACKGROUND_NAMES)[number]); break;
  }
  if (kind === 'count' && wrong.relation !== undefined && group.count !== 1) {
    // A relation between groups of several objects is undefined: say "two X and a Y".
    delete wrong.relation;
    wrong.kind = 'count';
  }
  return wrong;
}
