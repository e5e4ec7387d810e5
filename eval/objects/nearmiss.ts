/**
 * Near-misses of the objects world (eval/world/nearmiss.ts): a spec with exactly one thing
 * wrong (a similar concept swapped in, or the colour, size, count, relation or background),
 * to measure the judge's false accepts.
 */
import { allGroups, nearMissSpec, other } from '../world/nearmiss.js';
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, conceptOf, type ColorName, type Scene, type Spec, type World } from './world.js';

export type NearMissKind = 'concept' | 'color' | 'size' | 'count' | 'relation' | 'background';

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
  const colourable = (i: number): boolean => conceptOf(world, spec.groups[i].concept).colour !== null;
  const candidates = kind === 'color' ? allGroups(spec).filter(colourable) : allGroups(spec);
  // groups[g] is drawn by scene.objects[g] for relations, by every object otherwise.
  const truth = (g: number) => scene.objects[spec.kind === 'relation' ? g : 0];
  return nearMissSpec(rng, spec, kind, candidates, BACKGROUND_NAMES, (g) => ({ size: truth(g).size, background: scene.background }), (group, g) => {
    if (kind === 'concept') group.concept = rng.pick(similar(group.concept));
    else group.color = other(rng, COLOR_NAMES, truth(g).color as ColorName);
  });
}
