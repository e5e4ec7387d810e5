/**
 * Caption scaffolding shared by every world: templates and synonyms so prompts read like
 * a person's, over a closed vocabulary (a world's word-level tokenizer is built from it).
 * Every caption of a spec asserts exactly that spec. A world brings its nouns, colour
 * words and the few templates and phrases of its own.
 */
import type { Rng } from './prng.js';
import { INVERSE_RELATION, type Relation, type SizeName, type WorldSpec } from './layout.js';

export const SIZE_WORDS: Record<SizeName, readonly string[]> = { small: ['small', 'little'], large: ['large', 'big'] };
/** Backgrounds named by more than their own name. */
export const BACKGROUND_WORDS: Record<string, readonly string[]> = { gray: ['gray', 'grey'] };
/** "A <phrase> B" means relation(A, B). */
export const RELATION_PHRASES: Record<Relation, readonly string[]> = {
  left: ['to the left of', 'left of', 'on the left of'],
  right: ['to the right of', 'right of', 'on the right of'],
  above: ['above', 'over'],
  below: ['below', 'under', 'beneath', 'underneath'],
};
export const SINGLE_TEMPLATES: readonly string[] = ['{a}', 'a picture of {a}', 'there is {a}', 'a drawing of {a}', 'an image of {a}'];
const NUMBER_WORDS: Record<number, string> = { 2: 'two', 3: 'three' };
const BACKGROUND_PHRASES = ['on a {bg} background', 'on {bg}', 'with a {bg} background', 'against a {bg} background'];
const RELATION_TEMPLATES = ['{a} {rel} {b}', '{a} is {rel} {b}', 'there is {a} {rel} {b}', 'a picture of {a} {rel} {b}'];
const COUNT_TEMPLATES = ['{n}', 'there are {n}', 'a picture of {n}', 'a drawing of {n}'];

/** One kind of object asked for, as captions see it. */
export interface CaptionGroup {
  size?: SizeName;
  count: number;
}

/** What a world says its own way. */
export interface CaptionRules<Group extends CaptionGroup> {
  /** The generator's text length: captions never exceed it (one token per word). */
  maxWords: number;
  singleTemplates: readonly string[];
  relationPhrases: Record<Relation, readonly string[]>;
  /** The group's noun as [singular, plural] forms, synonyms included: one is drawn per phrase. */
  nouns(group: Group): readonly (readonly [string, string])[];
  /** The colour word said before the noun, if any. */
  color(group: Group): string | undefined;
  /**
   * The objects world draws a single or count group's phrase twice and counts with the
   * second draw: kept, as its frozen prompt sets and datasets were written that way.
   */
  countRedraw: boolean;
}

export function captionWords(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

/** Every word any caption of a world can contain, sorted. */
export function vocabularyOf(rules: Pick<CaptionRules<CaptionGroup>, 'relationPhrases' | 'singleTemplates'>, nouns: readonly string[], colors: readonly string[], backgrounds: readonly string[]): string[] {
  const all = new Set<string>(['a', 'an', ...Object.values(NUMBER_WORDS), ...colors, ...backgrounds]);
  const texts = [
    ...nouns, ...Object.values(SIZE_WORDS).flat(), ...Object.values(BACKGROUND_WORDS).flat(),
    ...Object.values(rules.relationPhrases).flat(), ...BACKGROUND_PHRASES, ...rules.singleTemplates,
    ...RELATION_TEMPLATES, ...COUNT_TEMPLATES,
  ];
  for (const text of texts) for (const w of captionWords(text)) if (!w.startsWith('{')) all.add(w);
  return [...all].sort();
}

function article(nextWord: string): string {
  return /^[aeiou]/.test(nextWord) ? 'an' : 'a';
}

function groupPhrase<Group extends CaptionGroup>(rng: Rng, rules: CaptionRules<Group>, group: Group): string {
  const [singular, plural] = rng.pick(rules.nouns(group));
  const size = group.size === undefined ? [] : [rng.pick(SIZE_WORDS[group.size])];
  const color = rules.color(group);
  const body = [...size, ...(color === undefined ? [] : [color]), group.count === 1 ? singular : plural].join(' ');
  return group.count === 1 ? `${article(body)} ${body}` : `${NUMBER_WORDS[group.count]} ${body}`;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => values[key]);
}

/** One caption of `spec`, drawn from the templates and synonyms. */
function captionOf<Group extends CaptionGroup>(rng: Rng, rules: CaptionRules<Group>, spec: WorldSpec<Group>): string {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    if (spec.kind === 'relation') {
      let [a, b] = spec.groups;
      let relation = spec.relation as Relation;
      if (rng.chance(0.35)) [a, b, relation] = [b, a, INVERSE_RELATION[relation]];
      text = fill(rng.pick(RELATION_TEMPLATES), { a: groupPhrase(rng, rules, a), b: groupPhrase(rng, rules, b), rel: rng.pick(rules.relationPhrases[relation]) });
    } else {
      const template = rng.pick(spec.kind === 'count' ? COUNT_TEMPLATES : rules.singleTemplates);
      const a = groupPhrase(rng, rules, spec.groups[0]);
      const n = rules.countRedraw ? groupPhrase(rng, rules, spec.groups[0]) : a;
      text = fill(template, { a, n });
    }
    if (spec.background !== undefined) {
      text += ' ' + fill(rng.pick(BACKGROUND_PHRASES), { bg: rng.pick(BACKGROUND_WORDS[spec.background] ?? [spec.background]) });
    }
    // Long template draws are redrawn; after a few, the shortest form always fits.
    if (captionWords(text).length <= rules.maxWords || attempt > 50) return text;
  }
}

/** `count` distinct captions of `spec` where the templates allow that many. */
export function captionsOf<Group extends CaptionGroup>(rng: Rng, rules: CaptionRules<Group>, spec: WorldSpec<Group>, count: number): string[] {
  const captions: string[] = [];
  for (let tries = 0; captions.length < count && tries < count * 10; tries++) {
    const caption = captionOf(rng, rules, spec);
    if (!captions.includes(caption)) captions.push(caption);
  }
  return captions;
}
