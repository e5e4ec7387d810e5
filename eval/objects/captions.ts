/**
 * Captions of objects scenes: templates plus CLDR synonyms ("kitten" for cat), over a
 * closed vocabulary built from the world's concept table. Every caption of a spec
 * asserts exactly that spec.
 */
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, conceptOf, type ObjectGroup, type Relation, type Spec, type World } from './world.js';

/** The objects generator's text length (one token per word). */
export const MAX_CAPTION_WORDS = 24;

export const SIZE_WORDS = { small: ['small', 'little'], large: ['large', 'big'] } as const;
export const BACKGROUND_WORDS: Record<string, string[]> = { gray: ['gray', 'grey'] };
export const RELATION_PHRASES: Record<Relation, string[]> = {
  left: ['to the left of', 'left of', 'on the left of', 'next to and left of'],
  right: ['to the right of', 'right of', 'on the right of'],
  above: ['above', 'over'],
  below: ['below', 'under', 'beneath', 'underneath'],
};
const INVERSE: Record<Relation, Relation> = { left: 'right', right: 'left', above: 'below', below: 'above' };
const NUMBER_WORDS: Record<number, string> = { 2: 'two', 3: 'three' };
const BACKGROUND_PHRASES = ['on a {bg} background', 'on {bg}', 'with a {bg} background', 'against a {bg} background'];
const SINGLE_TEMPLATES = ['{a}', 'a picture of {a}', 'there is {a}', 'a drawing of {a}', 'an image of {a}', 'an emoji of {a}'];
const RELATION_TEMPLATES = ['{a} {rel} {b}', '{a} is {rel} {b}', 'there is {a} {rel} {b}', 'a picture of {a} {rel} {b}'];
const COUNT_TEMPLATES = ['{n}', 'there are {n}', 'a picture of {n}', 'a drawing of {n}'];

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

/** Surface forms of a concept: its name, then its synonyms, as [singular, plural]. */
export function nounForms(world: World, concept: string): [string, string][] {
  const c = conceptOf(world, concept);
  return [[c.name, c.plural], ...c.synonyms];
}

const vocabularies = new Map<string, readonly string[]>();

/** Every word any caption of this world can contain, sorted. */
export function vocabularyOf(world: World): readonly string[] {
  const cached = vocabularies.get(world.name);
  if (cached !== undefined) return cached;
  const all = new Set<string>(['a', 'an', ...Object.values(NUMBER_WORDS), ...COLOR_NAMES, ...BACKGROUND_NAMES]);
  const texts = [
    ...world.concepts.flatMap((c) => nounForms(world, c.name).flat()), ...Object.values(SIZE_WORDS).flat(),
    ...Object.values(BACKGROUND_WORDS).flat(), ...Object.values(RELATION_PHRASES).flat(), ...BACKGROUND_PHRASES,
    ...SINGLE_TEMPLATES, ...RELATION_TEMPLATES, ...COUNT_TEMPLATES,
  ];
  for (const text of texts) for (const w of words(text)) if (!w.startsWith('{')) all.add(w);
  const vocabulary = [...all].sort();
  vocabularies.set(world.name, vocabulary);
  return vocabulary;
}

function article(nextWord: string): string {
  return /^[aeiou]/.test(nextWord) ? 'an' : 'a';
}

function groupPhrase(rng: Rng, world: World, group: ObjectGroup): string {
  const [singular, plural] = rng.pick(nounForms(world, group.concept));
  const size = group.size === undefined ? [] : [rng.pick(SIZE_WORDS[group.size])];
  const colour = group.color === undefined ? [] : [group.color];
  const body = [...size, ...colour, group.count === 1 ? singular : plural].join(' ');
  return group.count === 1 ? `${article(body)} ${body}` : `${NUMBER_WORDS[group.count]} ${body}`;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => values[key]);
}

export function captionOf(rng: Rng, world: World, spec: Spec): string {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    if (spec.kind === 'relation') {
      let [a, b] = spec.groups;
      let relation = spec.relation as Relation;
      if (rng.chance(0.35)) [a, b, relation] = [b, a, INVERSE[relation]];
      text = fill(rng.pick(RELATION_TEMPLATES), { a: groupPhrase(rng, world, a), b: groupPhrase(rng, world, b), rel: rng.pick(RELATION_PHRASES[relation]) });
    } else {
      const templates = spec.kind === 'count' ? COUNT_TEMPLATES : SINGLE_TEMPLATES;
      text = fill(rng.pick(templates), { a: groupPhrase(rng, world, spec.groups[0]), n: groupPhrase(rng, world, spec.groups[0]) });
    }
    if (spec.background !== undefined) {
      text += ' ' + fill(rng.pick(BACKGROUND_PHRASES), { bg: rng.pick(BACKGROUND_WORDS[spec.background] ?? [spec.background]) });
    }
    if (words(text).length <= MAX_CAPTION_WORDS || attempt > 50) return text;
  }
}

export function captionsOf(rng: Rng, world: World, spec: Spec, count: number): string[] {
  const captions: string[] = [];
  for (let tries = 0; captions.length < count && tries < count * 10; tries++) {
    const caption = captionOf(rng, world, spec);
    if (!captions.includes(caption)) captions.push(caption);
  }
  return captions;
}
