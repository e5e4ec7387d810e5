/**
 * The judge: reads a 64x64 RGB image back into objects (background, colour, shape,
 * size, position) and checks them against a structured Spec. Shapes are recognised
 * by IoU against masks drawn by the same renderer as the training data, which is
 * robust to the blur and colour noise of decoded images.
 */
import { TesseraError } from '../../src/errors.js';
import { renderShapeCoverage } from './render.js';
import {
  BACKGROUNDS, BACKGROUND_NAMES, COLORS, COLOR_NAMES, IMAGE_SIZE, SHAPES, SIZES, SIZE_NAMES,
  type BackgroundName, type ColorName, type ObjectGroup, type Relation, type ShapeName, type SizeName, type Spec,
} from './world.js';

/** Components smaller than this are anti-aliasing fringes or noise, not objects. */
export const MIN_COMPONENT_PIXELS = 20;
/** A pixel this far (RGB distance) from the background is foreground. */
const FOREGROUND_DISTANCE = 48;

export interface ParsedObject {
  color: ColorName;
  shape: ShapeName;
  size: SizeName;
  /** Centroid of the object's mask, in pixels. */
  x: number;
  y: number;
  /** Mask pixels (coverage >= 0.5). */
  area: number;
  /** IoU with the best template: low values mean "not really any shape". */
  iou: number;
}

export interface ParsedImage {
  background: BackgroundName;
  objects: ParsedObject[];
}

export interface Verdict {
  pass: boolean;
  reasons: string[];
  parsed: ParsedImage;
}

interface Template {
  shape: ShapeName;
  size: SizeName;
  /** Mask pixels (coverage >= 0.5) of the shape drawn at the image centre. */
  xs: Int16Array;
  ys: Int16Array;
  cx: number;
  cy: number;
}

type Rgb = [number, number, number];

function distance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

