import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, CHROMIUM_ARGS, clipboardText, naturalWidths, watchedPage, type Watched } from './gallery-page.js';
import { testServer, type TestServer } from './helpers.js';

let server: TestServer;
let base: string;
let browser: Browser;

beforeAll(async () => {
  // A few ms per step so the page has time to show progress and previews.
  server = await testServer({ waitReady: true, workerStepDelayMs: 10, maxCandidates: 32 });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function clean(w: Watched, failed: string[] = []): Promise<void> {
  expect(await w.csp()).toEqual([]);
  expect(w.foreign).toEqual([]);
  expect(w.errors).toEqual([]);
  expect(w.failed).toEqual(failed);
}

async function ready(w: Watched): Promise<void> {
  await w.page.goto(base + '/');
  await expect.poll(() => w.page.locator('#size option').count()).toBeGreaterThan(0);
  await w.page.locator('summary').click();
}

describe('gallery page in headless Chromium', () => {
  it('generates into a live card (every candidate forming), settles into ranked kept images, opens the lightbox, searches prompt words, deletes', async () => {
    const w = await watchedPage(browser, base, 1280);
    const { page } = w;
    await ready(w);
    await page.locator('#prompt').fill('a red circle above a blue square');
    await page.locator('#candidates').fill('4');
    await page.locator('#n').fill('2');
    await page.locator('#preview_every').fill('16');
    await page.locator('#generate').click();

    const card = page.locator('#jobs .job').first();
    await expect.poll(async () => (await card.locator('.job-status').textContent()) ?? '', { timeout: 30_000, interval: 10 }).toMatch(/step \d+ \/ 64/);
    // Previews show every candidate, not just one.
    await expect.poll(() => card.locator('.previews img').count(), { timeout: 30_000, interval: 10 }).toBe(4);
    await card.locator('.tile').first().waitFor({ timeout: 30_000 });

    const ranks = await card.locator('.candidates li').evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-rank'))));
    expect(ranks).toEqual([1, 2, 3, 4]);
    const scores = (await card.locator('.candidates .score').allTextContents()).map(Number);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(await card.locator('.candidates li.kept').count()).toBe(2);
    // The kept images are the card's tiles, best first, each with "more like this"; the card says what it cost.
    expect(await card.locator('.tile').count()).toBe(2);
    expect(await card.locator('.tile .rank').allTextContents()).toEqual(['#1', '#2']);
    expect(await card.locator('.like').count()).toBe(2);
    expect(await card.locator('.job-status').textContent()).toMatch(/Footprint: [\d.]+ GFLOP, [\d.]+ J \((RAPL|CPU-time estimate)\), [\d.]+ (mg|g) CO2e at \d+ g\/kWh\./);
    await expect.poll(async () => (await naturalWidths(card.locator('.tile img'))).every((width) => width === 64)).toBe(true);

    // The lightbox: everything about the image.
    await card.locator('.tile').first().click();
    await page.waitForSelector('#lightbox[open] #lb-meta dt');
    const meta = (await page.locator('#lb-meta').textContent()) ?? '';
    for (const field of ['Seed', 'Candidate', 'Rank1 of 4 (kept)', 'CLIP score0.', 'Modeltiny', 'Sampling', 'candidates 4', 'Usage', 'Footprint']) expect(meta).toContain(field);
    expect(await page.locator('#lb-download').getAttribute('href')).toMatch(/^\/v1\/files\//);
    await page.screenshot({ path: path.join(ARTIFACTS, 'gallery.png') });
    await page.keyboard.press('Escape');

    // Prompt words from the header's search box: results replace the grid, with a way back.
    await page.locator('#search').fill('blue square');
    await page.locator('#search-form button').click();
    // One generation's prompt matches: its two kept images, a tile each.
    await expect.poll(() => page.locator('#grid .word-match').count()).toBe(2);
    expect(await page.locator('#search-status').textContent()).toContain('1 prompts contain "blue square"');
    await page.locator('#search-back').click();
    await expect.poll(() => page.locator('#search-bar').isHidden()).toBe(true);

    // Delete from the lightbox (press twice: confirm).
    await card.locator('.tile').first().click();
    await page.waitForSelector('#lightbox[open] #lb-meta dt');
    await page.locator('#lb-delete').click();
    await expect.poll(() => page.locator('#lb-delete').textContent()).toMatch(/confirm/);
    await page.locator('#lb-delete').click();
    await expect.poll(() => server.app.tessera.store.count()).toBe(0);
    await expect.poll(() => page.locator('#jobs .tile').count()).toBe(0);
    await clean(w);
    await page.close();
  });

  it('runs several requests at once, each in its own card; cancels on the card; shows the API error on the card', async () => {
    const w = await watchedPage(browser, base, 1280);
    const { page } = w;
    await ready(w);
    await page.locator('#candidates').fill('2');
    await page.locator('#n').fill('1');
    for (const prompt of ['a green square', 'a blue star']) {
      await page.locator('#prompt').fill(prompt);
      await page.locator('#generate').click();
    }
    await expect.poll(() => page.locator('#jobs .job').count()).toBe(2);
    await expect.poll(() => page.locator('#jobs .job .tile').count(), { timeout: 60_000 }).toBe(2);
    const prompts = await page.locator('#jobs .job .job-head .prompt').allTextContents();
    expect(prompts).toEqual(['a blue star', 'a green square']);
    const ids = await page.locator('#jobs .tile').evaluateAll((n) => n.map((t) => t.getAttribute('data-id')));
    expect(new Set(ids).size).toBe(2);

    // Cancel: a long request, cancelled from its card.
    await page.locator('#candidates').fill('32');
    await page.locator('#prompt').fill('a slow request');
    await page.locator('#generate').click();
    const slow = page.locator('#jobs .job').first();
    await expect.poll(() => slow.getAttribute('data-job')).not.toBeNull();
    await slow.locator('.cancel').click();
    await expect.poll(async () => (await slow.locator('.job-status').textContent()) ?? '', { timeout: 30_000 }).toMatch(/^Cancelled/);

    // An error: more candidates than this server allows; the card shows the API's message.
    await page.locator('#candidates').fill('64');
    await page.locator('#prompt').fill('too many');
    await page.locator('#generate').click();
    const failed = page.locator('#jobs .job').first();
    await expect.poll(async () => (await failed.locator('.job-status').textContent()) ?? '').toMatch(/^Failed: .*candidates/);
    expect(await failed.locator('.job-status.error').count()).toBe(1);
    await clean(w, ['400 /v1/jobs']);
    await page.close();
  });

  it('searches by meaning and "more like this" in place of the grid, ranked by score, and goes back', async () => {
    const generate = (prompt: string, seed: number) =>
      server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt, candidates: 2, n: 2, seed, response_format: 'url' } });
    for (const [prompt, seed] of [['a red circle', 1], ['a blue star', 2], ['a green square', 3]] as const) expect((await generate(prompt, seed)).statusCode).toBe(200);
    const w = await watchedPage(browser, base, 1280);
    const { page } = w;
    await page.goto(base + '/');
    await page.waitForSelector('#grid .tile');
    const before = await page.locator('#grid .tile').count();
    await page.locator('#search').fill('a red circle');
    await page.locator('#search').press('Enter');
    const hits = page.locator('#grid li.cell:not(.word-match) .tile');
    const total = server.app.tessera.search!.index.size;
    expect(total).toBeGreaterThanOrEqual(6);
    await expect.poll(() => hits.count()).toBe(Math.min(total, 24));
    const scores = (await page.locator('#grid li.cell:not(.word-match) .score').allTextContents()).map(Number);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    await expect.poll(() => page.locator('#search-status').textContent()).toContain(`${total} images ranked by similarity to "a red circle"`);
    // More like the first hit: it is left out, everything else is ranked.
    const first = await hits.first().getAttribute('data-image');
    await page.locator('#grid li.cell .like').first().click();
    await expect.poll(async () => (await page.locator('#search-status').textContent()) ?? '').toContain(`${total - 1} images ranked by similarity to images like the chosen one`);
    const images = await hits.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-image')));
    expect(images).not.toContain(first);
    // ... and from the lightbox: the same loop.
    await hits.first().click();
    await page.waitForSelector('#lightbox[open] #lb-meta dt');
    await page.locator('#lb-like').click();
    await expect.poll(async () => (await page.locator('#search-status').textContent()) ?? '').toContain('images like the chosen one');
    await expect.poll(() => page.locator('#lightbox[open]').count()).toBe(0);
    // The way back: the grid as it was.
    await page.locator('#search-back').click();
    await expect.poll(() => page.locator('#grid .tile').count()).toBe(before);
    await clean(w);
    await page.close();
  });

  it('copies the prompt, runs again with the seed (the same ranked images) and varies from the lightbox', async () => {
    const made = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a yellow triangle', candidates: 3, n: 2, seed: 77, response_format: 'url' } });
    expect(made.statusCode).toBe(200);
    const w = await watchedPage(browser, base, 1280);
    const { page } = w;
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await ready(w);
    // Its best kept image (the grid shows each of the two).
    const tile = page.locator(`#grid .tile[data-id="${made.json().id}"]`).first();
    await tile.click();
    await page.waitForSelector('#lightbox[open] #lb-meta dt');
    await page.locator('#lb-copy').click();
    await expect.poll(() => page.locator('#lb-status').textContent()).toBe('Prompt copied.');
    expect(await clipboardText(page)).toBe('a yellow triangle');

    // Run again with this seed: a new card, the same seed, the same ranked candidates.
    await page.locator('#lb-rerun').click();
    const again = page.locator('#jobs .job').first();
    await expect.poll(async () => (await again.locator('.job-status').textContent()) ?? '', { timeout: 30_000 }).toMatch(/^Done: 3 candidates, 2 kept, seed 77/);
    expect(await page.locator('#seed').inputValue()).toBe('77');
    const stored = made.json().data as { clip_score: number; candidate_index: number }[];
    const shown = await again.locator('.tile').evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-candidate'))));
    expect(shown).toEqual(stored.map((image) => image.candidate_index));
    expect((await again.locator('.tile .score').allTextContents()).map(Number)).toEqual(stored.map((image) => Number(image.clip_score.toFixed(3))));

    // Vary from the lightbox: a card with the variations.
    await again.locator('.tile').first().click();
    await page.waitForSelector('#lightbox[open] #lb-meta dt');
    await page.locator('#lb-vary').click();
    await expect.poll(() => page.locator('#jobs .job').count()).toBe(2);
    await expect.poll(async () => (await page.locator('#jobs .job').first().locator('.job-status').textContent()) ?? '', { timeout: 30_000 }).toMatch(/^Done: 2 images\./);
    await clean(w);
    await page.close();
  });
});
