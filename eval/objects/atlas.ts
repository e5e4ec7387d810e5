/**
 * The sprite atlas: every concept x colour variant x size pre-rendered once (RGBA), so
 * a machine without Node or sharp (the GPU box) composites the scenes of a scenes-only
 * dataset itself (scripts/train/objects_data.py). Scene boxes sit on whole pixels, so
 * compositing a sprite at its box's top-left corner is the renderer's own picture
 * (up to rounding; test/objects/atlas.test.ts measures the difference).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { npyHeader } from '../world/npy.js';
import sharp from 'sharp';
import { TesseraError } from '../../src/errors.js';
import { objectSvg } from './render.js';
import { COLOR_NAMES, SIZE_NAMES, conceptOf, halfExtents, type ColorName, type SizeName, type World } from './world.js';

/** Transparent pixels around a sprite's box (anti-aliasing reaches just past it). */
export const SPRITE_PAD = 2;

export interface SpriteEntry {
  concept: string;
  color: ColorName | null;
  size: SizeName;
  /** Box size in pixels (its top-left corner is at (SPRITE_PAD, SPRITE_PAD) in the sprite). */
  w: number;
  h: number;
}

/** Sprite canvas edge: the largest box plus padding. */
export function spriteCanvas(world: World): number {
  return world.sizes.large + 2 * SPRITE_PAD + 2;
}

/** One sprite: the object drawn with its box's top-left corner at (SPRITE_PAD, SPRITE_PAD). RGBA [canvas, canvas, 4]. */
export async function renderSprite(world: World, concept: string, color: ColorName | undefined, size: SizeName): Promise<Uint8Array> {
  const c = conceptOf(world, concept);
  const canvas = spriteCanvas(world);
  const { hw, hh } = halfExtents(world, c, size);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${canvas}" height="${canvas}" viewBox="0 0 ${canvas} ${canvas}">` +
    objectSvg(world, c, color, size, SPRITE_PAD + hw, SPRITE_PAD + hh) + '</svg>';
  const { data, info } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== canvas || info.channels !== 4) throw new TesseraError('TESSERA_ERR_IMAGE', `sprite rendered ${info.width}x${info.height}x${info.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Writes sprites.npy (uint8 [K, S, S, 4]) and sprites.json (the K entries) into `out`. */
export async function writeAtlas(world: World, out: string): Promise<number> {
  const entries: SpriteEntry[] = [];
  const jobs: Promise<Uint8Array>[] = [];
  for (const c of world.concepts) {
    const colors: (ColorName | undefined)[] = c.colour === null ? [undefined] : COLOR_NAMES;
    for (const color of colors) {
      for (const size of SIZE_NAMES) {
        const { hw, hh } = halfExtents(world, c, size);
        entries.push({ concept: c.name, color: color ?? null, size, w: 2 * hw, h: 2 * hh });
        jobs.push(renderSprite(world, c.name, color, size));
      }
    }
  }
  const sprites = await Promise.all(jobs);
  const canvas = spriteCanvas(world);
  await writeFile(join(out, 'sprites.npy'), Buffer.concat([npyHeader([sprites.length, canvas, canvas, 4]), ...sprites.map((s) => Buffer.from(s.buffer, s.byteOffset, s.length))]));
  await writeFile(join(out, 'sprites.json'), JSON.stringify({ pad: SPRITE_PAD, canvas, entries }) + '\n');
  return entries.length;
}
