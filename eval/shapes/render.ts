/** Renders scenes to 64x64 RGB through SVG and sharp (librsvg, anti-aliased). */
import sharp from 'sharp';
import { TesseraError } from '../../src/errors.js';
import { BACKGROUNDS, COLORS, IMAGE_SIZE, SIZES, type Scene, type SceneObject, type ShapeName } from './world.js';

function hex(rgb: readonly number[]): string {
  return '#' + rgb.map((v) => v.toString(16).padStart(2, '0')).join('');
}

function polygon(points: [number, number][], fill: string): string {
  return `<polygon points="${points.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(' ')}" fill="${fill}"/>`;
}

/**
 * SVG markup of one shape whose bounding box is about `size` px, centred on (cx, cy).
 * Proportions are chosen so shapes differ in silhouette even at 18 px (ring hole,
 * thin cross arms, narrow diamond, deep star notches).
 */
function shapeSvg(shape: ShapeName, cx: number, cy: number, size: number, fill: string): string {
  const r = size / 2;
  switch (shape) {
    case 'circle':
      return `<circle cx="${cx}" cy="${cy}" r="${r}" fill="${fill}"/>`;
    case 'ring': {
      // Stroke centred at 0.72 r with width 0.56 r: outer edge at r, hole of radius 0.44 r.
      return `<circle cx="${cx}" cy="${cy}" r="${(0.72 * r).toFixed(2)}" fill="none" stroke="${fill}" stroke-width="${(0.56 * r).toFixed(2)}"/>`;
    }
    case 'square': {
      const side = size * 0.86;
      return `<rect x="${cx - side / 2}" y="${cy - side / 2}" width="${side}" height="${side}" fill="${fill}"/>`;
    }
    case 'triangle':
      return polygon([[cx, cy - r], [cx + r, cy + r * 0.8], [cx - r, cy + r * 0.8]], fill);
    case 'diamond':
      return polygon([[cx, cy - r], [cx + r * 0.68, cy], [cx, cy + r], [cx - r * 0.68, cy]], fill);
    case 'star': {
      const points: [number, number][] = [];
      for (let i = 0; i < 10; i++) {
        const radius = i % 2 === 0 ? r : r * 0.42;
        const angle = -Math.PI / 2 + (i * Math.PI) / 5;
        points.push([cx + radius * Math.cos(angle), cy + 0.05 * r + radius * Math.sin(angle)]);
      }
      return polygon(points, fill);
    }
    case 'cross': {
      const arm = size * 0.34;
      const h = arm / 2;
      return polygon(
        [[cx - h, cy - r], [cx + h, cy - r], [cx + h, cy - h], [cx + r, cy - h], [cx + r, cy + h], [cx + h, cy + h],
          [cx + h, cy + r], [cx - h, cy + r], [cx - h, cy + h], [cx - r, cy + h], [cx - r, cy - h], [cx - h, cy - h]],
        fill,
      );
    }
    case 'heart': {
      // Two lobes and a point, scaled from a unit heart in [-1, 1].
      const s = r;
      const p = (x: number, y: number): string => `${(cx + x * s).toFixed(2)} ${(cy + y * s).toFixed(2)}`;
      const d = `M${p(0, 1)} C${p(-0.55, 0.55)} ${p(-1, 0.2)} ${p(-1, -0.35)} C${p(-1, -0.85)} ${p(-0.45, -1.05)} ${p(0, -0.55)} ` +
        `C${p(0.45, -1.05)} ${p(1, -0.85)} ${p(1, -0.35)} C${p(1, 0.2)} ${p(0.55, 0.55)} ${p(0, 1)} Z`;
      return `<path d="${d}" fill="${fill}"/>`;
    }
  }
}

function objectSvg(object: SceneObject): string {
  return shapeSvg(object.shape, object.x, object.y, SIZES[object.size], hex(COLORS[object.color]));
}

export function sceneSvg(scene: Scene): string {
  const n = IMAGE_SIZE;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${n}" height="${n}" viewBox="0 0 ${n} ${n}">` +
    `<rect width="${n}" height="${n}" fill="${hex(BACKGROUNDS[scene.background])}"/>` +
    scene.objects.map(objectSvg).join('') + '</svg>';
}

/** Renders a scene to RGB bytes, interleaved row-major (64 * 64 * 3). */
export async function renderScene(scene: Scene): Promise<Uint8Array> {
  return rasterize(sceneSvg(scene), 3);
}

async function rasterize(svg: string, channels: 1 | 3): Promise<Uint8Array> {
  let pipeline = sharp(Buffer.from(svg)).removeAlpha();
  if (channels === 1) pipeline = pipeline.extractChannel(0);
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== IMAGE_SIZE || info.height !== IMAGE_SIZE || info.channels !== channels) {
    throw new TesseraError('TESSERA_ERR_IMAGE', `rendered ${info.width}x${info.height}x${info.channels}, expected ${IMAGE_SIZE}x${IMAGE_SIZE}x${channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/**
 * Coverage (0..255) of one shape drawn white on black at the image centre: the
 * judge's templates come from the very renderer that drew the training data.
 */
export async function renderShapeCoverage(shape: ShapeName, size: number): Promise<Uint8Array> {
  const n = IMAGE_SIZE;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${n}" height="${n}" viewBox="0 0 ${n} ${n}">` +
    `<rect width="${n}" height="${n}" fill="#000000"/>${shapeSvg(shape, n / 2, n / 2, size, '#ffffff')}</svg>`;
  return rasterize(svg, 1);
}
