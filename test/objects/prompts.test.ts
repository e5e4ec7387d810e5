import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { OBJECTS_PROMPT_CATEGORIES, OBJECTS_PROMPT_FILES, objectsPromptFile, type ObjectsEvalPrompt } from '../../eval/objects/prompts.js';
import { isHeldOutColor, isHeldOutPair, loadWorld } from '../../eval/objects/world.js';

describe.each(['objects', 'objects-mini'] as const)('frozen %s prompt set', (name) => {
  const world = loadWorld(name);

  it('equals the generator\'s output', async () => {
    const committed = JSON.parse(await readFile(OBJECTS_PROMPT_FILES[name], 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(objectsPromptFile(world))));
  });

  it('has every category, unique prompts and ids, held-out combinations only in heldout', async () => {
    const { prompts } = JSON.parse(await readFile(OBJECTS_PROMPT_FILES[name], 'utf8')) as { prompts: ObjectsEvalPrompt[] };
    if (name === 'objects') expect(prompts.length).toBeGreaterThanOrEqual(500);
    expect(new Set(prompts.map((p) => p.prompt)).size).toBe(prompts.length);
    expect(new Set(prompts.map((p) => p.id)).size).toBe(prompts.length);
    for (const category of OBJECTS_PROMPT_CATEGORIES) expect(prompts.filter((p) => p.category === category).length).toBe(prompts.length / 6);
    for (const p of prompts) {
      const groups = p.spec.groups;
      const held = groups.some((g) => isHeldOutColor(world, g.concept, g.color)) || (groups.length === 2 && isHeldOutPair(world, groups[0].concept, groups[1].concept));
      expect(held).toBe(p.category === 'heldout');
      if (p.category === 'colour') expect(groups[0].color).toBeDefined();
      if (p.category === 'background') expect(p.spec.background).toBeDefined();
    }
  });
});
