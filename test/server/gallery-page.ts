/**
 * What every gallery e2e test watches on a page: CSP violations (the page's own
 * securitypolicyviolation events), console errors, requests that leave the server's
 * origin, failed responses; and axe-core, injected through the DevTools protocol (an
 * inline <script> would itself be blocked by the page's CSP).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';

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
    (window as unknown as { __csp: string[] }).__csp = seen;
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const watched: Watched = {
    page,
    errors: [],
    foreign: [],
    failed: [],
    csp: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
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
    const axe = (window as unknown as { axe: { run(c: unknown, o: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
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
