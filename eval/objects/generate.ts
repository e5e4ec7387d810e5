/** Samples objects scenes with their spec and captions, deterministically from a seed (layout: eval/world/layout.ts). */
import { checkHeldOutMode, pickKind, placeBoxes, splitDraw, type GeneratedWorldScene, type SceneOptionsBase, type Split } from '../world/layout.js';
import { createRng, type Rng } from '../world/prng.js';
import { captionsOf } from './captions.js';
import {
  BACKGROUND_NAMES, COLOR_NAMES, RELATIONS, SIZE_NAMES, conceptOf, halfExtents, isHeldOutColor, isHeldOutPair,
  type BackgroundName, type ColorName, type ObjectGroup, type Relation, type Scene, type SceneObject, type SizeName, type Spec, type World,
} from './world.js';

export type { HeldOutMode, Split } from '../world/layout.js';

export interface SceneOptions extends SceneOptionsBase {
  /** Probability that a colourable concept's colour is said (default 0.8). */
  colorMention?: number;
  /** The first object is a colourable concept (the eval's colour category). */
  colorRequired?: boolean;
}

export type GeneratedScene = GeneratedWorldScene<Scene, Spec>;

interface Item { concept: string; color?: ColorName; size: SizeName }

function place(rng: Rng, world: World, items: Item[], relation?: Relation): SceneObject[] | null {
  const n = world.imageSize;
  const draw = () => items.map((item) => {
    const { hw, hh } = halfExtents(world, conceptOf(world, item.concept), item.size);
    // The box's top-left corner lands on whole pixels, so a scene is also exactly a
    // composite of pre-rendered sprites (eval/objects/atlas.ts, the GPU data path).
    const left = Math.round(world.margin + rng.next() * (n - 2 * (world.margin + hw)));
    const top = Math.round(world.margin + rng.next() * (n - 2 * (world.margin + hh)));
    return { ...item, x: left + hw, y: top + hh, hw, hh };
  });
  return placeBoxes(300, world.gap, draw, relation)?.map(({ hw: _hw, hh: _hh, ...o }) => o) ?? null;
}

function colourFor(rng: Rng, world: World, concept: string, mode: 'exclude' | 'heldOut'): ColorName | undefined {
  const c = conceptOf(world, concept);
  if (c.colour === null) return undefined;
  if (mode === 'heldOut') return world.heldOutColors.find((p) => p.concept === concept)?.color;
  for (;;) {
    const color = rng.chance(0.4) ? c.colour.natural : rng.pick(COLOR_NAMES);
    if (!isHeldOutColor(world, concept, color)) return color;
  }
}

/** One scene, its spec and captions; a pure function of (world, seed, options). */
export function sampleScene(world: World, seed: number, options: SceneOptions): GeneratedScene {
  checkHeldOutMode(options.heldOut);
  const rng = createRng(seed);
  const kind = options.kind ?? pickKind(rng);
  const colourables = world.heldOutColors.map((p) => p.concept);
  for (;;) {
    let items: Item[];
    let relation: Relation | undefined;
    const heldOutColour = options.heldOut === 'require' && (kind !== 'relation' || rng.chance(0.4));
    if (kind === 'relation') {
      let a: string;
      let b: string;
      if (options.heldOut === 'require' && !heldOutColour) [a, b] = rng.chance(0.5) ? rng.pick(world.heldOutPairs) : [...rng.pick(world.heldOutPairs)].reverse() as [string, string];
      else [a, b] = [heldOutColour || options.colorRequired === true ? rng.pick(colourables) : rng.pick(world.concepts).name, rng.pick(world.concepts).name];
      if (heldOutColour && rng.chance(0.5)) [a, b] = [b, a];
      if (a === b || (options.heldOut === 'exclude' && isHeldOutPair(world, a, b))) continue;
      const colourA = colourFor(rng, world, a, heldOutColour && colourables.includes(a) ? 'heldOut' : 'exclude');
      const colourB = colourFor(rng, world, b, heldOutColour && colourables.includes(b) && !colourables.includes(a) ? 'heldOut' : 'exclude');
      items = [{ concept: a, color: colourA, size: rng.pick(SIZE_NAMES) }, { concept: b, color: colourB, size: rng.pick(SIZE_NAMES) }];
      relation = rng.pick(RELATIONS);
    } else {
      const concept = heldOutColour || options.colorRequired === true ? rng.pick(colourables) : rng.pick(world.concepts).name;
      const item = { concept, color: colourFor(rng, world, concept, heldOutColour ? 'heldOut' : 'exclude'), size: rng.pick(SIZE_NAMES) };
      items = Array.from({ length: kind === 'count' ? rng.range(2, 3) : 1 }, () => ({ ...item }));
    }
    const allowed = BACKGROUND_NAMES.filter((bg) => items.every((i) => conceptOf(world, i.concept).backgrounds.includes(bg))) as BackgroundName[];
    if (allowed.length === 0) continue;
    const background = rng.pick(allowed);
    const objects = place(rng, world, items, relation);
    if (objects === null) continue;
    for (const o of objects) if (o.color === undefined) delete o.color;
    const groups: ObjectGroup[] = (kind === 'relation' ? items : [items[0]]).map((i) => {
      const group: ObjectGroup = { concept: i.concept, count: kind === 'count' ? items.length : 1 };
      if (rng.chance(0.5)) group.size = i.size;
      // A held-out colour is always said: it is what the held-out scene tests.
      const mustSay = isHeldOutColor(world, i.concept, i.color);
      if (i.color !== undefined && (mustSay || rng.chance(options.colorMention ?? 0.8))) group.color = i.color;
      return group;
    });
    const spec: Spec = { kind, groups };
    if (relation !== undefined) spec.relation = relation;
    if (rng.chance(options.backgroundMention ?? 0.4)) spec.background = background;
    return { scene: { background, objects }, spec, captions: captionsOf(rng, world, spec, options.captions ?? 4) };
  }
}

/** Scene `index` of a split (eval/world/layout.ts splitDraw). */
export function splitScene(world: World, split: Split, seed: number, index: number): GeneratedScene {
  const draw = splitDraw(split, seed, index);
  return sampleScene(world, draw.seed, { heldOut: draw.heldOut });
}
