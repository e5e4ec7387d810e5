/**
 * The gallery with API keys (issue 23) on the grid page (issue 24): the page sends its key on
 * every API request, the images it shows load through signed URLs in plain <img> elements
 * (no headers), and two tenants in two browser pages see only their own work. The grid shows
 * every kept image of the history (one tile each, newest generation first, a generation's
 * kept images best first), paged by cursor as it scrolls; the lightbox's arrows move through
 * those tiles.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantIdOf } from '../../src/server/tenancy.js';
import { fillHistory } from '../helpers/history-fill.js';
import { CHROMIUM_ARGS, watchedPage, type Watched } from './gallery-page.js';
import { testServer, type TestServer } from './helpers.js';

const KEY_A = 'gallery-key-a';
const KEY_B = 'gallery-key-b';
const FILLED = 30;
const KEPT = 3;

let server: TestServer;
let base: string;
let browser: Browser;
let filled: string[];

beforeAll(async () => {
  server = await testServer({ waitReady: true, apiKeys: [KEY_A, KEY_B] });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  // A's older work: more generations than one history page (24), three kept images each.
  filled = await fillHistory(server.app.tessera.store, FILLED, { kept: KEPT, owner: tenantIdOf(KEY_A) });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

interface Keyed extends Watched {
  /** Every API request as "path?query authorization" (files left out: <img> sends no headers). */
  api: string[];
  /** Every image file request's URL. */
  files: string[];
}

async function pageWithKey(key: string): Promise<Keyed> {
  const w = await watchedPage(browser, base, 1280);
  const keyed: Keyed = { ...w, api: [], files: [] };
  w.page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/v1/files/')) keyed.files.push(url.pathname + url.search);
    else if (url.pathname.startsWith('/v1/')) keyed.api.push(`${url.pathname}${url.search} ${r.headers().authorization ?? '(none)'}`);
  });
  await w.page.addInitScript((k) => localStorage.setItem('tessera.apiKey', k), key);
  await w.page.goto(base + '/');
  await expect.poll(() => w.page.locator('#size option').count()).toBeGreaterThan(0); // /v1/models needed the key
  return keyed;
}

