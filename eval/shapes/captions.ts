/**
 * The shapes world's captions (eval/world/captions.ts): its nouns and their synonyms,
 * over a small closed vocabulary (the generator's word-level tokenizer is built from
 * VOCABULARY). Every caption of a spec asserts exactly that spec.
 */
import { SINGLE_TEMPLATES, RELATION_PHRASES, captionsOf as worldCaptionsOf, vocabularyOf, type CaptionRules } from '../world/captions.js';
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, type ObjectGroup, type ShapeName, type Spec } from './world.js';

export { captionWords } from '../world/captions.js';

/** The generator's text length: captions never exceed it (one token per word). */
export const MAX_CAPTION_WORDS = 16;

/** [singular, plural] of each shape's names. */
export const SHAPE_WORDS: Record<ShapeName, readonly (readonly [string, string])[]> = {
  circle: [['circle', 'circles'], ['ball', 'balls'], ['disk', 'disks']],
  square: [['square', 'squares'], ['box', 'boxes'], ['block', 'blocks']],
  triangle: [['triangle', 'triangles']],
  star: [['star', 'stars']],
  heart: [['heart', 'hearts']],
  diamond: [['diamond', 'diamonds'], ['rhombus', 'rhombuses']],
  cross: [['cross', 'crosses'], ['plus', 'pluses']],
  ring: [['ring', 'rings'], ['donut', 'donuts'], ['hoop', 'hoops']],
};

const CAPTION_RULES: CaptionRules<ObjectGroup> = {
  maxWords: MAX_CAPTION_WORDS,
  singleTemplates: SINGLE_TEMPLATES,
  relationPhrases: RELATION_PHRASES,
  nouns: (group) => SHAPE_WORDS[group.shape],
  color: (group) => group.color,
  countRedraw: false,
};

/** Every word any caption can contain, sorted (size < 120). */
export const VOCABULARY: readonly string[] = vocabularyOf(CAPTION_RULES, Object.values(SHAPE_WORDS).flat(2), COLOR_NAMES, BACKGROUND_NAMES);

/** `count` distinct captions of `spec` where the templates allow that many. */
export function captionsOf(rng: Rng, spec: Spec, count: number): string[] {
  return worldCaptionsOf(rng, CAPTION_RULES, spec, count);
}
