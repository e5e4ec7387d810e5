/**
 * Near-misses: a spec with exactly one thing wrong (a similar concept swapped in, or the
 * colour, size, count, relation or background), to measure the judge's false accepts.
 */
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, RELATIONS, conceptOf, type Scene, type Spec, type World } from './world.js';

export type NearMissKind = 'concept' | 'color' | 'size' | 'count' | 'relation' | 'background';

function other<T>(rng: Rng, items: readonly T[], not: T): T {
  for (;;) {
    const item = rng.pick(items);
    if (item !== not) return item;
  }
}

/** The kinds that apply: colour only when a group's concept is colourable. */
export function nearMissKinds(world: World, spec: Spec): NearMissKind[] {
  const kinds: NearMissKind[] = ['concept', 'size', 'count', 'background'];
  if (spec.groups.some((g) => conceptOf(world, g.concept).colour !== null)) kinds.push('color');
  if (spec.relation !== undefined) kinds.push('relation');
  return kinds;
}

/**
 * `spec` changed in one way so that `scene` (which satisfies spec) no longer does.
 * `similar(concept)` gives look-alike concepts: the hardest swaps for the judge.
 */
export function nearMiss(rng: Rng, world: World, spec: Spec, scene: Scene, kind: NearMissKind, similar: (concept: string) => string[]): Spec {
  const wrong = JSON.parse(JSON.stringify(spec)) as Spec;
  // groups[g] is drawn by scene.objects[g] for relations, by every object otherwise.
  const candidates = kind === 'color' ? wrong.groups.map((_, i) => i).filter((i) => conceptOf(world, wrong.groups[i].concept).colour !== null) : wrong.groups.map((_, i) => i);
  const g = rng.pick(candidates);
  const group = wrong.groups[g];
  const truth = scene.objects[spec.kind === 'relation' ? g : 0];
  switch (kind) {
    case 'concept': group.concept = rng.pick(similar(group.concept)); break;
    case 'color': group.color = other(rng, COLOR_NAMES, truth.color as (typeof COLOR_NAMES)[number]); break;
    case 'size': group.size = truth.size === 'small' ? 'large' : 'small'; break;
    case 'count': group.count = group.count === 1 ? 2 : group.count === 3 ? 2 : rng.pick([1, 3]); break;
    case 'relation': wrong.relation = other(rng, RELATIONS, spec.relation as (typeof RELATIONS)[number]); break;
    case 'background': wrong.background = other(rng, BACKGROUND_NAMES, scene.background); break;
  }
  if (kind === 'count' && wrong.relation !== undefined && group.count !== 1) {
    delete wrong.relation;
    wrong.kind = 'count';
  }
  return wrong;
}
