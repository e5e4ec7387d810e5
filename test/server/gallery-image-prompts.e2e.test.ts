import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPicture } from '../helpers/images.js';
import { testServer, type TestServer } from './helpers.js';

const ARTIFACTS = path.resolve('out/test-artifacts');
let server: TestServer;
let base: string;
let browser: Browser;

beforeAll(async () => {
  server = await testServer({ waitReady: true });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('gallery image prompts in headless Chromium', () => {
  it('uploads an image, varies it, paints a mask and edits, completes a result, all without CSP violations', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    const posts: string[] = [];
    page.on('request', (request: Request) => {
      if (request.method() === 'POST') posts.push(request.url());
    });
    // What the server was asked, as the engine received it.
    const engine = server.app.tessera.engine;
    const submitted: { prompt: string; image: { mode: string; keepRows: number | null; resample: number[] | null } | null }[] = [];
    const submit = engine.submit.bind(engine);
    engine.submit = (params) => {
      submitted.push({ prompt: params.resolved.prompt, image: params.resolved.image });
      return submit(params);
    };
    const failed: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${new URL(response.url()).pathname}`);
    });
    await page.goto(base + '/');
    await expect.poll(() => page.locator('#size option').count()).toBeGreaterThan(0);
    await page.locator('summary').click();
    await page.locator('#candidates').fill('3');
    await page.locator('#n').fill('2');

    // Upload: the picture is drawn into the source canvas at the model's size.
    await page.locator('#source-file').setInputFiles({ name: 'picture.jpg', mimeType: 'image/jpeg', buffer: await testPicture(96, 64, 'jpeg') });
    await expect.poll(() => page.locator('#vary').isEnabled()).toBe(true);
    expect(await page.locator('#source-canvas').evaluate((c) => (c as unknown as { width: number }).width)).toBe(64);

    // Vary: two kept variations, ranked.
    await page.locator('#vary').click();
    await expect.poll(() => page.locator('#results figure.candidate').count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(async () => (await page.locator('#status').textContent()) ?? '').toMatch(/^Done: 2 images \(vary\)/);
    expect(posts.at(-1)).toMatch(/\/v1\/images\/variations$/);
    expect(submitted.at(-1)!.image!.mode).toBe('vary');

    // Edit: paint the lower half of the mask, then edit with the prompt.
    await page.locator('#prompt').fill('a blue circle');
    const box = (await page.locator('#mask-canvas').boundingBox())!;
    await page.mouse.move(box.x + 10, box.y + box.height * 0.75);
    await page.mouse.down();
    for (let x = 10; x <= box.width - 10; x += 8) await page.mouse.move(box.x + x, box.y + box.height * 0.75);
    await page.mouse.up();
    const painted = await page.locator('#mask-canvas').evaluate((c) => {
      const canvas = c as unknown as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] === 255) n += 1;
      return n;
    });
    expect(painted).toBeGreaterThan(50);
    await page.locator('#edit').click();
    await expect.poll(async () => (await page.locator('#status').textContent()) ?? '', { timeout: 30_000 }).toMatch(/^Done: 2 images \(edit\)/);
    expect(posts.at(-1)).toMatch(/\/v1\/images\/edits$/);
    const edit = submitted.at(-1)!;
    expect(edit.prompt).toBe('a blue circle');
    expect(edit.image!.mode).toBe('edit');
    // The painted band (three quarters down) is resampled; the top rows are kept.
    const rows = Array.from({ length: 8 }, (_, r) => edit.image!.resample!.slice(r * 8, r * 8 + 8).some((v) => v === 1));
    expect(rows.slice(0, 4)).toEqual([false, false, false, false]);
    expect(rows[6]).toBe(true);

    // Complete a result: its "complete" button loads it as the source and runs at once.
    await page.locator('#keep_rows').fill('3');
    await page.locator('#results figure.candidate .image-action.complete').first().click();
    await expect.poll(async () => (await page.locator('#status').textContent()) ?? '', { timeout: 30_000 }).toMatch(/^Done: 2 images \(complete\)/);
    expect(submitted.at(-1)!.image).toMatchObject({ mode: 'complete', keepRows: 3, resample: null });

    // Every run is stored and listed in the history.
    expect(server.app.tessera.store.count()).toBe(3);
    await expect.poll(() => page.locator('#history li').count()).toBe(3);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'gallery-image-prompts.png'), fullPage: true });
    // The browser asks for a favicon the server does not have; nothing else may fail.
    expect(failed.filter((f) => f !== '404 /favicon.ico')).toEqual([]);
    expect(problems.filter((p) => !p.startsWith('Failed to load resource'))).toEqual([]);
    await page.close();
  });
});
