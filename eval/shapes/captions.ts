/**
 * Captions: several templates and synonyms per concept so prompts read like a
 * person's, over a small closed vocabulary (the generator's word-level tokenizer is
 * built from VOCABULARY). Every caption of a spec asserts exactly that spec.
 */
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, type BackgroundName, type ObjectGroup, type Relation, type ShapeName, type SizeName, type Spec } from './world.js';

/** The generator's text length: captions never exceed it (one token per word). */
export const MAX_CAPTION_WORDS = 16;

export const SHAPE_WORDS: Record<ShapeName, { singular: string; plural: string }[]> = {
  circle: [{ singular: 'circle', plural: 'circles' }, { singular: 'ball', plural: 'balls' }, { singular: 'disk', plural: 'disks' }],
  square: [{ singular: 'square', plural: 'squares' }, { singular: 'box', plural: 'boxes' }, { singular: 'block', plural: 'blocks' }],
  triangle: [{ singular: 'triangle', plural: 'triangles' }],
  star: [{ singular: 'star', plural: 'stars' }],
  heart: [{ singular: 'heart', plural: 'hearts' }],
  diamond: [{ singular: 'diamond', plural: 'diamonds' }, { singular: 'rhombus', plural: 'rhombuses' }],
  cross: [{ singular: 'cross', plural: 'crosses' }, { singular: 'plus', plural: 'pluses' }],
  ring: [{ singular: 'ring', plural: 'rings' }, { singular: 'donut', plural: 'donuts' }, { singular: 'hoop', plural: 'hoops' }],
};

export const SIZE_WORDS: Record<SizeName, string[]> = { small: ['small', 'little'], large: ['large', 'big'] };

export const BACKGROUND_WORDS: Record<BackgroundName, string[]> = {
  white: ['white'], black: ['black'], gray: ['gray', 'grey'], beige: ['beige'],
};

/** "A <phrase> B" means relation(A, B). */
export const RELATION_PHRASES: Record<Relation, string[]> = {
  left: ['to the left of', 'left of', 'on the left of'],
  right: ['to the right of', 'right of', 'on the right of'],
  above: ['above', 'over'],
  below: ['below', 'under', 'beneath', 'underneath'],
};

const INVERSE: Record<Relation, Relation> = { left: 'right', right: 'left', above: 'below', below: 'above' };
const NUMBER_WORDS: Record<number, string> = { 2: 'two', 3: 'three' };
const BACKGROUND_PHRASES = ['on a {bg} background', 'on {bg}', 'with a {bg} background', 'against a {bg} background'];
const SINGLE_TEMPLATES = ['{a}', 'a picture of {a}', 'there is {a}', 'a drawing of {a}', 'an image of {a}'];
const RELATION_TEMPLATES = ['{a} {rel} {b}', '{a} is {rel} {b}', 'there is {a} {rel} {b}', 'a picture of {a} {rel} {b}'];
const COUNT_TEMPLATES = ['{n}', 'there are {n}', 'a picture of {n}', 'a drawing of {n}'];

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

/** Every word any caption can contain, sorted (size < 120). */
export const VOCABULARY: readonly string[] = (() => {
  const all = new Set<string>(['a', 'an', ...Object.values(NUMBER_WORDS), ...COLOR_NAMES]);
  const texts = [
    ...Object.values(SHAPE_WORDS).flat().flatMap((w) => [w.singular, w.plural]),
    ...Object.values(SIZE_WORDS).flat(), ...Object.values(BACKGROUND_WORDS).flat(),
    ...Object.values(RELATION_PHRASES).flat(), ...BACKGROUND_PHRASES, ...SINGLE_TEMPLATES,
    ...RELATION_TEMPLATES, ...COUNT_TEMPLATES,
  ];
  for (const text of texts) for (const w of words(text)) if (!w.startsWith('{')) all.add(w);
  return [...all].sort();
})();

function article(nextWord: string): string {
  return /^[aeiou]/.test(nextWord) ? 'an' : 'a';
}

function groupPhrase(rng: Rng, group: ObjectGroup): string {
  const noun = rng.pick(SHAPE_WORDS[group.shape]);
  const size = group.size === undefined ? [] : [rng.pick(SIZE_WORDS[group.size])];
  const body = [...size, group.color, group.count === 1 ? noun.singular : noun.plural].join(' ');
  return group.count === 1 ? `${article(body)} ${body}` : `${NUMBER_WORDS[group.count]} ${body}`;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => values[key]);
}

/** One caption of `spec`, drawn from the templates and synonyms. */
export function captionOf(rng: Rng, spec: Spec): string {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    if (spec.kind === 'relation') {
      let [a, b] = spec.groups;
      let relation = spec.relation as Relation;
      if (rng.chance(0.35)) [a, b, relation] = [b, a, INVERSE[relation]];
      text = fill(rng.pick(RELATION_TEMPLATES), { a: groupPhrase(rng, a), b: groupPhrase(rng, b), rel: rng.pick(RELATION_PHRASES[relation]) });
    } else if (spec.kind === 'count') {
      text = fill(rng.pick(COUNT_TEMPLATES), { n: groupPhrase(rng, spec.groups[0]) });
    } else {
      text = fill(rng.pick(SINGLE_TEMPLATES), { a: groupPhrase(rng, spec.groups[0]) });
    }
    if (spec.background !== undefined) {
      text += ' ' + fill(rng.pick(BACKGROUND_PHRASES), { bg: rng.pick(BACKGROUND_WORDS[spec.background]) });
    }
    // Long template draws are redrawn; after a few, the shortest form always fits.
    if (words(text).length <= MAX_CAPTION_WORDS || attempt > 50) return text;
  }
}

/** `count` distinct captions of `spec` where the templates allow that many. */
export function captionsOf(rng: Rng, spec: Spec, count: number): string[] {
  const captions: string[] = [];
  for (let tries = 0; captions.length < count && tries < count * 10; tries++) {
    const caption = captionOf(rng, spec);
    if (!captions.includes(caption)) captions.push(caption);
  }
  return captions;
}

export function captionWords(caption: string): string[] {
  return words(caption);
}

export const ALL_BACKGROUND_WORDS = BACKGROUND_NAMES.flatMap((b) => BACKGROUND_WORDS[b]);