function nearest<N extends string>(rgb: readonly number[], names: readonly N[], palette: Record<N, readonly number[]>): N {
  let best = names[0];
  let bestDistance = Infinity;
  for (const name of names) {
    const d = distance(rgb, palette[name]);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

function imageBytes(image: Uint8Array | { width: number; height: number; data: Uint8Array }): Uint8Array {
  const data = image instanceof Uint8Array ? image : image.data;
  if (!(image instanceof Uint8Array) && (image.width !== IMAGE_SIZE || image.height !== IMAGE_SIZE)) {
    throw new TesseraError('TESSERA_ERR_IMAGE', `the judge reads ${IMAGE_SIZE}x${IMAGE_SIZE} images, got ${image.width}x${image.height}`);
  }
  if (data.length !== IMAGE_SIZE * IMAGE_SIZE * 3) {
    throw new TesseraError('TESSERA_ERR_IMAGE', `expected ${IMAGE_SIZE * IMAGE_SIZE * 3} RGB bytes, got ${data.length}`);
  }
  return data;
}

export type JudgeInput = Uint8Array | { width: number; height: number; data: Uint8Array };

export class Judge {
  private constructor(private readonly templates: Template[]) {}

  /** Renders the shape templates (16 small sharp renders); reuse one Judge. */
  static async create(): Promise<Judge> {
    const jobs: Promise<Template>[] = [];
    for (const shape of SHAPES) {
      for (const size of SIZE_NAMES) {
        jobs.push(renderShapeCoverage(shape, SIZES[size]).then((coverage) => templateOf(shape, size, coverage)));
      }
    }
    return new Judge(await Promise.all(jobs));
  }

  parse(input: JudgeInput): ParsedImage {
    const data = imageBytes(input);
    const n = IMAGE_SIZE;
    const { background, rgb: bg } = detectBackground(data);
    const fg = new Uint8Array(n * n);
    const threshold2 = FOREGROUND_DISTANCE * FOREGROUND_DISTANCE;
    for (let p = 0; p < n * n; p++) {
      const dr = data[3 * p] - bg[0];
      const dg = data[3 * p + 1] - bg[1];
      const db = data[3 * p + 2] - bg[2];
      fg[p] = dr * dr + dg * dg + db * db > threshold2 ? 1 : 0;
    }
    const objects: ParsedObject[] = [];
    for (const component of components(fg)) {
      if (component.length < MIN_COMPONENT_PIXELS) continue;
      const parsed = this.readObject(data, bg, component);
      if (parsed !== null) objects.push(parsed);
    }
    return { background, objects };
  }

  check(input: JudgeInput, spec: Spec): Verdict {
    const parsed = this.parse(input);
    return { ...checkParsed(parsed, spec), parsed };
  }

  private readObject(data: Uint8Array, bg: Rgb, pixels: number[]): ParsedObject | null {
    // The object's colour: mean of its most saturated-from-background pixels, which
    // anti-aliased and blurred edges do not reach.
    const distances = pixels.map((p) => distance([data[3 * p], data[3 * p + 1], data[3 * p + 2]], bg));
    const maxDistance = Math.max(...distances);
    const mean: Rgb = [0, 0, 0];
    let core = 0;
    pixels.forEach((p, i) => {
      if (distances[i] < 0.75 * maxDistance) return;
      for (let c = 0; c < 3; c++) mean[c] += data[3 * p + c];
      core++;
    });
    for (let c = 0; c < 3; c++) mean[c] /= core;
    const color = nearest(mean, COLOR_NAMES, COLORS);
    // Coverage of each pixel by the object: its projection onto the bg -> object axis.
    const axis = [mean[0] - bg[0], mean[1] - bg[1], mean[2] - bg[2]];
    const axisNorm2 = axis[0] ** 2 + axis[1] ** 2 + axis[2] ** 2;
    const mask = new Uint8Array(IMAGE_SIZE * IMAGE_SIZE);
    let area = 0;
    let sx = 0;
    let sy = 0;
    for (const p of pixels) {
      const coverage = ((data[3 * p] - bg[0]) * axis[0] + (data[3 * p + 1] - bg[1]) * axis[1] + (data[3 * p + 2] - bg[2]) * axis[2]) / axisNorm2;
      if (coverage < 0.5) continue;
      mask[p] = 1;
      area++;
      sx += p % IMAGE_SIZE;
      sy += Math.floor(p / IMAGE_SIZE);
    }
    if (area < MIN_COMPONENT_PIXELS) return null;
    const cx = sx / area;
    const cy = sy / area;
    // Coarse pass without shifts, then +-1 px refinement of the few best templates only.
    const coarse = this.templates
      .map((template) => ({ template, iou: iouAt(mask, area, cx, cy, template, 0, 0) }))
      .sort((a, b) => b.iou - a.iou)
      .slice(0, 4);
    let best = coarse[0];
    for (const { template } of coarse) {
      const iou = bestIou(mask, area, cx, cy, template);
      if (iou > best.iou) best = { template, iou };
    }
    return { color, shape: best.template.shape, size: best.template.size, x: cx, y: cy, area, iou: best.iou };
  }
}

function templateOf(shape: ShapeName, size: SizeName, coverage: Uint8Array): Template {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let p = 0; p < coverage.length; p++) {
    if (coverage[p] < 128) continue;
    xs.push(p % IMAGE_SIZE);
    ys.push(Math.floor(p / IMAGE_SIZE));
  }
  const cx = xs.reduce((s, v) => s + v, 0) / xs.length;
  const cy = ys.reduce((s, v) => s + v, 0) / ys.length;
  return { shape, size, xs: Int16Array.from(xs), ys: Int16Array.from(ys), cx, cy };
}

/** IoU of the mask with the template centred on the mask's centroid, shifted by (dx, dy). */
function iouAt(mask: Uint8Array, area: number, cx: number, cy: number, template: Template, dx: number, dy: number): number {
  const n = IMAGE_SIZE;
  const offsetX = Math.round(cx - template.cx) + dx;
  const offsetY = Math.round(cy - template.cy) + dy;
  let inter = 0;
  for (let i = 0; i < template.xs.length; i++) {
    const x = template.xs[i] + offsetX;
    const y = template.ys[i] + offsetY;
    if (x >= 0 && y >= 0 && x < n && y < n && mask[y * n + x] === 1) inter++;
  }
  return inter / (area + template.xs.length - inter);
}

/** The best IoU over +-1 px shifts: centroids of blurred masks are off by a pixel at most. */
function bestIou(mask: Uint8Array, area: number, cx: number, cy: number, template: Template): number {
  let best = 0;
  for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) best = Math.max(best, iouAt(mask, area, cx, cy, template, dx, dy));
  return best;
}

