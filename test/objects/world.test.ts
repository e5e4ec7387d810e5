import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogEntries, iconBody, pluralOf } from '../../eval/objects/catalog.js';
import { MAX_CAPTION_WORDS, vocabularyOf } from '../../eval/objects/captions.js';
import { recolourBody } from '../../eval/objects/colour.js';
import { writeObjectsDataset } from '../../eval/objects/dataset.js';
import { sampleScene, splitScene } from '../../eval/objects/generate.js';
import { conceptOf, isHeldOutColor, isHeldOutPair, loadConceptFile, loadWorld, MINI_CONCEPTS } from '../../eval/objects/world.js';
import { readNpyUint8 } from '../../eval/world/npy.js';
import { isTesseraError } from '../../src/errors.js';

const world = loadWorld('objects');
const mini = loadWorld('objects-mini');

describe('objects world', () => {
  it('has >= 300 distinct concepts across categories, no faces, people, flags or symbols', () => {
    expect(world.concepts.length).toBeGreaterThanOrEqual(300);
    expect(new Set(world.concepts.map((c) => c.name)).size).toBe(world.concepts.length);
    const categories = new Set(world.concepts.map((c) => c.category));
    expect([...categories].sort()).toEqual(['activities', 'food', 'nature', 'objects', 'places']);
    for (const c of world.concepts) {
      expect(c.name).not.toMatch(/\b(face|person|man|woman|flag|symbol|sign|button)\b/);
      expect(c.backgrounds.length).toBeGreaterThanOrEqual(3);
    }
    expect(world.concepts.filter((c) => c.colour !== null).length).toBeGreaterThanOrEqual(10);
    expect(mini.concepts.map((c) => c.name)).toEqual(MINI_CONCEPTS);
  });

  it('keeps the issue\'s everyday examples and CLDR synonyms', () => {
    for (const name of ['cat', 'dog', 'car', 'balloon', 'heart', 'pizza']) expect(world.byName.has(name)).toBe(true);
    expect(conceptOf(world, 'cat').synonyms).toContainEqual(['kitten', 'kittens']);
    expect(conceptOf(world, 'car').colour).not.toBeNull();
    expect(pluralOf('teddy bear')).toBe('teddy bears');
    expect(pluralOf('bus')).toBe('buses');
    expect(pluralOf('cherry')).toBe('cherries');
  });

  it('documents every dropped candidate with a reason', () => {
    const file = loadConceptFile();
    expect(file.dropped.length).toBeGreaterThan(0);
    for (const d of file.dropped) expect(d.reason).toMatch(/looks like|visible on|ink|judge/);
    const names = new Set(catalogEntries().map((e) => e.name));
    for (const c of file.concepts) expect(names.has(c.name)).toBe(true);
  });

  it('recolours the main hue of a colourable drawing and nothing else', () => {
    const car = conceptOf(world, 'car');
    const body = iconBody(car.icon);
    const blue = recolourBody(body, car.colour?.hue ?? 0, car.colour?.natural ?? 'red', 'blue');
    expect(blue).not.toBe(body);
    expect(blue.length).toBe(body.length);
    expect(recolourBody(body, car.colour?.hue ?? 0, 'red', 'red')).toBe(body);
  });

  it('is deterministic and keeps held-out combinations out of training', () => {
    expect(splitScene(world, 'train', 3, 17)).toEqual(splitScene(world, 'train', 3, 17));
    for (let i = 0; i < 1500; i++) {
      const { scene, spec, captions } = splitScene(world, 'train', 1, i);
      for (const o of scene.objects) expect(isHeldOutColor(world, o.concept, o.color)).toBe(false);
      if (scene.objects.length === 2 && spec.kind === 'relation') expect(isHeldOutPair(world, scene.objects[0].concept, scene.objects[1].concept)).toBe(false);
      for (const c of captions) expect(c.split(' ').length).toBeLessThanOrEqual(MAX_CAPTION_WORDS);
    }
    for (let i = 0; i < 300; i++) {
      const { scene } = splitScene(world, 'heldout', 1, i);
      const held = scene.objects.some((o) => isHeldOutColor(world, o.concept, o.color)) ||
        (scene.objects.length === 2 && isHeldOutPair(world, scene.objects[0].concept, scene.objects[1].concept));
      expect(held).toBe(true);
    }
  });

  it('writes only vocabulary words and separates objects by the gap', () => {
    const vocabulary = new Set(vocabularyOf(mini));
    for (let i = 0; i < 500; i++) {
      const { captions, scene } = splitScene(mini, 'train', 2, i);
      for (const c of captions) for (const w of c.split(' ')) expect(vocabulary.has(w)).toBe(true);
      for (const o of scene.objects) expect(conceptOf(mini, o.concept).backgrounds).toContain(scene.background);
    }
  });

  it('refuses a bad held-out mode and an unknown world', () => {
    expect(() => sampleScene(world, 1, { heldOut: 'maybe' as 'exclude' })).toThrow(/heldOut/);
    try {
      loadWorld('planets' as 'objects');
      expect.unreachable();
    } catch (error) {
      expect(isTesseraError(error) && error.code).toBe('TESSERA_ERR_OPTION');
    }
  });

  it('writes shards the trainers read: .npy images, jsonl scenes, meta with the concept nouns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'objects-ds-'));
    try {
      await writeObjectsDataset({ world: mini, count: 12, seed: 4, out: dir, shardSize: 5 });
      const npy = readNpyUint8(await readFile(join(dir, 'images-00002.npy')));
      expect(npy.shape).toEqual([2, 64, 64, 3]);
      const lines = (await readFile(join(dir, 'scenes-00000.jsonl'), 'utf8')).trim().split('\n');
      expect(JSON.parse(lines[1])).toEqual(splitScene(mini, 'train', 4, 1));
      const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { nouns: Record<string, string[][]>; count: number; world: string };
      expect(meta.count).toBe(12);
      expect(meta.world).toBe('objects-mini');
      expect(meta.nouns.cat).toContainEqual(['kitten', 'kittens']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
