/**
 * Gallery benchmark (issue 24): a history of 1,000 generations of 2 kept images each, the
 * page opened in Debian's Chromium at 1440 x 900. The grid shows a tile per kept image (a
 * history page of generations brings each one's kept images). Per run (a fresh browser
 * context, nothing cached):
 *
 *   first thumbnails  ms from navigation start (the page's performance.now()) until every
 *                     tile in the first screenful shows its image (complete, decoded size);
 *   requests          what the page asked the server for by then: history pages and image
 *                     files, against the 2,000 kept images of the history;
 *   after scrolling   the same counts after scrolling down three screens, settling each time:
 *                     the grid pages in by cursor as it scrolls, images load lazily.
 *
 * Medians over --runs runs (default 5). The server is `build()` over the tiny test model
 * with a temporary data folder filled through the result store (no model runs).
 *
 *   npm run bench:gallery [-- --runs 5 --count 1000 --kept 2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { build } from '../src/server/app.js';
import { fillHistory } from '../test/helpers/history-fill.js';
import { cpuFlagsLine, machineLine, median } from './perf/machine.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, count: { type: 'string', default: '1000' }, kept: { type: 'string', default: '2' }, width: { type: 'string', default: '1440' } } });
const runs = Number(values.runs);
const count = Number(values.count);
const kept = Number(values.kept);
const images = count * kept;
const width = Number(values.width);

// Browser globals for the functions that run in the page (the tsconfig has no DOM lib).
interface PageImage {
  complete: boolean;
  naturalWidth: number;
}
interface PageTile {
  getBoundingClientRect(): { top: number };
  querySelector(selector: 'img'): PageImage | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageTile & PageImage> };
declare const innerHeight: number;
declare const performance: { now(): number; getEntriesByType(type: 'resource'): Iterable<{ name: string; responseEnd: number }> };

/** In the page: once every tile inside the viewport has its image decoded, when and how many. */
function firstScreen(): { at: number; visible: number } | false {
  const tiles = [...document.querySelectorAll('#grid .tile')];
  const visible = tiles.filter((t) => t.getBoundingClientRect().top < innerHeight);
  if (visible.length === 0 || visible.length === tiles.length) return false;
  return visible.every((t) => {
    const image = t.querySelector('img');
    return image !== null && image.complete && image.naturalWidth > 0;
  })
    ? { at: performance.now(), visible: visible.length }
    : false;
}

interface Counts {
  history: number;
  files: number;
  tiles: number;
  loaded: number;
}

async function counts(page: Page, requests: string[]): Promise<Counts> {
  const inPage = await page.evaluate(() => {
    const images = [...document.querySelectorAll('#grid .tile img')];
    return { tiles: images.length, loaded: images.filter((i) => i.complete && i.naturalWidth > 0).length };
  });
  return { history: requests.filter((r) => r.startsWith('/v1/history')).length, files: requests.filter((r) => r.startsWith('/v1/files/')).length, ...inPage };
}

async function settle(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-gallery-bench-'));
const app = await build({ models: [path.resolve('test/fixtures/tiny-model')], dataDir, rateLimit: false });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
try {
  console.log(machineLine());
  console.log(cpuFlagsLine());
  const filled = Date.now();
  await fillHistory(app.tessera.store, count, { kept });
  console.log(`history: ${app.tessera.store.count()} generations (${kept} kept images each, ${images} in all, 16 px PNGs; a tile each) filled in ${((Date.now() - filled) / 1000).toFixed(1)} s; viewport ${width} x 900; ${runs} runs`);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const first: number[] = [];
  const historyAnswered: number[] = [];
  const rows: { first: Counts; scrolled: Counts; visible: number }[] = [];
  for (let run = 0; run < runs; run += 1) {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    await page.goto(base + '/');
    const shown = (await (await page.waitForFunction(firstScreen, undefined, { polling: 'raf', timeout: 60_000 })).jsonValue()) as { at: number; visible: number };
    first.push(shown.at);
    const historyAt = await page.evaluate(() => [...performance.getEntriesByType('resource')].find((e) => e.name.includes('/v1/history'))?.responseEnd ?? NaN);
    historyAnswered.push(historyAt);
    const atFirst = await counts(page, requests);
    for (let screen = 0; screen < 3; screen += 1) {
      await page.mouse.wheel(0, 900);
      await settle(page);
    }
    rows.push({ first: atFirst, scrolled: await counts(page, requests), visible: shown.visible });
    await context.close();
  }
  const mid = (pick: (r: (typeof rows)[number]) => number) => median(rows.map(pick));
  console.log(`first thumbnails: median ${median(first).toFixed(0)} ms from navigation start (runs: ${first.map((t) => t.toFixed(0)).join(', ')}); ${mid((r) => r.visible)} tiles in the first screen; the first history page had arrived at ${median(historyAnswered).toFixed(0)} ms`);
  console.log(`requests by then: ${mid((r) => r.first.history)} history page(s), ${mid((r) => r.first.files)} image files; ${mid((r) => r.first.tiles)} tiles in the page, ${mid((r) => r.first.loaded)} images loaded (of ${images} kept images in the history)`);
  console.log(`after scrolling 3 screens: ${mid((r) => r.scrolled.history)} history page(s), ${mid((r) => r.scrolled.files)} image files; ${mid((r) => r.scrolled.tiles)} tiles, ${mid((r) => r.scrolled.loaded)} images loaded (of ${images})`);
} finally {
  await browser.close();
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
