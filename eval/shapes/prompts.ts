/** The shapes world's frozen eval prompt set (eval/prompts.json): categories, structured specs and per-prompt seeds. */
import { SHARED_CATEGORIES, makeFrozenPromptSet, type FrozenPrompt } from '../world/prompt-set.js';
import { sampleScene, type SceneOptions } from './generate.js';
import type { Spec } from './world.js';

export const PROMPT_CATEGORIES = ['single', 'relation', 'count', 'background', 'heldout'] as const;
export type PromptCategory = (typeof PROMPT_CATEGORIES)[number];
export type EvalPrompt = FrozenPrompt<PromptCategory, Spec>;

const PROMPTS_PER_CATEGORY = 70;
/** The prompt set's own seed; changing it changes the frozen eval/prompts.json. */
export const PROMPT_SET_SEED = 20210105;

const CATEGORY_OPTIONS: Record<PromptCategory, SceneOptions> = SHARED_CATEGORIES;

/** Builds the prompt set; a pure function of PROMPT_SET_SEED (the committed file is its output). */
export function makePromptSet(perCategory: number = PROMPTS_PER_CATEGORY): EvalPrompt[] {
  return makeFrozenPromptSet(PROMPT_CATEGORIES, PROMPT_SET_SEED, perCategory, (category, seed) => sampleScene(seed, CATEGORY_OPTIONS[category]));
}
