/**
 * Issue 24's bars for the gallery, in Debian's Chromium: no horizontal overflow at 360, 768
 * and 1440 px (scrollWidth, nothing cut off, a screenshot each under out/test-artifacts/),
 * no serious or critical axe-core violation on the grid, the lightbox and the image-prompt
 * view, a keyboard-only run, zero CSP violations and no request off the origin.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillHistory } from '../helpers/history-fill.js';
import { ARTIFACTS, CHROMIUM_ARGS, axeSerious, focused, overflow, watchedPage, type Watched } from './gallery-page.js';
import { testServer, type TestServer } from './helpers.js';

let server: TestServer;
let base: string;
let browser: Browser;

beforeAll(async () => {
  server = await testServer({ waitReady: true });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  mkdirSync(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function clean(w: Watched): Promise<void> {
  expect(await w.csp()).toEqual([]);
  expect(w.foreign).toEqual([]);
  expect(w.errors).toEqual([]);
  expect(w.failed).toEqual([]);
}

describe('gallery bars', () => {
  it('tells a new user what to do when there is no history yet', async () => {
    const w = await watchedPage(browser, base, 1440);
    await w.page.goto(base + '/');
    await w.page.waitForSelector('.notice.empty');
    expect(await w.page.locator('.notice.empty').textContent()).toMatch(/No images yet\. Type a prompt/);
    expect(await w.page.locator('#grid .tile').count()).toBe(0);
    await clean(w);
    await w.page.close();
  });

  it('keyboard only: type a prompt, generate, open the first result, next, close', async () => {
    await fillHistory(server.app.tessera.store, 6);
    const w = await watchedPage(browser, base, 1280);
    const { page } = w;
    await page.goto(base + '/');
    await page.waitForSelector('#grid .tile');
    await expect.poll(() => page.locator('#size option').count()).toBeGreaterThan(0);
    // The prompt has focus on load; Enter generates.
    expect((await focused(page)).id).toBe('prompt');
    await page.keyboard.type('a red circle above a blue square');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#jobs .job .tile', { timeout: 60_000 });
    // Tab to the tiles (one tab stop for all of them), Enter opens the first: the new result.
    let onTile = false;
    for (let i = 0; i < 30 && !onTile; i += 1) {
      await page.keyboard.press('Tab');
      onTile = (await focused(page)).tile;
    }
    expect(onTile).toBe(true);
    const first = (await focused(page)).dataId;
    const jobId = await page.locator('#jobs .job .tile').first().getAttribute('data-id');
    expect(first).toBe(jobId);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#lightbox[open]');
    await expect.poll(() => page.locator('#lb-title').textContent()).toBe('a red circle above a blue square');
    // Arrow right: the next tile (the job kept two: its second image).
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.locator('#lb-meta').textContent()).toMatch(/Rank2 of/);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.locator('#lb-title').textContent()).toMatch(/^stored picture number \d$/);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#lightbox[open]').count()).toBe(0);
    // Focus is back on the tile shown last.
    expect((await focused(page)).tile).toBe(true);
    // In the grid, arrows move between tiles and Enter opens one.
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#lightbox[open]');
    await page.keyboard.press('Escape');
    await clean(w);
    await page.close();
  });

  it.each([360, 768, 1440])('fits %i px with no horizontal overflow, and axe finds nothing serious', async (width) => {
    if (server.app.tessera.store.count() < 30) await fillHistory(server.app.tessera.store, 30, { kept: 2 });
    {
      const w = await watchedPage(browser, base, width);
      const { page } = w;
      await page.goto(base + '/');
      await page.waitForSelector('#grid .tile img');
      await expect.poll(() => page.locator('#size option').count()).toBeGreaterThan(0);
      await page.locator('summary').click();
      const layout = await overflow(page);
      expect(layout.cut).toEqual([]);
      expect(layout.scrollWidth).toBeLessThanOrEqual(width);
      await page.screenshot({ path: path.join(ARTIFACTS, `gallery-grid-${width}.png`) });
      expect(await axeSerious(page)).toEqual([]);

      // The lightbox.
      await page.locator('#grid .tile').first().click();
      await page.waitForSelector('#lightbox[open] #lb-meta dt');
      const boxLayout = await overflow(page);
      expect(boxLayout.scrollWidth).toBeLessThanOrEqual(width);
      await page.screenshot({ path: path.join(ARTIFACTS, `gallery-lightbox-${width}.png`) });
      expect(await axeSerious(page, '#lightbox')).toEqual([]);
      await page.keyboard.press('Escape');

      // The image-prompt view.
      await page.locator('#open-image-prompt').click();
      await page.waitForSelector('#image-prompt-view[open]');
      expect((await overflow(page)).scrollWidth).toBeLessThanOrEqual(width);
      await page.screenshot({ path: path.join(ARTIFACTS, `gallery-image-prompt-${width}.png`) });
      expect(await axeSerious(page, '#image-prompt-view')).toEqual([]);
      await page.locator('#ip-close').click();
      await clean(w);
      await page.close();
    }
  });
});
