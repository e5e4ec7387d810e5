/**
 * The objects judge: reads an RGB scene back into objects (background, concept,
 * colour, size, position) and checks them against a Spec, exactly.
 *
 * 1. Background: the named background most border pixels are nearest to; its measured
 *    mean is used below (absorbs a decoder's colour shift).
 * 2. Objects: pixels far from the background, dilated by `mergeRadius` so the parts of
 *    one drawing join (objects are further apart than twice that), 8-connected.
 * 3. Identity, colour and size at once: the nearest template among every concept, colour
 *    variant and size, drawn by the same renderer and composited over the measured
 *    background. A coarse pass (an 8x8 descriptor of the object's box, plus the box's
 *    size) keeps the best few; a fine pass compares them pixel by pixel, +-1 px shifts.
 */
import { TesseraError } from '../../src/errors.js';
import type { WorldVerdict } from '../world/check.js';
import { components, detectBackground, foregroundMask, imageBytes, type JudgeInput } from '../world/vision.js';
import { renderObjectRgba } from './render.js';
import {
  BACKGROUNDS, BACKGROUND_NAMES, COLOR_NAMES, SIZE_NAMES, type BackgroundName, type ColorName, type Concept, type SizeName, type World,
} from './world.js';
import { checkObjects, type ParsedImage, type ParsedObject } from './check.js';
import type { Spec } from './world.js';

const FOREGROUND_DISTANCE = 40;
const GRID = 8;
const COARSE_KEEP = 10;
const FINE_KEEP = 3;

interface Template {
  concept: Concept;
  color?: ColorName;
  size: SizeName;
  canvas: number;
  rgba: Uint8Array;
  /** Per named background: the box of the template's visible pixels and its descriptor. */
  views: Map<BackgroundName, { box: Box; descriptor: Float32Array }>;
}

interface Box { x0: number; y0: number; x1: number; y1: number }

export type Verdict = WorldVerdict<ParsedImage>;

export type { JudgeInput } from '../world/vision.js';

function dist2(a0: number, a1: number, a2: number, b: readonly number[]): number {
  return (a0 - b[0]) ** 2 + (a1 - b[1]) ** 2 + (a2 - b[2]) ** 2;
}

/** Mean colour of `get(x, y)` over the box, stretched to GRID x GRID cells: [GRID*GRID*3] in 0..1. */
function descriptorOf(box: Box, get: (x: number, y: number, c: number) => number): Float32Array {
  const out = new Float32Array(GRID * GRID * 3);
  const w = box.x1 - box.x0 + 1;
  const h = box.y1 - box.y0 + 1;
  const counts = new Float32Array(GRID * GRID);
  for (let y = box.y0; y <= box.y1; y++) {
    const gy = Math.min(GRID - 1, Math.floor(((y - box.y0) / h) * GRID));
    for (let x = box.x0; x <= box.x1; x++) {
      const gx = Math.min(GRID - 1, Math.floor(((x - box.x0) / w) * GRID));
      const cell = gy * GRID + gx;
      counts[cell]++;
      for (let c = 0; c < 3; c++) out[3 * cell + c] += get(x, y, c);
    }
  }
  for (let i = 0; i < counts.length; i++) for (let c = 0; c < 3; c++) out[3 * i + c] /= Math.max(1, counts[i]) * 255;
  return out;
}

function compositeView(rgba: Uint8Array, canvas: number, bg: readonly number[]): { box: Box; descriptor: Float32Array } {
  const px = (x: number, y: number, c: number): number => {
    const p = 4 * (y * canvas + x);
    const a = rgba[p + 3] / 255;
    return a * rgba[p + c] + (1 - a) * bg[c];
  };
  const box: Box = { x0: canvas, y0: canvas, x1: -1, y1: -1 };
  const t2 = FOREGROUND_DISTANCE ** 2;
  for (let y = 0; y < canvas; y++) for (let x = 0; x < canvas; x++) {
    if (dist2(px(x, y, 0), px(x, y, 1), px(x, y, 2), bg) <= t2) continue;
    box.x0 = Math.min(box.x0, x); box.y0 = Math.min(box.y0, y); box.x1 = Math.max(box.x1, x); box.y1 = Math.max(box.y1, y);
  }
  if (box.x1 < 0) Object.assign(box, { x0: 0, y0: 0, x1: canvas - 1, y1: canvas - 1 });
  return { box, descriptor: descriptorOf(box, px) };
}

export class ObjectsJudge {
  private constructor(readonly world: World, private readonly templates: Template[]) {}

  /** Renders every template (concept x colour variant x size); reuse one judge per world. */
  static async create(world: World): Promise<ObjectsJudge> {
    const jobs: Promise<Template>[] = [];
    for (const concept of world.concepts) {
      const colors: (ColorName | undefined)[] = concept.colour === null ? [undefined] : COLOR_NAMES;
      for (const color of colors) {
        for (const size of SIZE_NAMES) {
          const canvas = world.sizes[size] + 2 * world.gap;
          jobs.push(renderObjectRgba(world, concept, color, size, canvas).then((rgba) => {
            const views = new Map(BACKGROUND_NAMES.map((b) => [b, compositeView(rgba, canvas, BACKGROUNDS[b])] as const));
            return { concept, color, size, canvas, rgba, views };
          }));
        }
      }
    }
    return new ObjectsJudge(world, await Promise.all(jobs));
  }

