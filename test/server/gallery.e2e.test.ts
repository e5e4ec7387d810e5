import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, type TestServer } from './helpers.js';

const ARTIFACTS = path.resolve('out/test-artifacts');
let server: TestServer;
let base: string;
let browser: Browser;

beforeAll(async () => {
  // A few ms per step so the page has time to show progress and previews.
  server = await testServer({ waitReady: true, workerStepDelayMs: 10 });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('gallery page in headless Chromium', () => {
  it('types a prompt, shows progress and previews, then ranked candidates with kept ones marked, and history', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const violations: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') violations.push(message.text());
    });
    await page.goto(base + '/');
    await expect.poll(() => page.locator('#size option').count()).toBeGreaterThan(0);
    await page.locator('#prompt').fill('a red circle above a blue square');
    await page.locator('summary').click();
    await page.locator('#candidates').fill('4');
    await page.locator('#n').fill('2');
    await page.locator('#preview_every').fill('16');
    await page.locator('#generate').click();

    await expect.poll(async () => (await page.locator('#status').textContent()) ?? '', { timeout: 30_000, interval: 10 }).toMatch(/step \d+ \/ 64/);
    await page.waitForSelector('#previews img');
    await page.waitForSelector('#results figure.candidate', { timeout: 30_000 });

    const ranks = await page.locator('#results figure.candidate').evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-rank'))));
    expect(ranks).toEqual([1, 2, 3, 4]);
    const scores = await page.locator('#results .score').allTextContents();
    const numeric = scores.map(Number);
    expect([...numeric].sort((a, b) => b - a)).toEqual(numeric);
    expect(await page.locator('#results figure.candidate.kept').count()).toBe(2);
    await expect.poll(() => page.locator('#results img').evaluateAll((imgs) => imgs.every((i) => (i as unknown as { naturalWidth: number }).naturalWidth === 64))).toBe(true);

    // History: the run is listed, searchable, opens again.
    await page.waitForSelector('#history li');
    await page.locator('#history-search').fill('blue square');
    await page.locator('#history-form button').click();
    await expect.poll(() => page.locator('#history li').count()).toBe(1);
    await page.locator('#history .prompt').first().click();
    await page.waitForSelector('#results figure.candidate.kept');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'gallery.png'), fullPage: true });

    // Delete from history.
    await page.locator('#history .delete').first().click();
    await expect.poll(() => page.locator('#history li').count()).toBe(0);
    expect(server.app.tessera.store.count()).toBe(0);
    expect(violations.filter((v) => /Content Security Policy/i.test(v))).toEqual([]);
    await page.close();
  });
});
