/** Samples objects scenes with their spec and captions, deterministically from a seed. */
import { TesseraError } from '../../src/errors.js';
import { createRng, deriveSeed, type Rng } from '../world/prng.js';
import { captionsOf } from './captions.js';
import {
  BACKGROUND_NAMES, COLOR_NAMES, RELATIONS, SIZE_NAMES, conceptOf, halfExtents, isHeldOutColor, isHeldOutPair,
  type BackgroundName, type ColorName, type ObjectGroup, type Relation, type Scene, type SceneObject, type SizeName, type Spec, type SpecKind, type World,
} from './world.js';

/** A relation's axis offset is at least this many times the orthogonal offset. */
export const RELATION_DOMINANCE = 2;

export type HeldOutMode = 'exclude' | 'require';

export interface SceneOptions {
  /** 'exclude' (training): no held-out concept+colour or concept+concept; 'require': at least one. */
  heldOut: HeldOutMode;
  kind?: SpecKind;
  backgroundMention?: number;
  /** Probability that a colourable concept's colour is said (default 0.8). */
  colorMention?: number;
  /** The first object is a colourable concept (the eval's colour category). */
  colorRequired?: boolean;
  captions?: number;
}

export interface GeneratedScene {
  captions: string[];
  scene: Scene;
  spec: Spec;
}

interface Item { concept: string; color?: ColorName; size: SizeName }
type Box = SceneObject & { hw: number; hh: number };

function boxOf(world: World, o: SceneObject): Box {
  return { ...o, ...halfExtents(world, conceptOf(world, o.concept), o.size) };
}

function separated(world: World, a: Box, b: Box): boolean {
  return Math.abs(a.x - b.x) >= a.hw + b.hw + world.gap || Math.abs(a.y - b.y) >= a.hh + b.hh + world.gap;
}

/** True when relation(a, b) holds with clear separation (the judge applies the same rule, looser). */
export function relationHolds(world: World, a: Box, b: Box, relation: Relation): boolean {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const needX = a.hw + b.hw + world.gap;
  const needY = a.hh + b.hh + world.gap;
  switch (relation) {
    case 'left': return dx >= needX && Math.abs(dy) * RELATION_DOMINANCE <= dx;
    case 'right': return -dx >= needX && Math.abs(dy) * RELATION_DOMINANCE <= -dx;
    case 'above': return dy >= needY && Math.abs(dx) * RELATION_DOMINANCE <= dy;
    case 'below': return -dy >= needY && Math.abs(dx) * RELATION_DOMINANCE <= -dy;
  }
}

function place(rng: Rng, world: World, items: Item[], relation?: Relation): SceneObject[] | null {
  const n = world.imageSize;
  for (let attempt = 0; attempt < 300; attempt++) {
    const boxes = items.map((item) => {
      const { hw, hh } = halfExtents(world, conceptOf(world, item.concept), item.size);
      // The box's top-left corner lands on whole pixels, so a scene is also exactly a
      // composite of pre-rendered sprites (eval/objects/atlas.ts, the GPU data path).
      const left = Math.round(world.margin + rng.next() * (n - 2 * (world.margin + hw)));
      const top = Math.round(world.margin + rng.next() * (n - 2 * (world.margin + hh)));
      return boxOf(world, { ...item, x: left + hw, y: top + hh });
    });
    let ok = true;
    for (let i = 0; i < boxes.length && ok; i++) for (let j = i + 1; j < boxes.length && ok; j++) ok = separated(world, boxes[i], boxes[j]);
    if (ok && relation !== undefined) ok = relationHolds(world, boxes[0], boxes[1], relation);
    if (ok) return boxes.map(({ hw: _hw, hh: _hh, ...o }) => o);
  }
  return null;
}

const KIND_WEIGHTS: [SpecKind, number][] = [['single', 0.3], ['relation', 0.45], ['count', 0.25]];

function pickKind(rng: Rng): SpecKind {
  let u = rng.next();
  for (const [kind, weight] of KIND_WEIGHTS) if ((u -= weight) < 0) return kind;
  return 'count';
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
  if (options.heldOut !== 'exclude' && options.heldOut !== 'require') {
    throw new TesseraError('TESSERA_ERR_OPTION', `heldOut must be "exclude" or "require", got ${JSON.stringify(options.heldOut)}`, { param: 'heldOut' });
  }
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

export type Split = 'train' | 'heldout';

/** Scene `index` of a split (own derived seed; the held-out split uses another stream). */
export function splitScene(world: World, split: Split, seed: number, index: number): GeneratedScene {
  const streamSeed = split === 'train' ? seed : (seed ^ 0x5bd1e995) >>> 0;
  return sampleScene(world, deriveSeed(streamSeed, index), { heldOut: split === 'train' ? 'exclude' : 'require' });
}
