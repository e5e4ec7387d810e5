/**
 * The objects world's catalogue: everyday things drawn from Fluent Emoji Flat art, placed in
 * scenes (1-3 objects, two sizes, relations, counts, named backgrounds, a colour on
 * concepts that come in colours). The concept table is eval/objects/concepts.json,
 * written by scripts/make-objects-concepts.ts (which also drops look-alikes).
 *
 * Two variants share every rule: `objects` (128x128, all concepts, 16x16 codes at f8)
 * and `objects-mini` (64x64, a 24-concept subset) which proves the training path on CPU.
 * Layout, captions, judging and datasets run on eval/world/.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../../src/errors.js';
import type { GroupBase, Placed, SizeName, WorldScene, WorldSpec } from '../world/layout.js';
import { createRng, deriveSeed } from '../world/prng.js';

export { RELATIONS, SIZE_NAMES, type Relation, type SizeName, type SpecKind } from '../world/layout.js';

export type Rgb = readonly [number, number, number];

/** Colours of colourable concepts, far apart in RGB and from every background. */
export const COLORS = {
  red: [215, 35, 35],
  orange: [245, 130, 20],
  yellow: [245, 210, 30],
  green: [45, 160, 60],
  blue: [40, 90, 220],
  purple: [140, 60, 200],
  pink: [245, 120, 190],
} as const satisfies Record<string, Rgb>;
export type ColorName = keyof typeof COLORS;
export const COLOR_NAMES = Object.keys(COLORS) as ColorName[];

export const BACKGROUNDS = {
  white: [255, 255, 255],
  black: [0, 0, 0],
  gray: [128, 128, 128],
  beige: [225, 205, 165],
  blue: [160, 200, 240],
} as const satisfies Record<string, Rgb>;
export type BackgroundName = keyof typeof BACKGROUNDS;
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as BackgroundName[];

export interface Concept {
  name: string;
  plural: string;
  /** Fluent Emoji Flat icon name. */
  icon: string;
  category: string;
  /** CLDR keywords used as synonyms: [singular, plural] pairs. */
  synonyms: [string, string][];
  /** The drawing's visible box in the icon's 32x32 viewBox units: x, y, w, h. */
  box: [number, number, number, number];
  /** Backgrounds the drawing stays visible on (most of it far from that colour). */
  backgrounds: BackgroundName[];
  /** For colourable concepts: the hue (degrees) of the parts recoloured, and the art's own colour. */
  colour: { hue: number; natural: ColorName } | null;
}

export interface ConceptFile {
  format: 'tessera-objects-concepts';
  formatVersion: 1;
  concepts: Concept[];
  dropped: { name: string; reason: string }[];
}

export interface World {
  name: 'objects' | 'objects-mini';
  imageSize: number;
  /** Longest side of an object's box, in pixels. */
  sizes: Record<SizeName, number>;
  /** Empty pixels between two objects' boxes (more than the judge's merge distance). */
  gap: number;
  margin: number;
  concepts: Concept[];
  byName: Map<string, Concept>;
  /** Concept+colour pairs never in training. */
  heldOutColors: { concept: string; color: ColorName }[];
  /** Unordered concept pairs never together in a training scene. */
  heldOutPairs: [string, string][];
}

export interface SceneObject extends Placed {
  concept: string;
  /** Only on colourable concepts. */
  color?: ColorName;
}

export type Scene = WorldScene<SceneObject, BackgroundName>;

export interface ObjectGroup extends GroupBase {
  concept: string;
  /** Absent when the prompt does not say (or the concept has no colour). */
  color?: ColorName;
}

/** What a prompt asserts (eval/world/layout.ts): groups of concepts. */
export type Spec = WorldSpec<ObjectGroup, BackgroundName>;

/** The 24 concepts of the CPU-sized variant: varied categories, five colourable. */
export const MINI_CONCEPTS = [
  'cat', 'dog', 'horse', 'fish', 'bird', 'snail', 'tulip', 'cactus', 'banana', 'pineapple', 'carrot', 'pizza',
  'car', 'bicycle', 'airplane', 'sailboat', 'house', 'umbrella', 'balloon', 'heart', 'book', 'soccer ball', 'guitar', 'anchor',
];

