/**
 * The shapes world's catalogue: a closed vocabulary of shapes, colours, sizes and
 * backgrounds, the structured Scene (what is in an image) and Spec (what a prompt
 * asserts about one). Layout, captions, judging and datasets run on eval/world/.
 */
import type { GroupBase, Placed, SizeName, WorldScene, WorldSpec } from '../world/layout.js';

export { RELATIONS, SIZE_NAMES, type Relation, type SizeName, type SpecKind } from '../world/layout.js';

export const IMAGE_SIZE = 64;

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'heart', 'diamond', 'cross', 'ring'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** Object colours, chosen far apart in RGB and far from every background. */
export const COLORS = {
  red: [220, 30, 30],
  green: [30, 160, 50],
  blue: [30, 70, 225],
  yellow: [245, 215, 20],
  purple: [140, 45, 195],
  orange: [250, 130, 15],
  cyan: [20, 205, 225],
  pink: [250, 110, 195],
} as const satisfies Record<string, readonly [number, number, number]>;
export type ColorName = keyof typeof COLORS;
export const COLOR_NAMES = Object.keys(COLORS) as ColorName[];

export const BACKGROUNDS = {
  white: [255, 255, 255],
  black: [0, 0, 0],
  gray: [118, 118, 118],
  beige: [225, 205, 165],
} as const satisfies Record<string, readonly [number, number, number]>;
export type BackgroundName = keyof typeof BACKGROUNDS;
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as BackgroundName[];

/** Bounding-box edge in pixels: both survive an 8x8 token grid (8 px per token). */
export const SIZES: Readonly<Record<SizeName, number>> = { small: 18, large: 30 };

/**
 * Colour+shape pairs that never occur in training scenes: the eval's "combining
 * unrelated concepts" split. Every colour and shape still occurs in training otherwise.
 */
export const HELD_OUT_PAIRS: readonly { color: ColorName; shape: ShapeName }[] = [
  { color: 'purple', shape: 'star' },
  { color: 'orange', shape: 'heart' },
  { color: 'cyan', shape: 'triangle' },
  { color: 'pink', shape: 'square' },
  { color: 'green', shape: 'ring' },
  { color: 'yellow', shape: 'cross' },
  { color: 'blue', shape: 'diamond' },
];

export function isHeldOut(color: ColorName, shape: ShapeName): boolean {
  return HELD_OUT_PAIRS.some((p) => p.color === color && p.shape === shape);
}

export interface SceneObject extends Placed {
  shape: ShapeName;
  color: ColorName;
}

export type Scene = WorldScene<SceneObject, BackgroundName>;

/** One kind of object a prompt asks for, `count` times. */
export interface ObjectGroup extends GroupBase {
  color: ColorName;
  shape: ShapeName;
}

/** What a prompt asserts (eval/world/layout.ts): groups of coloured shapes. */
export type Spec = WorldSpec<ObjectGroup, BackgroundName>;
