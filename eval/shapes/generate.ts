/** Samples scenes with their spec and captions, deterministically from a seed. */
import { TesseraError } from '../../src/errors.js';
import { captionsOf } from './captions.js';
import { createRng, deriveSeed, type Rng } from '../world/prng.js';
import {
  BACKGROUND_NAMES, COLOR_NAMES, HELD_OUT_PAIRS, IMAGE_SIZE, RELATIONS, SHAPES, SIZES, SIZE_NAMES, isHeldOut,
  type ColorName, type ObjectGroup, type Relation, type Scene, type SceneObject, type ShapeName, type SizeName, type Spec, type SpecKind,
} from './world.js';

/** Minimum empty pixels between two objects' boxes, so blur never joins them. */
export const OBJECT_GAP = 4;
/** Minimum empty pixels between an object's box and the image edge. */
export const EDGE_MARGIN = 1;
/** A relation's axis offset is at least this many times the orthogonal offset. */
export const RELATION_DOMINANCE = 2;

export type HeldOutMode = 'exclude' | 'require';

export interface SceneOptions {
  /** 'exclude' (training): no held-out pair; 'require': at least one object is a held-out pair. */
  heldOut: HeldOutMode;
  kind?: SpecKind;
  /** Probability that the captions mention the background (default 0.4). */
  backgroundMention?: number;
  captions?: number;
}

export interface GeneratedScene {
  captions: string[];
  scene: Scene;
  spec: Spec;
}

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

function separated(a: SceneObject, b: SceneObject): boolean {
  const need = half(a.size) + half(b.size) + OBJECT_GAP;
  return Math.abs(a.x - b.x) >= need || Math.abs(a.y - b.y) >= need;
}

/** True when `relation(a, b)` holds unambiguously (the judge applies the same rule, looser). */
export function relationHolds(a: { x: number; y: number; size: SizeName }, b: { x: number; y: number; size: SizeName }, relation: Relation): boolean {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const need = half(a.size) + half(b.size) + OBJECT_GAP;
  switch (relation) {
    case 'left': return dx >= need && Math.abs(dy) * RELATION_DOMINANCE <= dx;
    case 'right': return -dx >= need && Math.abs(dy) * RELATION_DOMINANCE <= -dx;
    case 'above': return dy >= need && Math.abs(dx) * RELATION_DOMINANCE <= dy;
    case 'below': return -dy >= need && Math.abs(dx) * RELATION_DOMINANCE <= -dy;
  }
}

/** Places objects by rejection sampling; null when the draw cannot fit. */
function place(rng: Rng, items: { pair: Pair; size: SizeName }[], relation?: Relation): SceneObject[] | null {
  for (let attempt = 0; attempt < 400; attempt++) {
    const objects = items.map(({ pair, size }) => ({ shape: pair.shape, color: pair.color, size, x: randomCentre(rng, size), y: randomCentre(rng, size) }));
    let ok = true;
    for (let i = 0; i < objects.length && ok; i++) for (let j = i + 1; j < objects.length && ok; j++) ok = separated(objects[i], objects[j]);
    if (ok && relation !== undefined) ok = relationHolds(objects[0], objects[1], relation);
    if (ok) return objects;
  }
  return null;
}

const KIND_WEIGHTS: [SpecKind, number][] = [['single', 0.3], ['relation', 0.45], ['count', 0.25]];

function pickKind(rng: Rng): SpecKind {
  let u = rng.next();
  for (const [kind, weight] of KIND_WEIGHTS) if ((u -= weight) < 0) return kind;
  return 'count';
}

/** One scene, its spec and captions; a pure function of (seed, options). */
export function sampleScene(seed: number, options: SceneOptions): GeneratedScene {
  if (options.heldOut !== 'exclude' && options.heldOut !== 'require') {
    throw new TesseraError('TESSERA_ERR_OPTION', `heldOut must be "exclude" or "require", got ${JSON.stringify(options.heldOut)}`, { param: 'heldOut' });
  }
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

export type Split = 'train' | 'heldout';

/**
 * Scene `index` of a split. Each scene has its own derived seed, so shards can be
 * written in any order or in parallel. The held-out split uses a different stream and
 * always includes a held-out colour+shape pair; the train split never does.
 */
export function splitScene(split: Split, seed: number, index: number): GeneratedScene {
  const streamSeed = split === 'train' ? seed : (seed ^ 0x5bd1e995) >>> 0;
  return sampleScene(deriveSeed(streamSeed, index), { heldOut: split === 'train' ? 'exclude' : 'require' });
}
