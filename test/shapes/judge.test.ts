import { beforeAll, describe, expect, it } from 'vitest';
import { addNoise, gaussianBlur } from '../../eval/world/degrade.js';
import { splitScene, type GeneratedScene } from '../../eval/shapes/generate.js';
import { Judge, checkParsed, judgeRelation } from '../../eval/shapes/judge.js';
import { nearMiss, nearMissKinds } from '../../eval/shapes/nearmiss.js';
import { createRng } from '../../eval/world/prng.js';
import { renderScene } from '../../eval/shapes/render.js';
import { IMAGE_SIZE } from '../../eval/shapes/world.js';
import { isTesseraError } from '../../src/errors.js';

const SCENES = 500;
let judge: Judge;
let scenes: GeneratedScene[];
let images: Uint8Array[];

beforeAll(async () => {
  judge = await Judge.create();
  scenes = Array.from({ length: SCENES }, (_, i) => splitScene('heldout', 11, i));
  images = await Promise.all(scenes.map((s) => renderScene(s.scene)));
});

describe('judge', () => {
  it('is >= 99% exact on clean renders of held-out scenes (objects, colours, shapes, sizes, background)', () => {
    let exact = 0;
    for (let i = 0; i < SCENES; i++) {
      const parsed = judge.parse(images[i]);
      const truth = scenes[i].scene;
      const sameObjects = parsed.objects.length === truth.objects.length && truth.objects.every((o) =>
        parsed.objects.some((p) => p.color === o.color && p.shape === o.shape && p.size === o.size && Math.hypot(p.x - o.x, p.y - o.y) < 4));
      if (parsed.background === truth.background && sameObjects && judge.check(images[i], scenes[i].spec).pass) exact++;
    }
    console.log(`judge exact on clean held-out renders: ${exact}/${SCENES}`);
    expect(exact / SCENES).toBeGreaterThanOrEqual(0.99);
  });

  it('accepts <= 1% of near-misses (one of colour, shape, size, count, relation, background wrong)', () => {
    const rng = createRng(5);
    let trials = 0;
    let accepted = 0;
    for (let i = 0; i < SCENES; i++) {
      const { scene, spec } = scenes[i];
      const parsed = judge.parse(images[i]);
      for (const kind of nearMissKinds(spec)) {
        const wrong = nearMiss(rng, spec, kind, { sizes: scene.objects.map((o) => o.size), background: scene.background });
        trials++;
        if (checkParsed(parsed, wrong).pass) accepted++;
      }
    }
    console.log(`near-miss false accepts: ${accepted}/${trials}`);
    expect(trials).toBeGreaterThan(2000);
    expect(accepted / trials).toBeLessThanOrEqual(0.01);
  });

  it('is >= 97% right under blur (sigma 0.7) and noise (+-8) like that of decoded images', () => {
    const rng = createRng(9);
    let pass = 0;
    for (let i = 0; i < SCENES; i++) {
      const degraded = addNoise(gaussianBlur(images[i], 0.7, IMAGE_SIZE), 8, rng);
      if (judge.check(degraded, scenes[i].spec).pass) pass++;
    }
    console.log(`judge under blur+noise: ${pass}/${SCENES}`);
    expect(pass / SCENES).toBeGreaterThanOrEqual(0.97);
  });

  it('explains a rejection', () => {
    const i = scenes.findIndex((s) => s.spec.kind === 'single');
    const spec = { ...scenes[i].spec, groups: [{ ...scenes[i].spec.groups[0], count: 3 }] };
    const verdict = judge.check(images[i], spec);
    expect(verdict.pass).toBe(false);
    expect(verdict.reasons.join(' ')).toMatch(/expected 3 object/);
    expect(verdict.parsed.objects).toHaveLength(1);
  });

  it('reads an empty background as no objects', () => {
    const blank = new Uint8Array(64 * 64 * 3).fill(255);
    expect(judge.parse(blank)).toEqual({ background: 'white', objects: [] });
  });

  it('relations need a dominant offset', () => {
    expect(judgeRelation({ x: 10, y: 30 }, { x: 40, y: 32 }, 'left')).toBe(true);
    expect(judgeRelation({ x: 10, y: 30 }, { x: 40, y: 32 }, 'above')).toBe(false);
    expect(judgeRelation({ x: 10, y: 10 }, { x: 40, y: 45 }, 'left')).toBe(false);
  });

  it('rejects images of the wrong size with a coded error', () => {
    try {
      judge.parse({ width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) });
      expect.unreachable();
    } catch (error) {
      expect(isTesseraError(error, 'TESSERA_ERR_IMAGE')).toBe(true);
    }
  });
});
