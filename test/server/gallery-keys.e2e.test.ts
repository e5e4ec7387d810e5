/**
 * The gallery with API keys (issue 23): the page sends its key on every request, and the
 * images it shows load through signed URLs in plain <img> elements (no headers). Two
 * tenants in two browser pages see only their own history.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, type TestServer } from './helpers.js';

let server: TestServer;
let base: string;
let browser: Browser;

beforeAll(async () => {
  server = await testServer({ waitReady: true, apiKeys: ['gallery-key-a', 'gallery-key-b'] });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function pageWithKey(key: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.addInitScript((k) => localStorage.setItem('tessera.apiKey', k), key);
  await page.goto(base + '/');
  return page;
}

const allLoaded = (page: Page, selector: string) =>
  page.locator(selector).evaluateAll((imgs) => imgs.length > 0 && imgs.every((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0));

describe('gallery with keys in headless Chromium', () => {
  it('sends its key, shows its images through signed URLs, and lists only its own history', async () => {
    const a = await pageWithKey('gallery-key-a');
    await expect.poll(() => a.locator('#size option').count()).toBeGreaterThan(0); // /v1/models needed the key
    await a.locator('#prompt').fill('a red circle');
    await a.locator('#generate').click();
    await a.waitForSelector('#results figure.candidate', { timeout: 30_000 });
    await expect.poll(() => allLoaded(a, '#results img')).toBe(true);
    const src = await a.locator('#results img').first().getAttribute('src');
    expect(src).toMatch(/\?expires=\d+&sig=[0-9a-f]{64}$/);
    await a.waitForSelector('#history li');
    await expect.poll(() => allLoaded(a, '#history img')).toBe(true);

    const b = await pageWithKey('gallery-key-b');
    await expect.poll(() => b.locator('#size option').count()).toBeGreaterThan(0);
    await b.locator('#prompt').fill('a blue square');
    await b.locator('#generate').click();
    await b.waitForSelector('#results figure.candidate', { timeout: 30_000 });
    await b.waitForSelector('#history li');
    // B's history holds its own run only, not A's.
    expect(await b.locator('#history .prompt').allTextContents()).toEqual(['a blue square']);
    await a.close();
    await b.close();
  });
});
