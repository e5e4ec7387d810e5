/** The fixed eval prompt set: categories, structured specs and per-prompt seeds. */
import { readFile } from 'node:fs/promises';
import { TesseraError } from '../../src/errors.js';
import { sampleScene, type SceneOptions } from './generate.js';
import { deriveSeed } from '../world/prng.js';
import type { Spec } from './world.js';

export const PROMPT_CATEGORIES = ['single', 'relation', 'count', 'background', 'heldout'] as const;
export type PromptCategory = (typeof PROMPT_CATEGORIES)[number];

export interface EvalPrompt {
  id: string;
  category: PromptCategory;
  prompt: string;
  spec: Spec;
  /** Generation seed: candidate i of every run is drawn from (seed, i). */
  seed: number;
}

export const PROMPTS_PER_CATEGORY = 70;
/** The prompt set's own seed; changing it changes the frozen eval/prompts.json. */
export const PROMPT_SET_SEED = 20210105;

const CATEGORY_OPTIONS: Record<PromptCategory, SceneOptions> = {
  single: { heldOut: 'exclude', kind: 'single', backgroundMention: 0, captions: 1 },
  relation: { heldOut: 'exclude', kind: 'relation', backgroundMention: 0, captions: 1 },
  count: { heldOut: 'exclude', kind: 'count', backgroundMention: 0, captions: 1 },
  background: { heldOut: 'exclude', backgroundMention: 1, captions: 1 },
  heldout: { heldOut: 'require', backgroundMention: 0.3, captions: 1 },
};

/** Builds the prompt set; a pure function of PROMPT_SET_SEED (the committed file is its output). */
export function makePromptSet(perCategory: number = PROMPTS_PER_CATEGORY): EvalPrompt[] {
  const prompts: EvalPrompt[] = [];
  const seen = new Set<string>();
  PROMPT_CATEGORIES.forEach((category, c) => {
    let made = 0;
    for (let draw = 0; made < perCategory; draw++) {
      const generated = sampleScene(deriveSeed(PROMPT_SET_SEED + c, draw), CATEGORY_OPTIONS[category]);
      const prompt = generated.captions[0];
      if (seen.has(prompt)) continue;
      seen.add(prompt);
      prompts.push({
        id: `${category}-${String(made).padStart(3, '0')}`,
        category,
        prompt,
        spec: generated.spec,
        seed: deriveSeed(PROMPT_SET_SEED + 100 + c, made) % 1_000_000,
      });
      made++;
    }
  });
  return prompts;
}

export async function loadPromptSet(path: string): Promise<EvalPrompt[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_INPUT_FILE', `cannot read prompt set ${path}: ${(error as Error).message}`, { cause: error });
  }
  const prompts = (parsed as { prompts?: unknown }).prompts;
  if (!Array.isArray(prompts) || prompts.length === 0) {
    throw new TesseraError('TESSERA_ERR_INPUT_FILE', `prompt set ${path} has no "prompts" array`);
  }
  return prompts as EvalPrompt[];
}
