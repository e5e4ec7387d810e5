/** Colour helpers: HSL conversion and recolouring an SVG body's fills (the colour attribute). */
import { COLORS, type ColorName, type Rgb } from './world.js';

export function rgbToHsl([r, g, b]: Rgb): [number, number, number] {
  const [R, G, B] = [r / 255, g / 255, b / 255];
  const max = Math.max(R, G, B);
  const min = Math.min(R, G, B);
  const l = (max + min) / 2;
  if (max === min) return [0, 0, l];
  const d = max - min;
  const s = l > 0.5 ? d / (2 - max - min) : d / (max + min);
  let h = max === R ? (G - B) / d + (G < B ? 6 : 0) : max === G ? (B - R) / d + 2 : (R - G) / d + 4;
  h *= 60;
  return [h, s, l];
}

function hslToRgb([h, s, l]: [number, number, number]): [number, number, number] {
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [r, g, b].map((v) => Math.round(Math.min(1, Math.max(0, v + m)) * 255)) as [number, number, number];
}

export function hex(rgb: readonly number[]): string {
  return '#' + rgb.map((v) => v.toString(16).padStart(2, '0')).join('');
}

function parseHex(text: string): Rgb | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(text);
  if (m === null) return null;
  const h = m[1].length === 3 ? m[1].split('').map((c) => c + c).join('') : m[1];
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

export function hueDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
}

/** Fills within this many degrees of the concept's main hue (and saturated) are recoloured. */
const HUE_WINDOW = 35;

/**
 * The body with every saturated fill near `sourceHue` moved to `target`: hue and
 * saturation of the target colour, lightness shifted by the fill's offset from the
 * natural colour's, so shading and highlights survive the recolour.
 */
export function recolourBody(body: string, sourceHue: number, natural: ColorName, target: ColorName): string {
  if (target === natural) return body;
  const [th, ts, tl] = rgbToHsl(COLORS[target]);
  const [, , nl] = rgbToHsl(COLORS[natural]);
  return body.replace(/(fill|stroke|stop-color)="(#[0-9a-fA-F]{3,6})"/g, (whole, attr: string, value: string) => {
    const rgb = parseHex(value);
    if (rgb === null) return whole;
    const [h, s, l] = rgbToHsl(rgb);
    if (s < 0.3 || l < 0.12 || l > 0.92 || hueDistance(h, sourceHue) > HUE_WINDOW) return whole;
    const lightness = Math.min(0.9, Math.max(0.12, tl + (l - nl)));
    return `${attr}="${hex(hslToRgb([th, Math.min(1, ts * Math.max(0.6, s)), lightness]))}"`;
  });
}
