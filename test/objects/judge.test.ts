import { beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { checkObjects, judgeRelation } from '../../eval/objects/check.js';
import { splitScene, type GeneratedScene } from '../../eval/objects/generate.js';
import { ObjectsJudge } from '../../eval/objects/judge.js';
import { nearMiss, nearMissKinds } from '../../eval/objects/nearmiss.js';
import { renderScene } from '../../eval/objects/render.js';
import { loadWorld, type World } from '../../eval/objects/world.js';
import { addNoise, gaussianBlur } from '../../eval/world/degrade.js';
import { createRng } from '../../eval/world/prng.js';

interface Fixture { world: World; judge: ObjectsJudge; scenes: GeneratedScene[]; images: Uint8Array[] }

async function fixture(name: World['name'], count: number): Promise<Fixture> {
  const world = loadWorld(name);
  const judge = await ObjectsJudge.create(world);
  const scenes = Array.from({ length: count }, (_, i) => splitScene(world, 'heldout', 11, i));
  const images = await Promise.all(scenes.map((s) => renderScene(world, s.scene)));
  return { world, judge, scenes, images };
}

function exactCount(f: Fixture, images: Uint8Array[]): number {
  let exact = 0;
  for (let i = 0; i < f.scenes.length; i++) {
    const parsed = f.judge.parse(images[i]);
    const truth = f.scenes[i].scene;
    const same = parsed.objects.length === truth.objects.length && truth.objects.every((o) => parsed.objects.some((p) =>
      p.concept === o.concept && p.color === o.color && p.size === o.size && Math.hypot(p.x - o.x, p.y - o.y) < 3));
    if (parsed.background === truth.background && same && f.judge.check(images[i], f.scenes[i].spec).pass) exact++;
  }
  return exact;
}

describe.each([['objects', 300], ['objects-mini', 200]] as const)('objects judge (%s world)', (name, count) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture(name, count);
  });

  it('is >= 99% exact on clean renders of held-out scenes (concept, colour, size, position, background)', () => {
    const exact = exactCount(f, f.images);
    console.log(`${name} judge exact on clean held-out renders: ${exact}/${count}`);
    expect(exact / count).toBeGreaterThanOrEqual(0.99);
  });

  it('accepts <= 1% of near-misses (a look-alike concept, or colour, size, count, relation, background wrong)', () => {
    const rng = createRng(5);
    const similar = new Map<string, string[]>();
    const lookAlikes = (c: string): string[] => similar.get(c) ?? similar.set(c, f.judge.similarConcepts(c, 3)).get(c) as string[];
    const byKind = new Map<string, [number, number]>();
    for (let i = 0; i < count; i++) {
      const { scene, spec } = f.scenes[i];
      const parsed = f.judge.parse(f.images[i]);
      for (const kind of nearMissKinds(f.world, spec)) {
        const wrong = nearMiss(rng, f.world, spec, scene, kind, lookAlikes);
        const tally = byKind.get(kind) ?? [0, 0];
        tally[1]++;
        if (checkObjects(f.world, parsed, wrong).pass) tally[0]++;
        byKind.set(kind, tally);
      }
    }
    const accepted = [...byKind.values()].reduce((s, t) => s + t[0], 0);
    const trials = [...byKind.values()].reduce((s, t) => s + t[1], 0);
    console.log(`${name} near-miss false accepts: ${accepted}/${trials} (${[...byKind].map(([k, [a, t]]) => `${k} ${a}/${t}`).join(', ')})`);
    expect(trials).toBeGreaterThan(count * 4);
    expect(accepted / trials).toBeLessThanOrEqual(0.01);
  });

  it('is >= 97% exact under blur (sigma 0.7) and noise (+-8) like that of decoded images', () => {
    const rng = createRng(9);
    const degraded = f.images.map((img) => addNoise(gaussianBlur(img, 0.7, f.world.imageSize), 8, rng));
    const exact = exactCount(f, degraded);
    console.log(`${name} judge exact under blur+noise: ${exact}/${count}`);
    expect(exact / count).toBeGreaterThanOrEqual(0.97);
  });

  it('reads an empty background as no objects and rejects a wrong count with a reason', () => {
    const n = f.world.imageSize;
    expect(f.judge.parse(new Uint8Array(n * n * 3).fill(255))).toEqual({ background: 'white', objects: [] });
    const i = f.scenes.findIndex((s) => s.spec.kind === 'single');
    const spec = { ...f.scenes[i].spec, groups: [{ ...f.scenes[i].spec.groups[0], count: 3 }] };
    const verdict = f.judge.check(f.images[i], spec);
    expect(verdict.pass).toBe(false);
    expect(verdict.reasons.join(' ')).toMatch(/expected 3 object/);
  });

  it('refuses an image of the wrong size with TESSERA_ERR_IMAGE', () => {
    try {
      f.judge.parse({ width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) });
      expect.unreachable();
    } catch (error) {
      expect(isTesseraError(error) && error.code).toBe('TESSERA_ERR_IMAGE');
    }
  });
});

describe('judgeRelation', () => {
  it('needs a dominant offset of at least half a small object', () => {
    const world = loadWorld('objects');
    expect(judgeRelation(world, { x: 20, y: 60 }, { x: 80, y: 64 }, 'left')).toBe(true);
    expect(judgeRelation(world, { x: 20, y: 60 }, { x: 80, y: 64 }, 'above')).toBe(false);
    expect(judgeRelation(world, { x: 20, y: 60 }, { x: 30, y: 60 }, 'left')).toBe(false);
  });
});
