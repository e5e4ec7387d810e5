/**
 * Which world a model is evaluated in: its frozen prompt set, categories and judge.
 * Picked from the model package's manifest name (tessera-objects-mini*, tessera-objects*,
 * else shapes), so the manifest format needs no new field; `--world` overrides it.
 */
import { TesseraError, allowed } from '../../src/errors.js';
import { DEFAULT_MODEL_DIR } from '../../src/pipeline/loader.js';
import { readManifest } from '../../src/model/manifest.js';
import type { RgbImage } from '../../src/types.js';
import { PROMPT_CATEGORIES } from '../shapes/prompts.js';

const EVAL_WORLDS = ['shapes', 'objects', 'objects-mini'] as const;
export type EvalWorldName = (typeof EVAL_WORLDS)[number];

export interface EvalJudge {
  check(image: RgbImage, spec: unknown): { pass: boolean; reasons: string[] };
}

export interface EvalWorld {
  name: EvalWorldName;
  promptSet: string;
  categories: readonly string[];
  createJudge(): Promise<EvalJudge>;
}

export function worldOfModelName(name: string): EvalWorldName {
  if (name.startsWith('tessera-objects-mini')) return 'objects-mini';
  if (name.startsWith('tessera-objects')) return 'objects';
  return 'shapes';
}

/** The world of the model package in `dir` (the default package when undefined). */
export function worldOfModel(dir: string | undefined): EvalWorldName {
  return worldOfModelName(readManifest(dir ?? DEFAULT_MODEL_DIR).name);
}

export async function evalWorld(name: string): Promise<EvalWorld> {
  if (name === 'shapes') {
    const { Judge } = await import('../shapes/judge.js');
    return {
      name, promptSet: 'eval/prompts.json', categories: PROMPT_CATEGORIES,
      createJudge: async () => {
        const judge = await Judge.create();
        return { check: (image, spec) => judge.check(image, spec as Parameters<typeof judge.check>[1]) };
      },
    };
  }
  if (name === 'objects' || name === 'objects-mini') {
    // The objects world reads the emoji art (devDependencies): loaded only when asked for.
    const [{ ObjectsJudge }, { loadWorld }, { OBJECTS_PROMPT_CATEGORIES, OBJECTS_PROMPT_FILES }] = await Promise.all([
      import('../objects/judge.js'), import('../objects/world.js'), import('../objects/prompts.js'),
    ]);
    const world = loadWorld(name);
    return {
      name, promptSet: OBJECTS_PROMPT_FILES[name], categories: OBJECTS_PROMPT_CATEGORIES,
      createJudge: async () => {
        const judge = await ObjectsJudge.create(world);
        return { check: (image, spec) => judge.check(image, spec as Parameters<typeof judge.check>[1]) };
      },
    };
  }
  throw new TesseraError('TESSERA_ERR_OPTION', `--world must be one of ${allowed(EVAL_WORLDS)}, got ${JSON.stringify(name)}`, { param: 'world' });
}
