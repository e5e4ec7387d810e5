/** Reading a world's frozen eval prompt set (eval/*.json, written by eval/world/prompt-set.ts). */
import { readFile } from 'node:fs/promises';
import { TesseraError } from '../../src/errors.js';
import type { FrozenPrompt } from '../world/prompt-set.js';

/** A prompt of any world: the world's judge reads its spec. */
export type EvalPrompt = FrozenPrompt<string, unknown>;

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
