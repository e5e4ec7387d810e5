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
    // Every kept image can ask for more like it; the status says what the request cost.
    expect(await page.locator('#results figure.candidate.kept .more-like').count()).toBe(2);
    expect(await page.locator('#status').textContent()).toMatch(/Footprint: [\d.]+ GFLOP, [\d.]+ J \((RAPL|CPU-time estimate)\), [\d.]+ (mg|g) CO2e at \d+ g\/kWh\./);
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

  it('searches by meaning and "more like this", ranked by score, with paging', async () => {
    const generate = (prompt: string, seed: number) =>
      server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt, candidates: 2, n: 2, seed, response_format: 'url' } });
    for (const [prompt, seed] of [['a red circle', 1], ['a blue star', 2], ['a green square', 3]] as const) expect((await generate(prompt, seed)).statusCode).toBe(200);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(base + '/');
    await page.locator('#image-search').fill('a red circle');
    await page.locator('#image-search-form button').click();
    await page.waitForSelector('#search-results figure.hit');
    const total = server.app.tessera.search!.index.size;
    expect(total).toBeGreaterThanOrEqual(6);
    await expect.poll(() => page.locator('#search-results figure.hit').count()).toBe(Math.min(total, 20));
    const scores = (await page.locator('#search-results .score').allTextContents()).map(Number);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(await page.locator('#search-status').textContent()).toContain(`${total} images ranked by similarity to "a red circle"`);
    // More like the first hit: it is left out, everything else is ranked.
    const first = await page.locator('#search-results figure.hit').first().getAttribute('data-id');
    await page.locator('#search-results figure.hit .more-like').first().click();
    await expect.poll(async () => (await page.locator('#search-status').textContent()) ?? '').toContain(`${total - 1} images ranked by similarity to images like the chosen one`);
    const ids = await page.locator('#search-results figure.hit').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-id')));
    expect(ids).not.toContain(first);
    expect(await page.locator('#search-results img').evaluateAll((imgs) => imgs.every((i) => (i as unknown as { complete: boolean }).complete))).toBe(true);
    await page.close();
  });
});
