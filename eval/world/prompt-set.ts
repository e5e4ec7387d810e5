/**
 * Frozen eval prompt sets, the same way for every world: per category, scenes are drawn
 * from a derived seed stream until `perCategory` distinct first captions are found; each
 * prompt keeps its structured spec (what the judge checks) and a generation seed. A pure
 * function of the set's seed: the committed files under eval/ are its output.
 */
import type { SceneOptionsBase } from './layout.js';
import { deriveSeed } from './prng.js';

/** The categories every world's prompt set has, and the scenes each draws (one caption, background said or not). */
export const SHARED_CATEGORIES = {
  single: { heldOut: 'exclude', kind: 'single', backgroundMention: 0, captions: 1 },
  relation: { heldOut: 'exclude', kind: 'relation', backgroundMention: 0, captions: 1 },
  count: { heldOut: 'exclude', kind: 'count', backgroundMention: 0, captions: 1 },
  background: { heldOut: 'exclude', backgroundMention: 1, captions: 1 },
  heldout: { heldOut: 'require', backgroundMention: 0.3, captions: 1 },
} as const satisfies Record<string, SceneOptionsBase>;

export interface FrozenPrompt<Category extends string, Spec> {
  id: string;
  category: Category;
  prompt: string;
  spec: Spec;
  /** Generation seed: candidate i of every run is drawn from (seed, i). */
  seed: number;
}

export function makeFrozenPromptSet<Category extends string, Spec>(
  categories: readonly Category[], setSeed: number, perCategory: number,
  sample: (category: Category, seed: number) => { captions: string[]; spec: Spec },
): FrozenPrompt<Category, Spec>[] {
  const prompts: FrozenPrompt<Category, Spec>[] = [];
  const seen = new Set<string>();
  categories.forEach((category, c) => {
    let made = 0;
    for (let draw = 0; made < perCategory; draw++) {
      const generated = sample(category, deriveSeed(setSeed + c, draw));
      const prompt = generated.captions[0];
      if (seen.has(prompt)) continue;
      seen.add(prompt);
      prompts.push({ id: `${category}-${String(made).padStart(3, '0')}`, category, prompt, spec: generated.spec, seed: deriveSeed(setSeed + 100 + c, made) % 1_000_000 });
      made++;
    }
  });
  return prompts;
}
