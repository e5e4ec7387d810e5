/**
 * Writes eval/objects/concepts.json, the objects world's concept table, from the emoji
 * catalogue (eval/objects/catalog.ts): each drawing's visible box, the backgrounds it
 * stays visible on, its colour attribute, its CLDR synonyms, and which candidates are
 * dropped as look-alikes of an earlier one (documented in the file).
 *   npx tsx scripts/make-objects-concepts.ts [--threshold 0.075] [--out eval/objects/concepts.json]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { catalogEntries, iconBody, pluralOf, synonymsOf } from '../eval/objects/catalog.js';
import { hueDistance, rgbToHsl } from '../eval/objects/colour.js';
import { BACKGROUNDS, BACKGROUND_NAMES, COLORS, COLOR_NAMES, type BackgroundName, type ColorName, type Concept, type ConceptFile } from '../eval/objects/world.js';

const { values } = parseArgs({ options: { threshold: { type: 'string', default: '0.05' }, out: { type: 'string', default: 'eval/objects/concepts.json' } }, strict: true });

/** Concepts that come in colours (the issue's car, balloon, heart, ...): their main hue is recoloured. */
const COLOURABLE = new Set(['car', 'balloon', 'heart', 't shirt', 'book', 'tulip', 'umbrella', 'gift', 'ribbon', 'backpack', 'dress', 'kite', 'crayon', 'bus', 'sailboat', 'shorts', 'mittens', 'gloves', 'scarf', 'bow']);
// Not colourable although it comes in colours: the bicycle's thin frame is too few pixels
// to tell orange from yellow at 28 px (measured with the judge). The descriptor filter below
// is the only look-alike filter: the judge tells every remaining pair apart (docs/objects.md).

const RES = 128; // 4 px per viewBox unit
const GRID = 10;
const VISIBLE_DISTANCE = 60;

async function rgbaOf(body: string): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${RES}" height="${RES}" viewBox="0 0 32 32">${body}</svg>`;
  const { data } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

function measure(rgba: Uint8Array): { box: [number, number, number, number]; pixels: number[][]; descriptor: Float32Array } | null {
  let x0 = RES, y0 = RES, x1 = -1, y1 = -1;
  const pixels: number[][] = [];
  for (let y = 0; y < RES; y++) for (let x = 0; x < RES; x++) {
    const p = 4 * (y * RES + x);
    if (rgba[p + 3] < 128) continue;
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    pixels.push([rgba[p], rgba[p + 1], rgba[p + 2]]);
  }
  if (x1 < 0 || pixels.length < 200) return null;
  const u = RES / 32;
  const box: [number, number, number, number] = [x0 / u, y0 / u, (x1 + 1 - x0) / u, (y1 + 1 - y0) / u].map((v) => Math.round(v * 100) / 100) as [number, number, number, number];
  // Descriptor: the box stretched to GRID x GRID cells, alpha-premultiplied over mid-gray.
  const side = Math.max(x1 + 1 - x0, y1 + 1 - y0);
  const cx = (x0 + x1 + 1) / 2;
  const cy = (y0 + y1 + 1) / 2;
  const descriptor = new Float32Array(GRID * GRID * 3);
  const counts = new Float32Array(GRID * GRID);
  for (let y = 0; y < RES; y++) for (let x = 0; x < RES; x++) {
    const gx = Math.floor(((x + 0.5 - cx) / side + 0.5) * GRID);
    const gy = Math.floor(((y + 0.5 - cy) / side + 0.5) * GRID);
    if (gx < 0 || gy < 0 || gx >= GRID || gy >= GRID) continue;
    const p = 4 * (y * RES + x);
    const a = rgba[p + 3] / 255;
    for (let c = 0; c < 3; c++) descriptor[3 * (gy * GRID + gx) + c] += a * rgba[p + c] + (1 - a) * 128;
    counts[gy * GRID + gx]++;
  }
  for (let i = 0; i < counts.length; i++) for (let c = 0; c < 3; c++) descriptor[3 * i + c] /= Math.max(1, counts[i]) * 255;
  return { box, pixels, descriptor };
}

