/**
 * Checking what a judge read from an image against a Spec, shared by every world:
 * exactly the asked objects, nothing else, each matched to one slot of the spec (the
 * best assignment wins), then the relation between the first two.
 */
import type { Relation, WorldSpec } from './layout.js';

/** What the judge read: the background and the objects, each with its centre. */
export interface Reading<Parsed> {
  background: string;
  objects: Parsed[];
}

/** A judge's answer: pass or the reasons it fails, and what it read. */
export interface WorldVerdict<Parsed> {
  pass: boolean;
  reasons: string[];
  parsed: Parsed;
}

/** How a world tells its objects apart. */
export interface CheckRules<Parsed, Group> {
  /** "large red circle": for reasons. */
  describe(thing: Parsed | Group): string;
  /** Why `object` does not satisfy `group` (none when it does). */
  mismatches(object: Parsed, group: Group): string[];
  /** Least offset along a relation's axis, in pixels. */
  relationMinimum: number;
}

/**
 * relation(a, b) as a judge reads it: an offset of at least `minimum` along the relation's
 * axis that dominates the orthogonal one. Looser than the generator's rule (boxes apart,
 * 2x dominance) so clean renders pass; a swapped relation never does.
 */
export function judgeRelation(a: { x: number; y: number }, b: { x: number; y: number }, relation: Relation, minimum: number): boolean {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  switch (relation) {
    case 'left': return dx >= minimum && dx > Math.abs(dy);
    case 'right': return -dx >= minimum && -dx > Math.abs(dy);
    case 'above': return dy >= minimum && dy > Math.abs(dx);
    case 'below': return -dy >= minimum && -dy > Math.abs(dx);
  }
}

function* permutations(items: number[]): Generator<number[]> {
  if (items.length <= 1) {
    yield items;
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const tail of permutations(rest)) yield [items[i], ...tail];
  }
}

/** Checks a reading against a spec: exactly the asked objects, nothing else. */
export function checkSpec<Parsed extends { x: number; y: number }, Group extends { count: number }>(
  rules: CheckRules<Parsed, Group>, parsed: Reading<Parsed>, spec: WorldSpec<Group>,
): { pass: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (spec.background !== undefined && parsed.background !== spec.background) {
    reasons.push(`expected background ${spec.background}, found ${parsed.background}`);
  }
  const slots = spec.groups.flatMap((group) => Array.from({ length: group.count }, () => group));
  if (parsed.objects.length !== slots.length) {
    reasons.push(`expected ${slots.length} object(s), found ${parsed.objects.length}: ${parsed.objects.map((o) => rules.describe(o)).join(', ') || 'none'}`);
    return { pass: false, reasons };
  }
  let bestReasons: string[] | null = null;
  for (const order of permutations(parsed.objects.map((_, i) => i))) {
    const attempt: string[] = [];
    slots.forEach((group, s) => attempt.push(...rules.mismatches(parsed.objects[order[s]], group)));
    if (spec.relation !== undefined && attempt.length === 0) {
      const a = parsed.objects[order[0]];
      const b = parsed.objects[order[1]];
      if (!judgeRelation(a, b, spec.relation, rules.relationMinimum)) {
        attempt.push(`expected ${rules.describe(spec.groups[0])} ${spec.relation} of ${rules.describe(spec.groups[1])}; found offsets dx=${(b.x - a.x).toFixed(1)} dy=${(b.y - a.y).toFixed(1)}`);
      }
    }
    if (bestReasons === null || attempt.length < bestReasons.length) bestReasons = attempt;
    if (attempt.length === 0) break;
  }
  reasons.push(...(bestReasons ?? []));
  return { pass: reasons.length === 0, reasons };
}
