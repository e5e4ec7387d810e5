import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { contactSheet } from '../../eval/harness/sheet.js';
import { makePromptSet } from '../../eval/shapes/prompts.js';
import { splitScene } from '../../eval/shapes/generate.js';
import { renderScene } from '../../eval/shapes/render.js';
import { readFile } from 'node:fs/promises';

describe('eval prompt set and contact sheet', () => {
  it('commits the prompt set its generator makes: >= 300 prompts in 5 categories with specs and seeds', async () => {
    const committed = JSON.parse(await readFile('eval/prompts.json', 'utf8'));
    expect(committed.prompts).toEqual(JSON.parse(JSON.stringify(makePromptSet())));
    expect(committed.prompts.length).toBeGreaterThanOrEqual(300);
    expect(new Set(committed.prompts.map((p: { category: string }) => p.category))).toEqual(new Set(['single', 'relation', 'count', 'background', 'heldout']));
    expect(new Set(committed.prompts.map((p: { id: string }) => p.id)).size).toBe(committed.prompts.length);
  });

  it('draws prompts, top candidates and verdict marks into a PNG', async () => {
    const rows = await Promise.all([0, 1].map(async (i) => {
      const generated = splitScene('heldout', 2, i);
      const data = await renderScene(generated.scene);
      return { prompt: generated.captions[0], category: 'heldout', candidates: [true, false].map((pass) => ({ image: { width: 64, height: 64, data }, pass, score: 0.3 })) };
    }));
    const png = await contactSheet(rows, 'test sheet');
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.height).toBeGreaterThan(2 * 128);
  });
});
