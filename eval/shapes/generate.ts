/** Samples shapes scenes with their spec and captions, deterministically from a seed (layout: eval/world/layout.ts). */
import { checkHeldOutMode, pickKind, placeBoxes, relationHolds as boxesRelated, splitDraw, type GeneratedWorldScene, type SceneOptionsBase, type Split } from '../world/layout.js';
import { createRng, type Rng } from '../world/prng.js';
import { captionsOf } from './captions.js';
import {
  BACKGROUND_NAMES, COLOR_NAMES, HELD_OUT_PAIRS, IMAGE_SIZE, RELATIONS, SHAPES, SIZES, SIZE_NAMES, isHeldOut,
  type ColorName, type ObjectGroup, type Relation, type Scene, type SceneObject, type ShapeName, type SizeName, type Spec,
} from './world.js';

export type { HeldOutMode, Split } from '../world/layout.js';

/** Minimum empty pixels between two objects' boxes, so blur never joins them. */
export const OBJECT_GAP = 4;
/** Minimum empty pixels between an object's box and the image edge. */
const EDGE_MARGIN = 1;

export type SceneOptions = SceneOptionsBase;

export type GeneratedScene = GeneratedWorldScene<Scene, Spec>;

interface Pair { color: ColorName; shape: ShapeName }

function pickPair(rng: Rng, mode: 'exclude' | 'heldOut' | 'any'): Pair {
  if (mode === 'heldOut') return { ...rng.pick(HELD_OUT_PAIRS) };
  for (;;) {
    const pair = { color: rng.pick(COLOR_NAMES), shape: rng.pick(SHAPES) };
    if (mode === 'any' || !isHeldOut(pair.color, pair.shape)) return pair;
  }
}

function half(size: SizeName): number {
  return SIZES[size] / 2;
}

function randomCentre(rng: Rng, size: SizeName): number {
  const h = half(size);
  return rng.range(Math.ceil(EDGE_MARGIN + h), Math.floor(IMAGE_SIZE - EDGE_MARGIN - h));
}

/** True when `relation(a, b)` holds unambiguously (the judge applies the same rule, looser). */
export function relationHolds(a: { x: number; y: number; size: SizeName }, b: { x: number; y: number; size: SizeName }, relation: Relation): boolean {
  const box = (o: typeof a) => ({ x: o.x, y: o.y, hw: half(o.size), hh: half(o.size) });
  return boxesRelated(box(a), box(b), relation, OBJECT_GAP);
}

/** Places objects by rejection sampling; null when the draw cannot fit. */
function place(rng: Rng, items: { pair: Pair; size: SizeName }[], relation?: Relation): SceneObject[] | null {
  const draw = () => items.map(({ pair, size }) => ({ shape: pair.shape, color: pair.color, size, x: randomCentre(rng, size), y: randomCentre(rng, size), hw: half(size), hh: half(size) }));
  return placeBoxes(400, OBJECT_GAP, draw, relation)?.map(({ hw: _hw, hh: _hh, ...o }) => o) ?? null;
}

/** One scene, its spec and captions; a pure function of (seed, options). */
export function sampleScene(seed: number, options: SceneOptions): GeneratedScene {
  checkHeldOutMode(options.heldOut);
  const rng = createRng(seed);
  const kind = options.kind ?? pickKind(rng);
  const background = rng.pick(BACKGROUND_NAMES);
  const mode = options.heldOut === 'require' ? 'heldOut' : 'exclude';
  for (;;) {
    let groups: ObjectGroup[];
    let objects: SceneObject[] | null;
    let relation: Relation | undefined;
    if (kind === 'relation') {
      const heldOutFirst = rng.chance(0.5);
      const a = pickPair(rng, mode === 'heldOut' && heldOutFirst ? 'heldOut' : mode === 'heldOut' ? 'any' : 'exclude');
      const b = pickPair(rng, mode === 'heldOut' && !heldOutFirst ? 'heldOut' : mode === 'heldOut' ? 'any' : 'exclude');
      if (a.color === b.color && a.shape === b.shape) continue;
      const sizes: SizeName[] = [rng.pick(SIZE_NAMES), rng.pick(SIZE_NAMES)];
      relation = rng.pick(RELATIONS);
      objects = place(rng, [{ pair: a, size: sizes[0] }, { pair: b, size: sizes[1] }], relation);
      groups = [{ ...a, size: sizes[0], count: 1 }, { ...b, size: sizes[1], count: 1 }];
    } else {
      const pair = pickPair(rng, mode);
      const size = rng.pick(SIZE_NAMES);
      const count = kind === 'count' ? rng.range(2, 3) : 1;
      objects = place(rng, Array.from({ length: count }, () => ({ pair, size })));
      groups = [{ ...pair, size, count }];
    }
    if (objects === null) continue;
    // Captions mention each size only half the time: the spec keeps only what they say.
    for (const group of groups) if (rng.chance(0.5)) delete group.size;
    const spec: Spec = { kind, groups };
    if (relation !== undefined) spec.relation = relation;
    if (rng.chance(options.backgroundMention ?? 0.4)) spec.background = background;
    const scene: Scene = { background, objects };
    return { scene, spec, captions: captionsOf(rng, spec, options.captions ?? 4) };
  }
}

/** Scene `index` of a split (eval/world/layout.ts splitDraw): the held-out split always holds a held-out colour+shape pair. */
export function splitScene(split: Split, seed: number, index: number): GeneratedScene {
  const draw = splitDraw(split, seed, index);
  return sampleScene(draw.seed, { heldOut: draw.heldOut });
}