const allLoaded = (page: Page, selector: string) =>
  page.locator(selector).evaluateAll((imgs) => imgs.length > 0 && imgs.every((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0));

const tiles = (page: Page) =>
  page.locator('#grid .tile').evaluateAll((nodes) => nodes.map((n) => `${n.getAttribute('data-id')}/${n.getAttribute('data-file')}`));

async function generate(page: Page, prompt: string): Promise<string> {
  await page.locator('#prompt').fill(prompt);
  await page.locator('#generate').click();
  const card = page.locator('#jobs .job').first();
  await card.locator('.tile').first().waitFor({ timeout: 60_000 });
  await expect.poll(() => allLoaded(page, '#jobs .tile img')).toBe(true);
  return (await card.locator('.tile').first().getAttribute('data-id')) as string;
}

function clean(w: Keyed, key: string): void {
  expect(w.api.length).toBeGreaterThan(0);
  expect(w.api.filter((r) => !r.endsWith(` Bearer ${key}`))).toEqual([]);
  // Every image came through a signed URL, and every one loaded (no 4xx at all).
  expect(w.files.length).toBeGreaterThan(0);
  expect(w.files.filter((f) => !/\?expires=\d+&sig=[0-9a-f]{64}$/.test(f))).toEqual([]);
  expect(w.failed).toEqual([]);
  expect(w.foreign).toEqual([]);
  expect(w.errors).toEqual([]);
}

describe('gallery with keys in headless Chromium', () => {
  it('A: sends its key, loads every kept image of its history through signed URLs, a tile each, paged by cursor; arrows in the lightbox move through them', async () => {
    const a = await pageWithKey(KEY_A);
    const { page } = a;
    const made = await generate(page, 'a red circle');
    expect(await page.locator('#jobs .tile img').first().getAttribute('src')).toMatch(/\?expires=\d+&sig=[0-9a-f]{64}$/);

    // The first history page: 24 generations, each as its three kept images, newest first.
    const newest = [...filled].reverse();
    const expected = newest.flatMap((id) => Array.from({ length: KEPT }, (_, k) => `${id}/image-${k}.png`));
    await expect.poll(async () => (await tiles(page)).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(24 * KEPT);
    expect((await tiles(page)).slice(0, 24 * KEPT)).toEqual(expected.slice(0, 24 * KEPT));
    expect(await tiles(page)).not.toContain(`${made}/image-1.png`); // the card shows the new one; the grid does not repeat it
    expect(await page.locator('#grid .tile').first().locator('.rank').textContent()).toBe('#1');
    expect(await page.locator('#grid .tile img[loading="lazy"]').count()).toBe(await page.locator('#grid .tile img').count());
    // Scrolled to the end: the next page by cursor, every kept image once.
    await expect
      .poll(async () => {
        await page.mouse.wheel(0, 5000);
        return (await tiles(page)).length;
      }, { timeout: 30_000 })
      .toBe(FILLED * KEPT);
    expect(await tiles(page)).toEqual(expected);
    const pages = a.api.filter((r) => r.startsWith('/v1/history?'));
    expect(pages.length).toBe(2);
    expect(pages[1]).toMatch(/^\/v1\/history\?limit=24&cursor=\d+\.\d+ /);
    await page.locator('#grid .tile img').last().scrollIntoViewIfNeeded();
    await expect.poll(() => page.locator('#grid .tile img').last().evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth), { timeout: 30_000 }).toBeGreaterThan(0);

    // The lightbox: open the newest tile; arrows move image by image, then to the next generation.
    await page.locator('#grid .tile').first().click();
    const shown = async () => new URL((await page.locator('#lb-image').getAttribute('src')) ?? '', base).pathname;
    await expect.poll(shown).toBe(`/v1/files/${newest[0]}/image-0.png`);
    for (const [id, file] of [[newest[0], 'image-1.png'], [newest[0], 'image-2.png'], [newest[1], 'image-0.png']]) {
      await page.keyboard.press('ArrowRight');
      await expect.poll(shown).toBe(`/v1/files/${id}/${file}`);
    }
    await page.keyboard.press('ArrowLeft');
    await expect.poll(shown).toBe(`/v1/files/${newest[0]}/image-2.png`);
    await page.keyboard.press('ArrowLeft');
    await expect.poll(shown).toBe(`/v1/files/${newest[0]}/image-1.png`);
    // Delete (press twice) takes the generation's three tiles away; the lightbox moves on to the next generation.
    await page.locator('#lb-delete').click();
    await page.locator('#lb-delete').click();
    await expect.poll(shown).toBe(`/v1/files/${newest[1]}/image-0.png`);
    expect((await tiles(page)).filter((t) => t.startsWith(newest[0]))).toEqual([]);
    expect(await tiles(page)).toHaveLength((FILLED - 1) * KEPT);
    await page.keyboard.press('Escape');
    expect(await a.csp()).toEqual([]);
    clean(a, KEY_A);
    await page.close();
  });

  it("B: sees only its own work in the grid, never A's", async () => {
    const b = await pageWithKey(KEY_B);
    const made = await generate(b.page, 'a blue square');
    const kept = (await server.app.tessera.store.get(made))!.images.map((i) => `${made}/${i.file}`);
    expect(kept.length).toBeGreaterThan(0);
    // Opened again: the grid lists B's one generation (each kept image), nothing of A's.
    await b.page.reload();
    await expect.poll(async () => (await tiles(b.page)).length).toBe(kept.length);
    expect(await tiles(b.page)).toEqual(kept);
    expect(new Set(await b.page.locator('#grid .tile .prompt').allTextContents())).toEqual(new Set(['a blue square']));
    await expect.poll(() => allLoaded(b.page, '#grid .tile img')).toBe(true);
    clean(b, KEY_B);
    await b.page.close();

    // And A's grid never shows B's.
    const a = await pageWithKey(KEY_A);
    await expect.poll(async () => (await tiles(a.page)).length).toBeGreaterThan(0);
    expect((await tiles(a.page)).filter((t) => t.startsWith(made))).toEqual([]);
    await a.page.close();
  });
});
