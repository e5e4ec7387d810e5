/**
 * The README's gallery screenshot (docs/img/gallery.png): `tessera serve` over the shipped
 * model with a temporary data folder, a few generations through the API, then the page in
 * Chromium at 1280 x 800, one request live in its card, reduced to a small palette PNG.
 *
 *   node --import tsx scripts/gallery-screenshot.ts [--out docs/img/gallery.png]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { build } from '../src/server/app.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/img/gallery.png' }, model: { type: 'string', default: 'models/default' } } });
const PROMPTS = [
  'a large red circle on a white background',
  'a small blue square above a yellow triangle',
  'a green star on a black background',
  'a purple hexagon left of an orange circle',
  'two red squares on a blue background',
  'a large yellow triangle',
];

const dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-screenshot-'));
const app = await build({ models: [path.resolve(values.model)], dataDir, rateLimit: false, waitReady: true });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
try {
  for (const [i, prompt] of PROMPTS.entries()) {
    const answer = await app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt, n: 3, candidates: 8, seed: 100 + i, response_format: 'url' } });
    if (answer.statusCode !== 200) throw new Error(`${prompt}: ${answer.body}`);
  }
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(base + '/');
  await page.waitForSelector('#grid .tile img');
  await page.locator('#prompt').fill('a blue circle below a red square');
  await page.locator('#generate').click();
  await page.waitForSelector('#jobs .job .previews img', { timeout: 120_000 });
  await page.waitForTimeout(500);
  const shot = await page.screenshot();
  await sharp(shot).resize({ width: 960 }).png({ palette: true, colours: 128, compressionLevel: 9 }).toFile(values.out);
  console.log(`wrote ${values.out}`);
} finally {
  await browser.close();
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
