/**
 * Issue 24: the gallery's failure states tell a new user what to do: an API key needed or
 * refused, the server not ready yet, search by meaning unavailable (as with --queue, where
 * the server process has no CLIP text tower: its inference has no embedText).
 */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantIdOf } from '../../src/server/tenancy.js';
import { fillHistory } from '../helpers/history-fill.js';
import { CHROMIUM_ARGS, watchedPage } from './gallery-page.js';
import { testServer, type TestServer } from './helpers.js';

let server: TestServer;
let base: string;
let browser: Browser;
const KEY = 'gallery-test-key';

beforeAll(async () => {
  server = await testServer({ waitReady: true, apiKeys: [KEY] });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  // The key's own work (with keys configured, unowned entries are the admin's alone).
  await fillHistory(server.app.tessera.store, 3, { owner: tenantIdOf(KEY) });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('gallery states', () => {
  it('asks for the API key, says when it is refused, and works once it is right', async () => {
    const w = await watchedPage(browser, base, 1280);
    const { page } = w;
    await page.goto(base + '/');
    await expect.poll(() => page.locator('.notice.key').textContent()).toMatch(/^This server needs an API key: enter it in the API key box/);
    expect(await page.locator('#grid .tile').count()).toBe(0);
    await page.locator('#api-key').fill('wrong');
    await page.locator('#api-key').press('Tab');
    await expect.poll(() => page.locator('.notice.key').textContent()).toMatch(/^The API key was refused \(incorrect API key provided\)/);
    await page.locator('#api-key').fill(KEY);
    await page.locator('#api-key').press('Tab');
    await expect.poll(() => page.locator('#grid .tile').count()).toBe(3);
    expect(await page.locator('.notice.key').count()).toBe(0);
    // The key is kept for the next visit.
    await page.reload();
    await expect.poll(() => page.locator('#grid .tile').count()).toBe(3);
    expect(await w.csp()).toEqual([]);
    expect(w.foreign).toEqual([]);
    expect(w.failed.every((f) => f.startsWith('401 '))).toBe(true);
    await page.close();
  });

  it('says the server is not ready while /readyz answers 503, and clears it when ready', async () => {
    const w = await watchedPage(browser, base, 1280);
    const { page } = w;
    // The model of this test server is loaded already: /readyz answers as a loading server would.
    await page.route('**/readyz', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ status: 'not_ready', models: [] }) }));
    await page.goto(base + '/');
    await expect.poll(() => page.locator('.notice.ready').textContent()).toMatch(/^The server is still loading its model/);
    await page.unroute('**/readyz');
    await expect.poll(() => page.locator('.notice.ready').count(), { timeout: 10_000 }).toBe(0);
    expect(await w.csp()).toEqual([]);
    await page.close();
  });

  it('says why search by meaning is unavailable and still finds prompt words', async () => {
    const inference = server.app.tessera.engine.slots.get(server.app.tessera.models[0].id)!.inference;
    const embedText = inference.embedText;
    inference.embedText = undefined;
    try {
      const w = await watchedPage(browser, base, 1280);
      const { page } = w;
      await page.addInitScript((key) => localStorage.setItem('tessera.apiKey', key), KEY);
      await page.goto(base + '/');
      await page.waitForSelector('#grid .tile');
      await page.locator('#search').fill('number 1');
      await page.locator('#search').press('Enter');
      await expect.poll(() => page.locator('#search-status').textContent()).toMatch(/^Search by meaning unavailable: search by text needs CLIP in this process, and with --queue it runs on the workers/);
      expect(await page.locator('#search-status').textContent()).toContain('1 prompts contain "number 1"');
      expect(await page.locator('#grid .word-match .tile').count()).toBe(1);
      expect(await w.csp()).toEqual([]);
      expect(w.failed).toEqual(['400 /v1/images/search']);
      await page.close();
    } finally {
      inference.embedText = embedText;
    }
  });
});
