/**
 * Writes the frozen eval prompt set (commit the output; never regenerate it after
 * training starts).   npx tsx scripts/make-prompt-set.ts [--out eval/prompts.json]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PROMPT_SET_SEED, makePromptSet } from '../eval/shapes/prompts.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'eval/prompts.json' } }, strict: true });
const prompts = makePromptSet();
const body = { format: 'tessera-eval-prompts', formatVersion: 1, seed: PROMPT_SET_SEED, count: prompts.length, prompts };
await writeFile(values.out, JSON.stringify(body, null, 1) + '\n');
console.log(`wrote ${prompts.length} prompts to ${values.out}`);
