/**
 * The judge: reads a 64x64 RGB image back into objects (background, colour, shape,
 * size, position) and checks them against a structured Spec. Shapes are recognised
 * by IoU against masks drawn by the same renderer as the training data, which is
 * robust to the blur and colour noise of decoded images.
 */
import { checkSpec, judgeRelation as judgeRelationAt, type CheckRules, type WorldVerdict } from '../world/check.js';
import { components, detectBackground, foregroundMask, imageBytes, type JudgeInput } from '../world/vision.js';
import { renderShapeCoverage } from './render.js';
import {
  BACKGROUNDS, BACKGROUND_NAMES, COLORS, COLOR_NAMES, IMAGE_SIZE, SHAPES, SIZES, SIZE_NAMES,
  type BackgroundName, type ColorName, type ObjectGroup, type Relation, type ShapeName, type SizeName, type Spec,
} from './world.js';

export type { JudgeInput } from '../world/vision.js';

/** Components smaller than this are anti-aliasing fringes or noise, not objects. */
const MIN_COMPONENT_PIXELS = 20;
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

export type Verdict = WorldVerdict<ParsedImage>;

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
    const data = imageBytes(input, IMAGE_SIZE, 'the judge');
    const { background, rgb: bg } = detectBackground(data, IMAGE_SIZE, BACKGROUND_NAMES, BACKGROUNDS);
    const fg = foregroundMask(data, IMAGE_SIZE, bg, FOREGROUND_DISTANCE);
    const objects: ParsedObject[] = [];
    for (const component of components(fg, IMAGE_SIZE)) {
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

  private readObject(data: Uint8Array, bg: readonly number[], pixels: number[]): ParsedObject | null {
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

/** Pixels a relation's offset needs at least, along its axis. */
const RELATION_MINIMUM = 6;

/** relation(a, b) as the judge reads it (eval/world/check.ts): at least 6 px along the axis, dominating the other. */
export function judgeRelation(a: { x: number; y: number }, b: { x: number; y: number }, relation: Relation): boolean {
  return judgeRelationAt(a, b, relation, RELATION_MINIMUM);
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

const CHECK_RULES: CheckRules<ParsedObject, ObjectGroup> = { describe, mismatches: slotMismatches, relationMinimum: RELATION_MINIMUM };

/** Checks parsed objects against a spec: exactly the asked objects, nothing else. */
export function checkParsed(parsed: ParsedImage, spec: Spec): { pass: boolean; reasons: string[] } {
  return checkSpec(CHECK_RULES, parsed, spec);
}