  /** The `k` concepts whose large drawings look most like `name`'s (descriptor distance on gray): near-miss swaps. */
  similarConcepts(name: string, k: number): string[] {
    const viewOf = (t: Template): Float32Array => (t.views.get('gray') as { descriptor: Float32Array }).descriptor;
    const natural = (t: Template): boolean => t.size === 'large' && (t.color === undefined || t.color === t.concept.colour?.natural);
    const own = this.templates.find((t) => t.concept.name === name && natural(t));
    if (own === undefined) throw new TesseraError('TESSERA_ERR_OPTION', `unknown concept ${JSON.stringify(name)}`, { param: 'concept' });
    const a = viewOf(own);
    return this.templates.filter((t) => natural(t) && t.concept.name !== name)
      .map((t) => ({ name: t.concept.name, d: viewOf(t).reduce((s, v, i) => s + Math.abs(v - a[i]), 0) }))
      .sort((x, y) => x.d - y.d).slice(0, k).map((x) => x.name);
  }

  /**
   * Pixels of dilation that join the parts of one drawing. Dilation joins gaps up to twice
   * this, and blur grows each object by about a pixel a side, so it stays under (gap - 2) / 2.
   */
  get mergeRadius(): number {
    return Math.max(1, Math.floor((this.world.gap - 3) / 2));
  }

  parse(input: JudgeInput): ParsedImage {
    const n = this.world.imageSize;
    const data = imageBytes(input, n, `the ${this.world.name} judge`);
    const { background, rgb: bg } = detectBackground(data, n, BACKGROUND_NAMES, BACKGROUNDS);
    const fg = foregroundMask(data, n, bg, FOREGROUND_DISTANCE);
    const minPixels = Math.round((this.world.sizes.small * this.world.sizes.small) / 40);
    const objects: ParsedObject[] = [];
    for (const group of components(fg, n, this.mergeRadius)) {
      if (group.length < minPixels) continue;
      objects.push(this.identify(data, bg, background, group));
    }
    return { background, objects };
  }

  check(input: JudgeInput, spec: Spec): Verdict {
    const parsed = this.parse(input);
    return { ...checkObjects(this.world, parsed, spec), parsed };
  }

  private identify(data: Uint8Array, bg: readonly number[], background: BackgroundName, pixels: number[]): ParsedObject {
    const n = this.world.imageSize;
    const box: Box = { x0: n, y0: n, x1: -1, y1: -1 };
    const inGroup = new Uint8Array(n * n);
    for (const p of pixels) inGroup[p] = 1;
    for (const p of pixels) {
      const x = p % n;
      const y = (p - x) / n;
      box.x0 = Math.min(box.x0, x); box.y0 = Math.min(box.y0, y); box.x1 = Math.max(box.x1, x); box.y1 = Math.max(box.y1, y);
    }
    const descriptor = descriptorOf(box, (x, y, c) => data[3 * (y * n + x) + c]);
    const w = box.x1 - box.x0 + 1;
    const h = box.y1 - box.y0 + 1;
    const scale = this.world.sizes.large;
    const coarse = this.templates.map((t) => {
      const view = t.views.get(background) as { box: Box; descriptor: Float32Array };
      let d = 0;
      for (let i = 0; i < descriptor.length; i++) d += Math.abs(descriptor[i] - view.descriptor[i]);
      const tw = view.box.x1 - view.box.x0 + 1;
      const th = view.box.y1 - view.box.y0 + 1;
      return { t, view, score: d / descriptor.length + (Math.abs(w - tw) + Math.abs(h - th)) / scale };
    }).sort((a, b) => a.score - b.score).slice(0, COARSE_KEEP);
    // Align each template's visible box centre with the object's; the best few then try +-1 px.
    const aligned = coarse.map(({ t, view }) => {
      const ox = Math.round((box.x0 + box.x1) / 2 - (view.box.x0 + view.box.x1) / 2);
      const oy = Math.round((box.y0 + box.y1) / 2 - (view.box.y0 + view.box.y1) / 2);
      return { t, ox, oy, error: fineError(data, n, bg, inGroup, t, ox, oy) };
    }).sort((a, b) => a.error - b.error);
    let best = { t: aligned[0].t, error: aligned[0].error, cx: aligned[0].ox + aligned[0].t.canvas / 2, cy: aligned[0].oy + aligned[0].t.canvas / 2 };
    for (const { t, ox, oy } of aligned.slice(0, FINE_KEEP)) {
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        if (dx === 0 && dy === 0) continue;
        const error = fineError(data, n, bg, inGroup, t, ox + dx, oy + dy);
        if (error < best.error) best = { t, error, cx: ox + dx + t.canvas / 2, cy: oy + dy + t.canvas / 2 };
      }
    }
    return { concept: best.t.concept.name, color: best.t.color, size: best.t.size, x: best.cx, y: best.cy, error: best.error, area: pixels.length };
  }
}

/** Mean absolute RGB difference (0..255) over the template's ink and the object's pixels, template placed at (ox, oy). */
function fineError(data: Uint8Array, n: number, bg: readonly number[], inGroup: Uint8Array, t: Template, ox: number, oy: number): number {
  let sum = 0;
  let count = 0;
  for (let y = 0; y < t.canvas; y++) {
    const iy = y + oy;
    for (let x = 0; x < t.canvas; x++) {
      const ix = x + ox;
      const tp = 4 * (y * t.canvas + x);
      const a = t.rgba[tp + 3] / 255;
      const inside = ix >= 0 && iy >= 0 && ix < n && iy < n;
      const ip = iy * n + ix;
      if (a < 0.05 && !(inside && inGroup[ip] === 1)) continue;
      for (let c = 0; c < 3; c++) {
        const expected = a * t.rgba[tp + c] + (1 - a) * bg[c];
        sum += Math.abs((inside ? data[3 * ip + c] : bg[c]) - expected);
      }
      count++;
    }
  }
  // Object pixels outside the template's canvas are missing ink: count them at full cost.
  return count === 0 ? Infinity : sum / (3 * count);
}
