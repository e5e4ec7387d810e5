/** Renders objects scenes through SVG and sharp (librsvg): each object is its emoji drawing, scaled into its box. */
import sharp from 'sharp';
import { TesseraError } from '../../src/errors.js';
import { iconBody } from './catalog.js';
import { hex, recolourBody } from './colour.js';
import { BACKGROUNDS, conceptOf, halfExtents, type Concept, type ColorName, type Scene, type SizeName, type World } from './world.js';

/** The drawing's body in the requested colour (colourable concepts only). */
function conceptBody(concept: Concept, color: ColorName | undefined): string {
  const body = iconBody(concept.icon);
  if (concept.colour === null || color === undefined) return body;
  return recolourBody(body, concept.colour.hue, concept.colour.natural, color);
}

/** SVG markup of one object whose box is centred on (cx, cy), longest side `world.sizes[size]`. */
export function objectSvg(world: World, concept: Concept, color: ColorName | undefined, size: SizeName, cx: number, cy: number): string {
  const { hw, hh } = halfExtents(world, concept, size);
  const [bx, by, bw, bh] = concept.box;
  return `<svg x="${(cx - hw).toFixed(3)}" y="${(cy - hh).toFixed(3)}" width="${(2 * hw).toFixed(3)}" height="${(2 * hh).toFixed(3)}" ` +
    `viewBox="${bx} ${by} ${bw} ${bh}" preserveAspectRatio="none">${conceptBody(concept, color)}</svg>`;
}

export function sceneSvg(world: World, scene: Scene): string {
  const n = world.imageSize;
  const objects = scene.objects.map((o) => objectSvg(world, conceptOf(world, o.concept), o.color, o.size, o.x, o.y));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${n}" height="${n}" viewBox="0 0 ${n} ${n}">` +
    `<rect width="${n}" height="${n}" fill="${hex(BACKGROUNDS[scene.background])}"/>${objects.join('')}</svg>`;
}

/** RGB bytes of an SVG of `size` x `size`, row-major interleaved. */
export async function rasterize(svg: string, size: number): Promise<Uint8Array> {
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new TesseraError('TESSERA_ERR_IMAGE', `rendered ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

export async function renderScene(world: World, scene: Scene): Promise<Uint8Array> {
  return rasterize(sceneSvg(world, scene), world.imageSize);
}

/** RGBA bytes of one object alone on a transparent canvas of `canvas` px, centred: the judge's templates. */
export async function renderObjectRgba(world: World, concept: Concept, color: ColorName | undefined, size: SizeName, canvas: number): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${canvas}" height="${canvas}" viewBox="0 0 ${canvas} ${canvas}">` +
    objectSvg(world, concept, color, size, canvas / 2, canvas / 2) + '</svg>';
  const { data, info } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== canvas || info.channels !== 4) throw new TesseraError('TESSERA_ERR_IMAGE', `template rendered ${info.width}x${info.height}x${info.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}
