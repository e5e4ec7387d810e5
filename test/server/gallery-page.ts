/**
 * What every gallery e2e test watches on a page: CSP violations (the page's own
 * securitypolicyviolation events), console errors, requests that leave the server's
 * origin, failed responses; and axe-core, injected through the DevTools protocol (an
 * inline <script> would itself be blocked by the page's CSP).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';

// The browser's globals, as far as the page functions below use them (the tsconfig has no
// DOM lib: src/ runs on Node). These functions run in Chromium, never in Node.
interface BrowserRect { left: number; right: number; top: number; bottom: number; width: number; height: number }
interface BrowserNode {
  id: string;
  tagName: string;
  className: string;
  width: number;
  height: number;
  naturalWidth: number;
  dataset: Record<string, string | undefined>;
  classList: { contains(name: string): boolean };
  getBoundingClientRect(): BrowserRect;
  closest(selector: string): unknown;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}
declare const document: {
  activeElement: BrowserNode | null;
  documentElement: { scrollWidth: number; clientWidth: number };
  body: { scrollWidth: number };
  querySelectorAll(selector: string): Iterable<BrowserNode>;
  addEventListener(type: 'securitypolicyviolation', listener: (event: { violatedDirective: string; blockedURI: string }) => void): void;
};
declare const window: Record<string, unknown>;
declare class DataTransfer {
  items: { add(file: unknown): void };
}
declare class File {
  constructor(parts: Uint8Array[], name: string, options: { type: string });
}
declare function atob(text: string): string;
declare const navigator: { clipboard: { readText(): Promise<string> } };

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
export const ARTIFACTS = path.resolve('out/test-artifacts');
const AXE = readFileSync(path.resolve('node_modules/axe-core/axe.min.js'), 'utf8');

export interface Watched {
  page: Page;
  /** Console errors, but the browser's own "Failed to load resource" lines for 4xx answers. */
  errors: string[];
  /** Requests to anything but the server's origin (data: and blob: URLs are the page's own). */
  foreign: string[];
  /** HTTP answers >= 400 as "status path" (the favicon's 404 left out). */
  failed: string[];
  /** CSP violations the page saw. */
  csp: () => Promise<string[]>;
}

export async function watchedPage(browser: Browser, base: string, width: number, height = 900): Promise<Watched> {
  const page = await browser.newPage({ viewport: { width, height } });
  await page.addInitScript(() => {
    const seen: string[] = [];
    window.__csp = seen;
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const watched: Watched = {
    page,
    errors: [],
    foreign: [],
    failed: [],
    csp: () => page.evaluate(() => window.__csp as string[]),
  };
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) watched.errors.push(m.text());
  });
  page.on('pageerror', (e) => watched.errors.push(String(e)));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(base + '/') && !url.startsWith('data:') && !url.startsWith('blob:')) watched.foreign.push(url);
  });
  page.on('response', (r) => {
    const where = new URL(r.url()).pathname;
    if (r.status() >= 400 && where !== '/favicon.ico') watched.failed.push(`${r.status()} ${where}`);
  });
  return watched;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Serious and critical axe violations of the page as it stands (optionally within `include`). */
export async function axeSerious(page: Page, include?: string): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  const violations = await page.evaluate(async (context) => {
    const axe = window.axe as { run(c: unknown, o: unknown): Promise<{ violations: AxeViolation[] }> };
    const result = await axe.run(context ? { include: [context] } : document, { resultTypes: ['violations'] });
    return result.violations;
  }, include ?? null);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Horizontal overflow of the document: scrollWidth beyond the viewport, and elements whose right edge is cut off. */
export async function overflow(page: Page): Promise<{ scrollWidth: number; clientWidth: number; cut: string[] }> {
  return page.evaluate(() => {
    const root = document.documentElement;
    const cut: string[] = [];
    for (const node of document.querySelectorAll('body *')) {
      const r = node.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || node.closest('[hidden], dialog:not([open]), .sr-only')) continue;
      if (r.right > root.clientWidth + 0.5 || r.left < -0.5) cut.push(`${node.tagName.toLowerCase()}${node.id ? `#${node.id}` : ''}.${node.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    return { scrollWidth: Math.max(root.scrollWidth, document.body.scrollWidth), clientWidth: root.clientWidth, cut };
  });
}

/** What has the keyboard focus: its id, whether it is a grid tile, and the tile's generation id. */
export async function focused(page: Page): Promise<{ id: string; tile: boolean; dataId: string | undefined }> {
  return page.evaluate(() => {
    const active = document.activeElement;
    return { id: active?.id ?? '', tile: active?.classList.contains('tile') ?? false, dataId: active?.dataset.id };
  });
}

export async function naturalWidths(images: Locator): Promise<number[]> {
  return images.evaluateAll((nodes) => nodes.map((n) => (n as unknown as BrowserNode).naturalWidth));
}

/** Fully opaque pixels of a canvas (a painted mask). */
export async function opaquePixels(canvas: Locator): Promise<number> {
  return canvas.evaluate((c) => {
    const node = c as unknown as BrowserNode;
    const data = node.getContext('2d').getImageData(0, 0, node.width, node.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] === 255) n += 1;
    return n;
  });
}

export async function canvasWidth(canvas: Locator): Promise<number> {
  return canvas.evaluate((c) => (c as unknown as BrowserNode).width);
}

/** Drags a file over `selector` and drops it there, as a user dropping an image on the page. */
export async function dropFile(page: Page, selector: string, name: string, type: string, bytes: Buffer): Promise<void> {
  const transfer = await page.evaluateHandle(
    ({ b64, name: fileName, type: fileType }) => {
      const data = new DataTransfer();
      data.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], fileName, { type: fileType }));
      return data;
    },
    { b64: bytes.toString('base64'), name, type },
  );
  await page.dispatchEvent(selector, 'dragover', { dataTransfer: transfer });
  await page.dispatchEvent(selector, 'drop', { dataTransfer: transfer });
}

/** What the page put on the clipboard (the page's context must be granted clipboard access). */
export async function clipboardText(page: Page): Promise<string> {
  return page.evaluate(() => navigator.clipboard.readText());
}
