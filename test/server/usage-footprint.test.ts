import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageMetadata } from '../../src/image/index.js';
import { readManifest } from '../../src/model/manifest.js';
import { TextTokenizer } from '../../src/text/tokenizer.js';
import { parseSse, testServer, TINY_MODEL, type TestServer } from './helpers.js';

/** The OpenAI `usage` object and the `tessera_footprint` extension on every face of the API. */
let server: TestServer;
const manifest = readManifest(TINY_MODEL);
const tokenizer = TextTokenizer.fromFile(path.join(TINY_MODEL, manifest.text.tokenizer), manifest);
const gridTokens = manifest.image.grid.height * manifest.image.grid.width;
const textTokens = (text: string): number => Math.min(tokenizer.encode(text).tokenCount, manifest.text.length);

beforeAll(async () => {
  server = await testServer({ waitReady: true, footprint: { grid: { kind: 'fixed', gPerKWh: 321 } } });
});
afterAll(async () => server?.close());

function expectUsage(usage: unknown, prompt: string, candidates: number): void {
  const text = textTokens(prompt);
  expect(usage).toEqual({ input_tokens: text, output_tokens: candidates * gridTokens, total_tokens: text + candidates * gridTokens, input_tokens_details: { text_tokens: text, image_tokens: 0 } });
}

function expectFootprint(f: Record<string, unknown>): void {
  expect(f.grid_intensity_g_per_kwh).toBe(321);
  expect((f.flops as { total: number }).total).toBeGreaterThan(0);
  // The generator's bytes per phase, snake_case as the other fields, after the keys clients already read.
  const bytes = f.bytes as { prefill: Record<string, number>; decode: Record<string, number>; total: number };
  expect(Object.keys(bytes.decode)).toEqual(['weights', 'kv_read', 'kv_written', 'activations', 'total']);
  expect(bytes.total).toBe(bytes.prefill.total! + bytes.decode.total!);
  expect(Object.keys(f).at(-1)).toBe('bytes');
  expect(f.energy_j as number).toBeGreaterThan(0);
  expect(['rapl', 'cpu-time']).toContain(f.energy_method);
  expect(f.co2e_g as number).toBeCloseTo(((f.energy_j as number) / 3.6e6) * 321, 5);
}

describe('usage and footprint over HTTP', () => {
  it('POST /v1/images/generations: usage counts text tokens in and every image token sampled; tessera_footprint; the stored PNG has it', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle left of a star', n: 1, candidates: 3, guidance_scale: 1, response_format: 'url' } });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expectUsage(body.usage, 'a red circle left of a star', 3);
    expectFootprint(body.tessera_footprint);
    const png = readImageMetadata(readFileSync(path.join(server.dataDir, 'results', body.id, 'image-1.png')));
    // The API rounds to 3 decimals (footprintJson), the PNG keeps the measurement: round it the
    // same way (toBeCloseTo(x, 3) failed whenever the value sat on a rounding boundary, 2.0825).
    expect(Math.round(png.footprint!.energyJoules * 1000) / 1000).toBe(body.tessera_footprint.energy_j);
    // The history record carries both too.
    const record = (await server.app.inject({ method: 'GET', url: `/v1/history/${body.id}` })).json();
    expect(record.usage).toEqual(body.usage);
    expect(record.footprint).toEqual(body.tessera_footprint);
  });

  it('SSE: image_generation.completed carries usage and tessera_footprint', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a green star', candidates: 2, n: 2, stream: true, guidance_scale: 1 } });
    const completed = parseSse(response.body)
      .map((e) => e.data as Record<string, unknown>)
      .filter((d) => d.type === 'image_generation.completed');
    expect(completed).toHaveLength(2);
    for (const event of completed) {
      expectUsage(event.usage, 'a green star', 2);
      expectFootprint(event.tessera_footprint as Record<string, unknown>);
    }
  });

  it('async jobs: the result of GET /v1/jobs/:id carries usage and footprint', async () => {
    const created = await server.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'a blue square', candidates: 2, guidance_scale: 2, negative_prompt: 'red' } });
    const { id, links } = created.json();
    await server.app.inject({ method: 'GET', url: links.events }); // ends with the result
    const job = (await server.app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json();
    expect(job.status).toBe('succeeded');
    const text = textTokens('a blue square') + textTokens('red');
    expect(job.result.usage.input_tokens_details.text_tokens).toBe(text);
    expect(job.result.usage.output_tokens).toBe(2 * gridTokens);
    expectFootprint(job.result.footprint);
  });
});
