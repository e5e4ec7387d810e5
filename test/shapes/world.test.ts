import { describe, expect, it } from 'vitest';
import { MAX_CAPTION_WORDS, VOCABULARY, captionWords } from '../../eval/shapes/captions.js';
import { OBJECT_GAP, relationHolds, sampleScene, splitScene } from '../../eval/shapes/generate.js';
import { createRng, deriveSeed } from '../../eval/world/prng.js';
import { renderScene } from '../../eval/shapes/render.js';
import { BACKGROUNDS, COLORS, HELD_OUT_PAIRS, IMAGE_SIZE, SHAPES, SIZES, isHeldOut } from '../../eval/shapes/world.js';
import { isTesseraError } from '../../src/errors.js';

const train = Array.from({ length: 3000 }, (_, i) => splitScene('train', 1, i));
const heldOut = Array.from({ length: 1000 }, (_, i) => splitScene('heldout', 1, i));

describe('shapes world', () => {
  it('has at least 8 shapes and 8 colours, at most 4 backgrounds, sizes >= 16 px', () => {
    expect(SHAPES.length).toBeGreaterThanOrEqual(8);
    expect(Object.keys(COLORS).length).toBeGreaterThanOrEqual(8);
    expect(Object.keys(BACKGROUNDS).length).toBeLessThanOrEqual(4);
    expect(Math.min(...Object.values(SIZES))).toBeGreaterThanOrEqual(16);
    expect(HELD_OUT_PAIRS.length).toBeGreaterThanOrEqual(6);
  });

  it('is deterministic from the seed', async () => {
    expect(splitScene('train', 7, 42)).toEqual(splitScene('train', 7, 42));
    expect(splitScene('train', 7, 42)).not.toEqual(splitScene('train', 8, 42));
    const a = await renderScene(splitScene('train', 7, 42).scene);
    const b = await renderScene(splitScene('train', 7, 42).scene);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(createRng(3).next()).toBe(createRng(3).next());
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(1, 1));
  });

  it('never puts a held-out pair in training scenes, always one in held-out scenes', () => {
    for (const { scene } of train) for (const o of scene.objects) expect(isHeldOut(o.color, o.shape)).toBe(false);
    for (const { scene } of heldOut) expect(scene.objects.some((o) => isHeldOut(o.color, o.shape))).toBe(true);
  });

  it('keeps objects inside the image, apart, 1 to 3 of them, and relations unambiguous', () => {
    const counts = new Set<number>();
    for (const { scene, spec } of [...train, ...heldOut]) {
      counts.add(scene.objects.length);
      for (const o of scene.objects) {
        const h = SIZES[o.size] / 2;
        expect(o.x - h).toBeGreaterThanOrEqual(0);
        expect(o.y - h).toBeGreaterThanOrEqual(0);
        expect(o.x + h).toBeLessThanOrEqual(IMAGE_SIZE);
        expect(o.y + h).toBeLessThanOrEqual(IMAGE_SIZE);
      }
      for (let i = 0; i < scene.objects.length; i++) {
        for (let j = i + 1; j < scene.objects.length; j++) {
          const [a, b] = [scene.objects[i], scene.objects[j]];
          const need = (SIZES[a.size] + SIZES[b.size]) / 2 + OBJECT_GAP;
          expect(Math.abs(a.x - b.x) >= need || Math.abs(a.y - b.y) >= need).toBe(true);
        }
      }
      if (spec.relation !== undefined) expect(relationHolds(scene.objects[0], scene.objects[1], spec.relation)).toBe(true);
    }
    expect([...counts].sort()).toEqual([1, 2, 3]);
  });

  it('writes short captions over a small exported vocabulary, several per scene', () => {
    expect(VOCABULARY.length).toBeLessThan(120);
    const vocabulary = new Set(VOCABULARY);
    const problems: string[] = [];
    for (const { captions } of train) {
      if (captions.length < 2) problems.push(`only ${captions.length} caption(s): ${captions.join(' | ')}`);
      for (const caption of captions) {
        const words = captionWords(caption);
        if (words.length > MAX_CAPTION_WORDS) problems.push(`too long: ${caption}`);
        for (const w of words) if (!vocabulary.has(w)) problems.push(`unknown word ${w}: ${caption}`);
      }
    }
    expect(problems).toEqual([]);
    const average = train.reduce((s, g) => s + g.captions.length, 0) / train.length;
    expect(average).toBeGreaterThan(3.5);
  });

  it('uses synonyms so prompts read like a person wrote them', () => {
    const text = train.flatMap((g) => g.captions).join(' | ');
    for (const phrase of ['ball', 'box', 'big', 'under', 'beneath', 'to the right of', 'grey']) expect(text).toContain(phrase);
  });

  it('rejects an unknown held-out mode with a coded error', () => {
    try {
      sampleScene(1, { heldOut: 'sometimes' as never });
      expect.unreachable();
    } catch (error) {
      expect(isTesseraError(error, 'TESSERA_ERR_OPTION')).toBe(true);
    }
  });
});