function conceptsPath(): string {
  return fileURLToPath(new URL('./concepts.json', import.meta.url));
}

let fileCache: ConceptFile | undefined;
export function loadConceptFile(path = conceptsPath()): ConceptFile {
  if (fileCache === undefined || path !== conceptsPath()) {
    let parsed: ConceptFile;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as ConceptFile;
    } catch (error) {
      throw new TesseraError('TESSERA_ERR_DATASET', `cannot read the objects concept table ${path}: ${(error as Error).message}`, { cause: error });
    }
    if (parsed.format !== 'tessera-objects-concepts' || !Array.isArray(parsed.concepts)) {
      throw new TesseraError('TESSERA_ERR_DATASET', `${path} is not a tessera-objects-concepts file`);
    }
    if (path !== conceptsPath()) return parsed;
    fileCache = parsed;
  }
  return fileCache;
}

/** Deterministic held-out combinations: a function of the concept list only. */
function heldOut(concepts: Concept[], pairCount: number): Pick<World, 'heldOutColors' | 'heldOutPairs'> {
  const rng = createRng(deriveSeed(16, concepts.length));
  const heldOutColors = concepts.filter((c) => c.colour !== null).map((c) => {
    const others = COLOR_NAMES.filter((k) => k !== c.colour?.natural);
    return { concept: c.name, color: rng.pick(others) };
  });
  const heldOutPairs: [string, string][] = [];
  const key = (a: string, b: string): string => [a, b].sort().join('|');
  const seen = new Set<string>();
  while (heldOutPairs.length < pairCount) {
    const a = rng.pick(concepts).name;
    const b = rng.pick(concepts).name;
    if (a === b || seen.has(key(a, b))) continue;
    seen.add(key(a, b));
    heldOutPairs.push([a, b]);
  }
  return { heldOutColors, heldOutPairs };
}

const worlds = new Map<string, World>();

export function loadWorld(name: World['name'] = 'objects'): World {
  const cached = worlds.get(name);
  if (cached !== undefined) return cached;
  const all = loadConceptFile().concepts;
  let world: World;
  if (name === 'objects') {
    world = { name, imageSize: 128, sizes: { small: 28, large: 48 }, gap: 10, margin: 2, concepts: all, byName: new Map(), ...heldOut(all, 40) };
  } else if (name === 'objects-mini') {
    const concepts = MINI_CONCEPTS.map((n) => all.find((c) => c.name === n)).filter((c): c is Concept => c !== undefined);
    world = { name, imageSize: 64, sizes: { small: 18, large: 28 }, gap: 8, margin: 1, concepts, byName: new Map(), ...heldOut(concepts, 8) };
  } else {
    throw new TesseraError('TESSERA_ERR_OPTION', `unknown world ${JSON.stringify(name)}: objects or objects-mini`, { param: 'world' });
  }
  world.byName = new Map(world.concepts.map((c) => [c.name, c]));
  worlds.set(name, world);
  return world;
}

export function conceptOf(world: World, name: string): Concept {
  const concept = world.byName.get(name);
  if (concept === undefined) throw new TesseraError('TESSERA_ERR_DATASET', `unknown concept ${JSON.stringify(name)} in world ${world.name}`);
  return concept;
}

export function isHeldOutColor(world: World, concept: string, color: ColorName | undefined): boolean {
  return color !== undefined && world.heldOutColors.some((p) => p.concept === concept && p.color === color);
}

export function isHeldOutPair(world: World, a: string, b: string): boolean {
  return world.heldOutPairs.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
}

/** Half-extents of an object's box in pixels (the longest side is the size). */
export function halfExtents(world: World, concept: Concept, size: SizeName): { hw: number; hh: number } {
  const [, , w, h] = concept.box;
  const scale = world.sizes[size] / Math.max(w, h);
  return { hw: (w * scale) / 2, hh: (h * scale) / 2 };
}
