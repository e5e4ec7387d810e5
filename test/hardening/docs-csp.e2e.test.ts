/**
 * Issue 15, defect 8: /docs (Swagger UI) works under the same strict CSP as the gallery,
 * with nothing loaded from elsewhere (no validator badge, no https: styles).
 */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, type TestServer } from '../server/helpers.js';

let server: TestServer;
let base: string;
let browser: Browser;
beforeAll(async () => {
  server = await testServer();
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('/docs under the strict CSP', () => {
  it('sends the strict policy and renders the API without a violation or a foreign request', async () => {
    const head = await server.app.inject({ method: 'GET', url: '/docs/static/index.html' });
    const csp = String(head.headers['content-security-policy']);
    expect(csp).toContain("style-src 'self' 'sha256-");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/https:|validator\.swagger\.io/);
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) problems.push(`foreign request ${r.url()}`);
    });
    await page.goto(`${base}/docs`);
    await page.waitForSelector('.swagger-ui .info .title', { timeout: 30_000 });
    await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });
    expect(await page.locator('.opblock-summary-path').count()).toBeGreaterThan(5);
    expect(problems).toEqual([]);
    await page.close();
  });
});
