import { describe, expect, it } from 'vitest';
import { SPRITE_PAD, renderSprite, spriteCanvas } from '../../eval/objects/atlas.js';
import { splitScene } from '../../eval/objects/generate.js';
import { renderScene } from '../../eval/objects/render.js';
import { BACKGROUNDS, conceptOf, halfExtents, loadWorld } from '../../eval/objects/world.js';

describe('sprite atlas', () => {
  it('composites scenes that match the renderer (what the GPU machine does in Python)', async () => {
    const world = loadWorld('objects');
    const n = world.imageSize;
    const canvas = spriteCanvas(world);
    let total = 0;
    let worst = 0;
    for (let i = 0; i < 20; i++) {
      const { scene } = splitScene(world, 'train', 3, i);
      const picture = new Float64Array(n * n * 3);
      for (let p = 0; p < n * n; p++) for (let c = 0; c < 3; c++) picture[3 * p + c] = BACKGROUNDS[scene.background][c];
      for (const o of scene.objects) {
        const sprite = await renderSprite(world, o.concept, o.color, o.size);
        const { hw, hh } = halfExtents(world, conceptOf(world, o.concept), o.size);
        // Box corners are whole pixels: the sprite goes at (left - pad, top - pad).
        expect(Math.abs(o.x - hw - Math.round(o.x - hw))).toBeLessThan(1e-9);
        const left = Math.round(o.x - hw) - SPRITE_PAD;
        const top = Math.round(o.y - hh) - SPRITE_PAD;
        for (let y = 0; y < canvas; y++) for (let x = 0; x < canvas; x++) {
          const [ix, iy] = [x + left, y + top];
          if (ix < 0 || iy < 0 || ix >= n || iy >= n) continue;
          const s = 4 * (y * canvas + x);
          const a = sprite[s + 3] / 255;
          for (let c = 0; c < 3; c++) picture[3 * (iy * n + ix) + c] = a * sprite[s + c] + (1 - a) * picture[3 * (iy * n + ix) + c];
        }
      }
      const rendered = await renderScene(world, scene);
      for (let k = 0; k < rendered.length; k++) {
        const d = Math.abs(rendered[k] - Math.round(picture[k]));
        total += d;
        worst = Math.max(worst, d);
      }
    }
    const mean = total / (20 * n * n * 3);
    console.log(`atlas composite vs renderer over 20 scenes: mean |diff| ${mean.toFixed(4)}, max ${worst}`);
    expect(mean).toBeLessThan(0.05);
    expect(worst).toBeLessThanOrEqual(8);
  });
});
