import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { evalWorld, worldOfModel, worldOfModelName } from '../../eval/harness/worlds.js';
import { OBJECTS_PROMPT_CATEGORIES } from '../../eval/objects/prompts.js';

describe('eval worlds', () => {
  it('follows the model package name', () => {
    expect(worldOfModelName('tessera-objects-v1')).toBe('objects');
    expect(worldOfModelName('tessera-objects-mini-cpu')).toBe('objects-mini');
    expect(worldOfModelName('tessera-shapes-v1')).toBe('shapes');
    expect(worldOfModel(undefined)).toBe('shapes'); // the shipped default stays the shapes model
  });

  it('gives each world its prompt set, categories and judge', async () => {
    const objects = await evalWorld('objects');
    expect(objects.promptSet).toBe('eval/objects-prompts.json');
    expect(objects.categories).toEqual(OBJECTS_PROMPT_CATEGORIES);
    const shapes = await evalWorld('shapes');
    expect(shapes.promptSet).toBe('eval/prompts.json');
    expect(shapes.categories).toContain('heldout');
    const mini = await evalWorld('objects-mini');
    const judge = await mini.createJudge();
    const blank = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(255) };
    const verdict = judge.check(blank, { kind: 'single', groups: [{ concept: 'cat', count: 1 }] });
    expect(verdict.pass).toBe(false);
    expect(verdict.reasons.join(' ')).toMatch(/expected 1 object/);
  });

  it('refuses an unknown world with TESSERA_ERR_OPTION', async () => {
    try {
      await evalWorld('planets');
      expect.unreachable();
    } catch (error) {
      expect(isTesseraError(error) && error.code).toBe('TESSERA_ERR_OPTION');
    }
  });
});
