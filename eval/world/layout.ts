/**
 * Scene layout shared by every world: the words a Spec is made of (relations, sizes,
 * kinds), boxes that stay apart, relations that hold unambiguously, rejection-sampled
 * placement, and the seed streams of the train and held-out splits. A world brings its
 * own catalogue (what objects exist, their sizes and colours) and draws the boxes.
 */
import { TesseraError } from '../../src/errors.js';
import { deriveSeed, type Rng } from './prng.js';

export const RELATIONS = ['left', 'right', 'above', 'below'] as const;
export type Relation = (typeof RELATIONS)[number];
export const INVERSE_RELATION: Record<Relation, Relation> = { left: 'right', right: 'left', above: 'below', below: 'above' };

export type SizeName = 'small' | 'large';
export const SIZE_NAMES: readonly SizeName[] = ['small', 'large'];

export type SpecKind = 'single' | 'relation' | 'count';

/** An object in a scene, past what it is (the world's fields): its size and the centre of its box, in pixels. */
export interface Placed {
  size: SizeName;
  x: number;
  y: number;
}

/** What is in an image. */
export interface WorldScene<SceneObject, Background extends string> {
  background: Background;
  objects: SceneObject[];
}

/** One kind of object a prompt asks for, past what it is: `count` times, its size absent when the prompt does not say. */
export interface GroupBase {
  size?: SizeName;
  count: number;
}

/**
 * What a prompt asserts. The image must hold exactly the objects of `groups` (no
 * others); `relation` relates the single object of groups[0] to that of groups[1].
 * A group is one kind of object asked for `count` times, its size absent when the
 * prompt does not say; what "kind of object" means is the world's.
 */
export interface WorldSpec<Group, Background extends string = string> {
  kind: SpecKind;
  background?: Background;
  groups: Group[];
  relation?: Relation;
}

/** 'exclude' (training): no held-out combination; 'require': at least one. */
export type HeldOutMode = 'exclude' | 'require';

export interface SceneOptionsBase {
  heldOut: HeldOutMode;
  kind?: SpecKind;
  /** Probability that the captions mention the background (default 0.4). */
  backgroundMention?: number;
  /** Captions per scene (default 4). */
  captions?: number;
}

/** A scene with its spec and captions. */
export interface GeneratedWorldScene<Scene, Spec> {
  captions: string[];
  scene: Scene;
  spec: Spec;
}

export function checkHeldOutMode(mode: unknown): void {
  if (mode !== 'exclude' && mode !== 'require') {
    throw new TesseraError('TESSERA_ERR_OPTION', `heldOut must be "exclude" or "require", got ${JSON.stringify(mode)}`, { param: 'heldOut' });
  }
}

/** A relation's axis offset is at least this many times the orthogonal offset. */
const RELATION_DOMINANCE = 2;

/** An object's box: centre and half-extents, in pixels. */
export interface Box { x: number; y: number; hw: number; hh: number }

/** At least `gap` empty pixels between the two boxes along one axis. */
export function separated(a: Box, b: Box, gap: number): boolean {
  return Math.abs(a.x - b.x) >= a.hw + b.hw + gap || Math.abs(a.y - b.y) >= a.hh + b.hh + gap;
}

/** True when relation(a, b) holds with clear separation (a world's judge applies the same rule, looser). */
export function relationHolds(a: Box, b: Box, relation: Relation, gap: number): boolean {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const needX = a.hw + b.hw + gap;
  const needY = a.hh + b.hh + gap;
  switch (relation) {
    case 'left': return dx >= needX && Math.abs(dy) * RELATION_DOMINANCE <= dx;
    case 'right': return -dx >= needX && Math.abs(dy) * RELATION_DOMINANCE <= -dx;
    case 'above': return dy >= needY && Math.abs(dx) * RELATION_DOMINANCE <= dy;
    case 'below': return -dy >= needY && Math.abs(dx) * RELATION_DOMINANCE <= -dy;
  }
}

/**
 * Rejection sampling: `draw` lays out every box at random, up to `attempts` times, until
 * all are `gap` apart and `relation` (between the first two) holds; null when none fits.
 */
export function placeBoxes<B extends Box>(attempts: number, gap: number, draw: () => B[], relation?: Relation): B[] | null {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const boxes = draw();
    let ok = true;
    for (let i = 0; i < boxes.length && ok; i++) for (let j = i + 1; j < boxes.length && ok; j++) ok = separated(boxes[i], boxes[j], gap);
    if (ok && relation !== undefined) ok = relationHolds(boxes[0], boxes[1], relation, gap);
    if (ok) return boxes;
  }
  return null;
}

const KIND_WEIGHTS: [SpecKind, number][] = [['single', 0.3], ['relation', 0.45], ['count', 0.25]];

export function pickKind(rng: Rng): SpecKind {
  let u = rng.next();
  for (const [kind, weight] of KIND_WEIGHTS) if ((u -= weight) < 0) return kind;
  return 'count';
}

export type Split = 'train' | 'heldout';

/**
 * The seed and held-out mode of scene `index` of a split. Each scene has its own derived
 * seed, so shards can be written in any order or in parallel; the held-out split draws
 * from another stream and always holds a held-out combination, the train split never.
 */
export function splitDraw(split: Split, seed: number, index: number): { seed: number; heldOut: HeldOutMode } {
  const streamSeed = split === 'train' ? seed : (seed ^ 0x5bd1e995) >>> 0;
  return { seed: deriveSeed(streamSeed, index), heldOut: split === 'train' ? 'exclude' : 'require' };
}
