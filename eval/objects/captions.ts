/**
 * Captions of objects scenes (eval/world/captions.ts): the concept's name and its CLDR
 * synonyms ("kitten" for cat), a colour word on colourable concepts, over a closed
 * vocabulary built from the world's concept table. Every caption of a spec asserts exactly that spec.
 */
import { RELATION_PHRASES as SHARED_RELATION_PHRASES, SINGLE_TEMPLATES, captionsOf as worldCaptionsOf, vocabularyOf as worldVocabularyOf, type CaptionRules } from '../world/captions.js';
import type { Rng } from '../world/prng.js';
import { BACKGROUND_NAMES, COLOR_NAMES, conceptOf, type ObjectGroup, type Relation, type Spec, type World } from './world.js';

export { SIZE_WORDS } from '../world/captions.js';

/** The objects generator's text length (one token per word). */
export const MAX_CAPTION_WORDS = 24;

export const RELATION_PHRASES: Record<Relation, readonly string[]> = { ...SHARED_RELATION_PHRASES, left: [...SHARED_RELATION_PHRASES.left, 'next to and left of'] };

/** Surface forms of a concept: its name, then its synonyms, as [singular, plural]. */
export function nounForms(world: World, concept: string): [string, string][] {
  const c = conceptOf(world, concept);
  return [[c.name, c.plural], ...c.synonyms];
}

function captionRules(world: World): CaptionRules<ObjectGroup> {
  return {
    maxWords: MAX_CAPTION_WORDS,
    singleTemplates: [...SINGLE_TEMPLATES, 'an emoji of {a}'],
    relationPhrases: RELATION_PHRASES,
    nouns: (group) => nounForms(world, group.concept),
    color: (group) => group.color,
    countRedraw: true,
  };
}

const vocabularies = new Map<string, readonly string[]>();

/** Every word any caption of this world can contain, sorted. */
export function vocabularyOf(world: World): readonly string[] {
  const cached = vocabularies.get(world.name);
  if (cached !== undefined) return cached;
  const nouns = world.concepts.flatMap((c) => nounForms(world, c.name).flat());
  const vocabulary = worldVocabularyOf(captionRules(world), nouns, COLOR_NAMES, BACKGROUND_NAMES);
  vocabularies.set(world.name, vocabulary);
  return vocabulary;
}

export function captionsOf(rng: Rng, world: World, spec: Spec, count: number): string[] {
  return worldCaptionsOf(rng, captionRules(world), spec, count);
}
