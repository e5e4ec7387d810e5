/**
 * Writes the frozen objects eval prompt sets (commit the output; never regenerate after training starts).
 *   npx tsx scripts/make-objects-prompt-set.ts            # eval/objects-prompts.json and eval/objects-mini-prompts.json
 */
import { writeFile } from 'node:fs/promises';
import { OBJECTS_PROMPT_FILES, objectsPromptFile } from '../eval/objects/prompts.js';
import { loadWorld } from '../eval/objects/world.js';

for (const name of ['objects', 'objects-mini'] as const) {
  const body = objectsPromptFile(loadWorld(name));
  await writeFile(OBJECTS_PROMPT_FILES[name], JSON.stringify(body, null, 1) + '\n');
  console.log(`wrote ${String(body.count)} prompts to ${OBJECTS_PROMPT_FILES[name]}`);
}
