/** Checks objects read from an image against a Spec (eval/world/check.ts): exactly the asked objects, nothing else. */
import { checkSpec, judgeRelation as judgeRelationAt, type CheckRules } from '../world/check.js';
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
const MAX_TEMPLATE_ERROR = 45;

/** relation(a, b) as the judge reads it (eval/world/check.ts): at least half a small object along the axis, dominating the other. */
export function judgeRelation(world: World, a: { x: number; y: number }, b: { x: number; y: number }, relation: Relation): boolean {
  return judgeRelationAt(a, b, relation, world.sizes.small / 2);
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

export function checkObjects(world: World, parsed: ParsedImage, spec: Spec): { pass: boolean; reasons: string[] } {
  const rules: CheckRules<ParsedObject, ObjectGroup> = { describe, mismatches, relationMinimum: world.sizes.small / 2 };
  return checkSpec(rules, parsed, spec);
}
