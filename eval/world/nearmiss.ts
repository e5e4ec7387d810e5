/**
 * Near-misses, shared by every world: a spec with exactly one thing wrong, so that the
 * scene it was drawn from no longer satisfies it; used to measure a judge's false accepts.
 * A world adds the kinds of its own (a shape or a look-alike concept, a colour).
 */
import type { Rng } from './prng.js';
import { RELATIONS, type Relation, type SizeName, type WorldSpec } from './layout.js';

/** An item of `items` other than `not`. */
export function other<T>(rng: Rng, items: readonly T[], not: T): T {
  for (;;) {
    const item = rng.pick(items);
    if (item !== not) return item;
  }
}

/**
 * A copy of `spec`, group `g` picked from `candidates` (indices into its groups), changed
 * by `change` (the world's kinds) or by one of the shared kinds using the scene's truth:
 * the drawn group's size and the scene's background.
 */
export function nearMissSpec<Group extends { size?: SizeName; count: number }, Background extends string>(
  rng: Rng, spec: WorldSpec<Group, Background>, kind: string, candidates: readonly number[], backgrounds: readonly Background[],
  truth: (g: number) => { size: SizeName; background: Background },
  change: (group: Group, g: number) => void,
): WorldSpec<Group, Background> {
  const wrong = JSON.parse(JSON.stringify(spec)) as WorldSpec<Group, Background>;
  const g = rng.pick(candidates);
  const group = wrong.groups[g];
  switch (kind) {
    case 'size': group.size = truth(g).size === 'small' ? 'large' : 'small'; break;
    case 'count': group.count = group.count === 1 ? 2 : group.count === 3 ? 2 : rng.pick([1, 3]); break;
    case 'relation': wrong.relation = other(rng, RELATIONS, spec.relation as Relation); break;
    case 'background': wrong.background = other(rng, backgrounds, truth(g).background); break;
    default: change(group, g);
  }
  if (kind === 'count' && wrong.relation !== undefined && group.count !== 1) {
    // A relation between groups of several objects is undefined: say "two X and a Y".
    delete wrong.relation;
    wrong.kind = 'count';
  }
  return wrong;
}

/** All group indices of a spec. */
export function allGroups(spec: WorldSpec<unknown>): number[] {
  return spec.groups.map((_, i) => i);
}
