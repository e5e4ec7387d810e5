/** The objects worlds' frozen eval prompt sets (eval/world/prompt-set.ts): categories, structured specs and per-prompt seeds. */
import { SHARED_CATEGORIES, makeFrozenPromptSet, type FrozenPrompt } from '../world/prompt-set.js';
import { sampleScene, type SceneOptions } from './generate.js';
import type { Spec, World } from './world.js';

export const OBJECTS_PROMPT_CATEGORIES = ['single', 'relation', 'count', 'background', 'colour', 'heldout'] as const;
export type ObjectsPromptCategory = (typeof OBJECTS_PROMPT_CATEGORIES)[number];

export type ObjectsEvalPrompt = FrozenPrompt<ObjectsPromptCategory, Spec>;

/** The prompt set's own seed; changing it changes the frozen eval/objects-prompts.json. */
const OBJECTS_PROMPT_SET_SEED = 20240316;
/** Prompts per category: 6 x 90 = 540 for the full world, 6 x 30 for the CPU-sized one. */
const OBJECTS_PROMPTS_PER_CATEGORY: Record<World['name'], number> = { objects: 90, 'objects-mini': 30 };
export const OBJECTS_PROMPT_FILES: Record<World['name'], string> = { objects: 'eval/objects-prompts.json', 'objects-mini': 'eval/objects-mini-prompts.json' };

const CATEGORY_OPTIONS: Record<ObjectsPromptCategory, SceneOptions> = {
  ...SHARED_CATEGORIES,
  colour: { heldOut: 'exclude', colorRequired: true, colorMention: 1, backgroundMention: 0.3, captions: 1 },
};

/** A pure function of (world, OBJECTS_PROMPT_SET_SEED): the committed file is its output. */
function makeObjectsPromptSet(world: World, perCategory: number = OBJECTS_PROMPTS_PER_CATEGORY[world.name]): ObjectsEvalPrompt[] {
  return makeFrozenPromptSet(OBJECTS_PROMPT_CATEGORIES, OBJECTS_PROMPT_SET_SEED, perCategory, (category, seed) => sampleScene(world, seed, CATEGORY_OPTIONS[category]));
}

/** The file body written by scripts/make-objects-prompt-set.ts. */
export function objectsPromptFile(world: World): Record<string, unknown> {
  const prompts = makeObjectsPromptSet(world);
  return { format: 'tessera-eval-prompts', formatVersion: 1, world: world.name, seed: OBJECTS_PROMPT_SET_SEED, count: prompts.length, prompts };
}
