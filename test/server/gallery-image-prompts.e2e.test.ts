import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPicture } from '../helpers/images.js';
import { ARTIFACTS, CHROMIUM_ARGS, canvasWidth, dropFile, opaquePixels, watchedPage } from './gallery-page.js';
import { testServer, type TestServer } from './helpers.js';

let server: TestServer;
let base: string;
let browser: Browser;

beforeAll(async () => {
  server = await testServer({ waitReady: true });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Drags the mouse across a canvas three quarters down; returns how many mask pixels are opaque. */
async function paintBand(page: Page, selector: string): Promise<number> {
  const box = (await page.locator(selector).boundingBox())!;
  await page.mouse.move(box.x + 10, box.y + box.height * 0.75);
  await page.mouse.down();
  for (let x = 10; x <= box.width - 10; x += 8) await page.mouse.move(box.x + x, box.y + box.height * 0.75);
  await page.mouse.up();
  return opaquePixels(page.locator(selector));
}

/** Rows of the 8x8 grid an edit resamples. */
const resampledRows = (resample: number[]) => Array.from({ length: 8 }, (_, r) => resample.slice(r * 8, r * 8 + 8).some((v) => v === 1));

/** A page on the gallery with 3 candidates and 2 kept set, the POSTs it makes and what the engine received. */
async function open() {
  const w = await watchedPage(browser, base, 1280, 1000);
  const { page } = w;
  const posts: string[] = [];
  page.on('request', (request) => {
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
  await page.goto(base + '/');
  await expect.poll(() => page.locator('#size option').count()).toBeGreaterThan(0);
  await page.locator('summary').click();
  await page.locator('#candidates').fill('3');
  await page.locator('#n').fill('2');
  const latest = () => page.locator('#jobs .job').first();
  const done = async (count: number) => {
    await expect.poll(() => page.locator('#jobs .job').count()).toBe(count);
    await expect.poll(async () => (await latest().locator('.job-status').textContent()) ?? '', { timeout: 30_000 }).toMatch(/^Done: 2 images\./);
    expect(await latest().locator('.tile').count()).toBe(2);
  };
  return { w, page, posts, submitted, latest, done };
}

describe('gallery image prompts in headless Chromium', () => {
  it('uploads or drops an image, varies it, paints a mask and edits, all without CSP violations', async () => {
    const { w, page, posts, submitted, done } = await open();

    // Upload in the image-prompt view: the picture is drawn into the source canvas at the model's size.
    await page.locator('#open-image-prompt').click();
    await page.locator('#source-file').setInputFiles({ name: 'picture.jpg', mimeType: 'image/jpeg', buffer: await testPicture(96, 64, 'jpeg') });
    await expect.poll(() => page.locator('#vary').isEnabled()).toBe(true);
    expect(await canvasWidth(page.locator('#source-canvas'))).toBe(64);

    // Vary: a card with two kept variations, ranked.
    await page.locator('#vary').click();
    await done(1);
    expect(posts.at(-1)).toMatch(/\/v1\/images\/variations$/);
    expect(submitted.at(-1)!.image!.mode).toBe('vary');

    // Edit: paint the lower half of the mask, then edit with the view's prompt.
    await page.locator('#open-image-prompt').click();
    await page.locator('#ip-prompt').fill('a blue circle');
    expect(await paintBand(page, '#mask-canvas')).toBeGreaterThan(50);
    await page.locator('#edit').click();
    await done(2);
    expect(posts.at(-1)).toMatch(/\/v1\/images\/edits$/);
    const edit = submitted.at(-1)!;
    expect(edit.prompt).toBe('a blue circle');
    expect(edit.image!.mode).toBe('edit');
    // The painted band (three quarters down) is resampled; the top rows are kept.
    const rows = resampledRows(edit.image!.resample!);
    expect(rows.slice(0, 4)).toEqual([false, false, false, false]);
    expect(rows[6]).toBe(true);

    // Drop an image anywhere on the page: the image-prompt view opens with it.
    await dropFile(page, '#grid', 'dropped.png', 'image/png', await testPicture(48, 48, 'png'));
    await page.waitForSelector('#image-prompt-view[open]');
    await expect.poll(() => page.locator('#ip-note').textContent()).toMatch(/^Image loaded/);
    await expect.poll(() => page.locator('#vary').isEnabled()).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'gallery-image-prompts.png') });
    await page.locator('#ip-close').click();

    // Every run is stored in the history.
    expect(server.app.tessera.store.count()).toBe(2);
    expect(await w.csp()).toEqual([]);
    expect(w.foreign).toEqual([]);
    expect(w.errors).toEqual([]);
    expect(w.failed).toEqual([]);
    await page.close();
  });

  it('completes a result and edits it with a mask painted over the large image, from the lightbox', async () => {
    const made = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', candidates: 3, n: 2, seed: 5, response_format: 'url' } });
    expect(made.statusCode).toBe(200);
    const { w, page, submitted, latest, done } = await open();
    await page.locator('#grid .tile').first().waitFor();
    await page.locator('#open-image-prompt').click();
    await page.locator('#keep_rows').fill('3');
    await page.locator('#ip-close').click();
    await page.locator('#grid .tile').first().click();
    await page.waitForSelector('#lightbox[open] #lb-meta dt');
    await page.locator('#lb-complete').click();
    await done(1);
    expect(submitted.at(-1)!.image).toMatchObject({ mode: 'complete', keepRows: 3, resample: null });

    // Edit a result by painting the mask over the large image in the lightbox.
    await latest().locator('.tile').first().click();
    await page.waitForSelector('#lightbox[open] #lb-meta dt');
    await page.locator('#lb-edit').click();
    await page.locator('#lb-edit-prompt').fill('a green circle');
    expect(await paintBand(page, '#lb-mask')).toBeGreaterThan(50);
    await page.locator('#lb-apply-edit').click();
    await done(2);
    const lightboxEdit = submitted.at(-1)!;
    expect(lightboxEdit.prompt).toBe('a green circle');
    expect(lightboxEdit.image!.mode).toBe('edit');
    expect(resampledRows(lightboxEdit.image!.resample!)[6]).toBe(true);
    expect(resampledRows(lightboxEdit.image!.resample!)[0]).toBe(false);

    expect(await w.csp()).toEqual([]);
    expect(w.foreign).toEqual([]);
    expect(w.errors).toEqual([]);
    expect(w.failed).toEqual([]);
    await page.close();
  });
});
