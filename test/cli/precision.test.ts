/**
 * `--precision` on every face, and the report of which precision ran and why: generate's
 * --json and summary, `tessera info <package>`, batch timings and manifest.jsonl, the HTTP
 * API's tessera_precision and stored record. The auto decisions here use the real clock
 * (the CLI has no timer seam), so only the reason and the cache are asserted, never which
 * precision won; test/model/precision.test.ts drives decisions with a scripted timer.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRECISION_CACHE_FILE, readDecisions } from '../../src/model/precision.js';
import { build } from '../../src/server/app.js';
import { cli, tempDir, writeText } from '../batch/helpers.js';
import { testServer, type TestServer } from '../server/helpers.js';
import { plainPackage, variantPackage } from '../helpers/variant.js';

/** The tiny package without its int8 variant (the no-variant paths). */
const PLAIN = plainPackage();

const cache = tempDir('precision-cache');
let variant: string;
const previousCache = process.env.TESSERA_CACHE_DIR;
// vitest.config.ts pins the suite's default to fp32 (TESSERA_PRECISION); this file tests the
// real default, auto (the CLI children inherit the environment).
delete process.env.TESSERA_PRECISION;

beforeAll(async () => {
  // Never the user's cache: every auto decision of this file lands here.
  process.env.TESSERA_CACHE_DIR = cache;
  variant = await variantPackage();
});
afterAll(() => {
  if (previousCache === undefined) delete process.env.TESSERA_CACHE_DIR;
  else process.env.TESSERA_CACHE_DIR = previousCache;
});

const generate = (model: string, ...flags: string[]) =>
  cli('generate', 'a red circle', '--model', model, '--candidates', '2', '--keep', '1', '--seed', '3', '--no-rerank', '--quiet', '--out', path.join(tempDir('precision-out'), 'out'), ...flags);

describe('--precision on the command line', () => {
  it('rejects a value that is not a precision (usage error) and int8 on a package without a variant (its own code)', async () => {
    const bad = await generate(PLAIN, '--precision', 'int4');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[TESSERA_ERR_OPTION]');
    const missing = await generate(PLAIN, '--precision', 'int8');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('[TESSERA_ERR_PRECISION_UNAVAILABLE]');
    const image = path.join(tempDir('precision-image'), 'image.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).png().toFile(image);
    for (const command of [['serve'], ['worker', '--queue', 'redis://127.0.0.1:1'], ['batch', 'prompts.txt', '--out', 'x'], ['vary', image, '--model', PLAIN]]) {
      const result = await cli(...command, '--precision', 'half');
      expect(result.stderr, command[0]).toContain('[TESSERA_ERR_OPTION]');
      expect(result.stderr, command[0]).toContain('--precision');
    }
  });

  it('generate --json says which precision ran and why: no-variant, forced, measured, then cached', async () => {
    const json = async (model: string, ...flags: string[]) => {
      const result = await generate(model, '--json', ...flags);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout).precision;
    };
    expect(await json(PLAIN)).toEqual({ requested: 'auto', precision: 'fp32', reason: 'no-variant', detail: 'package has no int8 variant' });
    expect(await json(variant, '--precision', 'int8')).toMatchObject({ requested: 'int8', precision: 'int8', reason: 'forced' });
    const measured = await json(variant);
    expect(measured).toMatchObject({ requested: 'auto', reason: 'measured', probe: { rows: 4, pairs: 4 } }); // 2 candidates x guidance twins
    expect(['fp32', 'int8']).toContain(measured.precision);
    expect(Object.values(readDecisions(cache))).toEqual([expect.objectContaining({ precision: measured.precision, package: 'tiny-random', rows: 4 })]);
    const cached = await json(variant);
    expect(cached).toMatchObject({ reason: 'cached', precision: measured.precision, probe: { rows: 4 } });
    // Another row bucket is another decision: 16 guided candidates are 32 rows, stepped as two lanes of 16.
    expect(await json(variant, '--candidates', '16')).toMatchObject({ reason: 'measured', probe: { rows: 16 } });

    const text = await generate(variant);
    expect(text.stdout).toMatch(/^precision: (fp32|int8) \(cached: /m);
  });

  it('tessera info <package> lists the variants and the cached decisions', async () => {
    const plain = await cli('info', PLAIN);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('auto: fp32 (package has no int8 variant)');
    const info = await cli('info', variant);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/int8 +generator\/prefill\.int8\.onnx, generator\/step\.int8\.onnx, vae\/decoder\.int8\.onnx, clip\/ \(fp32\); fidelity passed/);
    expect(info.stdout).toContain(path.join(cache, PRECISION_CACHE_FILE));
    expect(info.stdout).toMatch(/^\* (fp32|int8) +4 rows, cpu, \d+ threads: int8 [\d.]+ ms vs fp32 [\d.]+ ms/m);
    expect(info.stdout).toMatch(/^\* (fp32|int8) +16 rows/m); // the decision above: two lanes of 16 rows
  });

  it('batch writes the precision into each prompt timings and its summary', async () => {
    const dir = tempDir('precision-batch');
    const prompts = writeText(dir, 'prompts.txt', 'a red circle\na blue star\n');
    const out = path.join(dir, 'out');
    const result = await cli('batch', prompts, '--out', out, '--model', variant, '--precision', 'int8', '--candidates', '2', '--keep', '1', '--seed', '1', '--no-rerank', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).precision).toMatchObject({ precision: 'int8', reason: 'forced' });
    const lines = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.timings.precision).toMatchObject({ requested: 'int8', precision: 'int8', reason: 'forced' });
    expect(existsSync(path.join(out, 'records', '0000.timings.json'))).toBe(true);
  });
});

describe('--precision over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await testServer({ models: [variant], precision: 'int8', waitReady: true });
  });
  afterAll(async () => server?.close());

  it('the response and the stored record say which precision ran', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', n: 1, candidates: 2, guidance_scale: 1 } });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.tessera_precision).toMatchObject({ requested: 'int8', precision: 'int8', reason: 'forced' });
    const record = (await server.app.inject({ method: 'GET', url: `/v1/history/${body.id}` })).json();
    expect(record.precision).toEqual(body.tessera_precision);
  });

  it('refuses an unknown precision option and int8 on a package without a variant at start', async () => {
    await expect(build({ models: [PLAIN], dataDir: tempDir('precision-server'), precision: 'int4' as never })).rejects.toMatchObject({ code: 'TESSERA_ERR_OPTION' });
    const app = await build({ models: [PLAIN], dataDir: tempDir('precision-server'), precision: 'int8', rateLimit: false });
    try {
      await expect(app.tessera.engine.start()).rejects.toMatchObject({ code: 'TESSERA_ERR_PRECISION_UNAVAILABLE' });
    } finally {
      await app.close();
    }
  });
});