function visibleOn(pixels: number[][], bg: readonly number[]): boolean {
  const far = pixels.filter((p) => Math.hypot(p[0] - bg[0], p[1] - bg[1], p[2] - bg[2]) > VISIBLE_DISTANCE).length;
  return far / pixels.length >= 0.7;
}

function mainHue(pixels: number[][]): { hue: number; natural: ColorName } | null {
  const bins = new Array<number>(36).fill(0);
  const saturated = pixels.map((p) => rgbToHsl(p as [number, number, number])).filter(([, s, l]) => s >= 0.4 && l > 0.15 && l < 0.85);
  if (saturated.length < pixels.length * 0.25) return null;
  for (const [h] of saturated) bins[Math.floor(h / 10) % 36]++;
  const hue = bins.indexOf(Math.max(...bins)) * 10 + 5;
  const natural = COLOR_NAMES.reduce((best, c) => (hueDistance(rgbToHsl(COLORS[c])[0], hue) < hueDistance(rgbToHsl(COLORS[best])[0], hue) ? c : best), COLOR_NAMES[0]);
  return { hue, natural };
}

/** Processed first, so a look-alike of one of these is the one dropped (the issue's examples). */
const PRIORITY = ['cat', 'dog', 'car', 'balloon', 'heart', 'bicycle', 'key', 'pizza', 'house', 'tulip', 'book', 'umbrella'];
const entries = catalogEntries().sort((a, b) => (PRIORITY.includes(b.name) ? 1 : 0) - (PRIORITY.includes(a.name) ? 1 : 0));
const synonyms = synonymsOf(entries);
const threshold = Number(values.threshold);
const kept: { concept: Concept; descriptor: Float32Array }[] = [];
const dropped: { name: string; reason: string }[] = [];
for (const entry of entries) {
  const m = measure(await rgbaOf(iconBody(entry.icon)));
  if (m === null) { dropped.push({ name: entry.name, reason: 'too little ink' }); continue; }
  const backgrounds = BACKGROUND_NAMES.filter((b) => visibleOn(m.pixels, BACKGROUNDS[b])) as BackgroundName[];
  if (backgrounds.length < 3) { dropped.push({ name: entry.name, reason: `visible on only ${backgrounds.length} backgrounds` }); continue; }
  let nearest = { name: '', distance: Infinity };
  for (const k of kept) {
    let d = 0;
    for (let i = 0; i < m.descriptor.length; i++) d += Math.abs(m.descriptor[i] - k.descriptor[i]);
    d /= m.descriptor.length;
    if (d < nearest.distance) nearest = { name: k.concept.name, distance: d };
  }
  if (nearest.distance < threshold) { dropped.push({ name: entry.name, reason: `looks like ${nearest.name} (descriptor distance ${nearest.distance.toFixed(3)})` }); continue; }
  const colour = COLOURABLE.has(entry.name) ? mainHue(m.pixels) : null;
  kept.push({
    descriptor: m.descriptor,
    concept: {
      name: entry.name, plural: pluralOf(entry.name), icon: entry.icon, category: entry.category,
      synonyms: (synonyms.get(entry.name) ?? []).map((s) => [s, pluralOf(s)]), box: m.box, backgrounds, colour,
    },
  });
}
const file: ConceptFile = { format: 'tessera-objects-concepts', formatVersion: 1, concepts: kept.map((k) => k.concept), dropped };
await writeFile(values.out, JSON.stringify(file, null, 1) + '\n');
const byCategory = new Map<string, number>();
for (const k of kept) byCategory.set(k.concept.category, (byCategory.get(k.concept.category) ?? 0) + 1);
console.log(`${kept.length} concepts (${[...byCategory].map(([c, n]) => `${c} ${n}`).join(', ')}), ${kept.filter((k) => k.concept.colour !== null).length} colourable; ${dropped.length} dropped -> ${values.out}`);