/** The background is the palette colour most border pixels are nearest to. */
function detectBackground(data: Uint8Array): { background: BackgroundName; rgb: Rgb } {
  const n = IMAGE_SIZE;
  const votes = new Map<BackgroundName, { count: number; sum: Rgb }>();
  for (let i = 0; i < n; i++) {
    for (const p of [i, (n - 1) * n + i, i * n, i * n + n - 1]) {
      const rgb = [data[3 * p], data[3 * p + 1], data[3 * p + 2]];
      const name = nearest(rgb, BACKGROUND_NAMES, BACKGROUNDS);
      const vote = votes.get(name) ?? { count: 0, sum: [0, 0, 0] };
      vote.count++;
      for (let c = 0; c < 3; c++) vote.sum[c] += rgb[c];
      votes.set(name, vote);
    }
  }
  const [background, vote] = [...votes.entries()].sort((a, b) => b[1].count - a[1].count)[0];
  // The measured mean, not the palette value, so a decoder's colour shift is absorbed.
  return { background, rgb: vote.sum.map((s) => s / vote.count) as Rgb };
}

/** 8-connected components of a binary mask, as lists of pixel indices. */
function components(mask: Uint8Array): number[][] {
  const n = IMAGE_SIZE;
  const seen = new Uint8Array(mask.length);
  const result: number[][] = [];
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] === 0 || seen[start] === 1) continue;
    const pixels: number[] = [];
    const stack = [start];
    seen[start] = 1;
    while (stack.length > 0) {
      const p = stack.pop() as number;
      pixels.push(p);
      const x = p % n;
      const y = (p - x) / n;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= n || ny >= n) continue;
          const q = ny * n + nx;
          if (mask[q] === 1 && seen[q] === 0) {
            seen[q] = 1;
            stack.push(q);
          }
        }
      }
    }
    result.push(pixels);
  }
  return result;
}

/**
 * relation(a, b) as the judge reads it: a clear offset along the relation's axis that
 * dominates the orthogonal one. Looser than the generator's rule (2x dominance) so
 * clean renders always pass, strict enough that a swapped relation never does.
 */
export function judgeRelation(a: { x: number; y: number }, b: { x: number; y: number }, relation: Relation): boolean {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const minimum = 6;
  switch (relation) {
    case 'left': return dx >= minimum && dx > Math.abs(dy);
    case 'right': return -dx >= minimum && -dx > Math.abs(dy);
    case 'above': return dy >= minimum && dy > Math.abs(dx);
    case 'below': return -dy >= minimum && -dy > Math.abs(dx);
  }
}

function describe(group: Pick<ObjectGroup, 'color' | 'shape' | 'size'>): string {
  return [group.size, group.color, group.shape].filter((w) => w !== undefined).join(' ');
}

function slotMismatches(object: ParsedObject, group: ObjectGroup): string[] {
  const reasons: string[] = [];
  if (object.color !== group.color) reasons.push(`expected colour ${group.color}, found ${object.color} ${object.shape}`);
  if (object.shape !== group.shape) reasons.push(`expected shape ${group.shape}, found ${object.color} ${object.shape}`);
  if (group.size !== undefined && object.size !== group.size) reasons.push(`expected ${describe(group)}, found ${object.size} ${object.color} ${object.shape}`);
  return reasons;
}

function* permutations(items: number[]): Generator<number[]> {
  if (items.length <= 1) {
    yield items;
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const tail of permutations(rest)) yield [items[i], ...tail];
  }
}

/** Checks parsed objects against a spec: exactly the asked objects, nothing else. */
export function checkParsed(parsed: ParsedImage, spec: Spec): { pass: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (spec.background !== undefined && parsed.background !== spec.background) {
    reasons.push(`expected background ${spec.background}, found ${parsed.background}`);
  }
  const slots = spec.groups.flatMap((group, g) => Array.from({ length: group.count }, () => ({ group, g })));
  if (parsed.objects.length !== slots.length) {
    reasons.push(`expected ${slots.length} object(s), found ${parsed.objects.length}: ${parsed.objects.map(describe).join(', ') || 'none'}`);
    return { pass: false, reasons };
  }
  let bestReasons: string[] | null = null;
  for (const order of permutations(parsed.objects.map((_, i) => i))) {
    const attempt: string[] = [];
    slots.forEach((slot, s) => attempt.push(...slotMismatches(parsed.objects[order[s]], slot.group)));
    if (spec.relation !== undefined && attempt.length === 0) {
      const a = parsed.objects[order[0]];
      const b = parsed.objects[order[1]];
      if (!judgeRelation(a, b, spec.relation)) {
        attempt.push(`expected ${describe(spec.groups[0])} ${spec.relation} of ${describe(spec.groups[1])}; found offsets dx=${(b.x - a.x).toFixed(1)} dy=${(b.y - a.y).toFixed(1)}`);
      }
    }
    if (bestReasons === null || attempt.length < bestReasons.length) bestReasons = attempt;
    if (attempt.length === 0) break;
  }
  reasons.push(...(bestReasons ?? []));
  return { pass: reasons.length === 0, reasons };
}
