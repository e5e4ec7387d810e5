/** Checks objects read from an image against a Spec: exactly the asked objects, nothing else. */
import type { BackgroundName, ColorName, ObjectGroup, Relation, SizeName, Spec, World } from './world.js';

export interface ParsedObject {
  concept: string;
  /** The colour variant that matched (colourable concepts only). */
  color?: ColorName;
  size: SizeName;
  /** Centre of the object's box, in pixels. */
  x: number;
  y: number;
  /** Mean absolute RGB difference (0..255) to the best template: high means "not really that thing". */
  error: number;
  area: number;
}

export interface ParsedImage {
  background: BackgroundName;
  objects: ParsedObject[];
}

/** Above this template error an object is not recognised as any concept (scribbles, blends of two). */
export const MAX_TEMPLATE_ERROR = 45;

/**
 * relation(a, b) as the judge reads it: an offset of at least half a small object along
 * the relation's axis that dominates the orthogonal one. Looser than the generator's
 * rule (boxes separated, 2x dominance) so clean renders pass; a swapped relation never does.
 */
export function judgeRelation(world: World, a: { x: number; y: number }, b: { x: number; y: number }, relation: Relation): boolean {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const minimum = world.sizes.small / 2;
  switch (relation) {
    case 'left': return dx >= minimum && dx > Math.abs(dy);
    case 'right': return -dx >= minimum && -dx > Math.abs(dy);
    case 'above': return dy >= minimum && dy > Math.abs(dx);
    case 'below': return -dy >= minimum && -dy > Math.abs(dx);
  }
}

function describe(o: { concept: string; color?: ColorName; size?: SizeName }): string {
  return [o.size, o.color, o.concept].filter((w) => w !== undefined).join(' ');
}

function mismatches(object: ParsedObject, group: ObjectGroup): string[] {
  const reasons: string[] = [];
  if (object.error > MAX_TEMPLATE_ERROR) reasons.push(`unrecognised object (best ${describe(object)}, error ${object.error.toFixed(1)})`);
  if (object.concept !== group.concept) reasons.push(`expected ${group.concept}, found ${describe(object)}`);
  if (group.color !== undefined && object.color !== group.color) reasons.push(`expected ${describe(group)}, found ${describe(object)}`);
  if (group.size !== undefined && object.size !== group.size) reasons.push(`expected ${describe(group)}, found ${describe(object)}`);
  return reasons;
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

export function checkObjects(world: World, parsed: ParsedImage, spec: Spec): { pass: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (spec.background !== undefined && parsed.background !== spec.background) {
    reasons.push(`expected background ${spec.background}, found ${parsed.background}`);
  }
  const slots = spec.groups.flatMap((group) => Array.from({ length: group.count }, () => group));
  if (parsed.objects.length !== slots.length) {
    reasons.push(`expected ${slots.length} object(s), found ${parsed.objects.length}: ${parsed.objects.map(describe).join(', ') || 'none'}`);
    return { pass: false, reasons };
  }
  let bestReasons: string[] | null = null;
  for (const order of permutations(parsed.objects.map((_, i) => i))) {
    const attempt: string[] = [];
    slots.forEach((group, s) => attempt.push(...mismatches(parsed.objects[order[s]], group)));
    if (spec.relation !== undefined && attempt.length === 0) {
      const a = parsed.objects[order[0]];
      const b = parsed.objects[order[1]];
      if (!judgeRelation(world, a, b, spec.relation)) {
        attempt.push(`expected ${describe(spec.groups[0])} ${spec.relation} of ${describe(spec.groups[1])}; found offsets dx=${(b.x - a.x).toFixed(1)} dy=${(b.y - a.y).toFixed(1)}`);
      }
    }
    if (bestReasons === null || attempt.length < bestReasons.length) bestReasons = attempt;
    if (attempt.length === 0) break;
  }
  reasons.push(...(bestReasons ?? []));
  return { pass: reasons.length === 0, reasons };
}
