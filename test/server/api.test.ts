import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageMetadata } from '../../src/image/index.js';
import { parseSse, testServer, type TestServer } from './helpers.js';

const KEY = 'test-key-123';
let server: TestServer;
beforeAll(async () => {
  server = await testServer({ apiKeys: [KEY], waitReady: true });
});
afterAll(async () => server?.close());

const auth = { authorization: `Bearer ${KEY}` };

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: Record<string, unknown>) {
  return server.app.inject({ method, url, payload, headers: auth });
}

describe('HTTP API over app.inject()', () => {
  it('still generates for words outside the vocabulary, and says which were not understood', async () => {
    const response = await call('POST', '/v1/images/generations', { prompt: 'a red zebra circle', n: 1, candidates: 2, seed: 1 });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.data).toHaveLength(1);
    expect(body.warnings.join('\n')).toMatch(/not understood.*"zebra"/);
  });

  it('generates with url responses, upscaled honestly, stored with a record and history row', async () => {
    const response = await call('POST', '/v1/images/generations', { prompt: 'a red circle', n: 2, candidates: 4, size: '128x128', seed: 7 });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.data).toHaveLength(2);
    expect(body.size).toBe('128x128');
    expect(body.native_size).toBe('64x64');
    expect(body.upscaled).toBe(true);
    expect(body.data[0].rank).toBe(1);
    expect(body.data[0].seed).toBe(7);
    expect(typeof body.data[0].clip_score).toBe('number');
    expect(body.data[0].clip_score).toBeGreaterThanOrEqual(body.data[1].clip_score);
    const url = new URL(body.data[0].url);
    // With keys, file URLs are signed capabilities: no key header needed, but the signature is (issue 23).
    expect(url.searchParams.get('sig')).toMatch(/^[0-9a-f]{64}$/);
    const unsigned = await server.app.inject({ method: 'GET', url: url.pathname });
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.json().error.code).toBe('invalid_api_key');
    const file = await server.app.inject({ method: 'GET', url: url.pathname + url.search });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('image/png');
    const meta = readImageMetadata(file.rawPayload);
    expect(meta.tessera?.seed).toBe(7);
    expect(meta.tessera?.candidateIndex).toBe(body.data[0].candidate_index);
    const folder = path.join(server.dataDir, 'results', body.id);
    const record = JSON.parse(readFileSync(path.join(folder, 'record.json'), 'utf8'));
    expect(record.prompt).toBe('a red circle');
    expect(record.candidates).toHaveLength(4);
    expect(record.candidates.filter((c: { kept: boolean }) => c.kept)).toHaveLength(2);
    expect(record.timings.total).toBeGreaterThan(0);
  });

  it('b64_json in webp', async () => {
    const response = await call('POST', '/v1/images/generations', { prompt: 'a blue square', candidates: 2, response_format: 'b64_json', output_format: 'webp' });
    expect(response.statusCode).toBe(200);
    const image = Buffer.from(response.json().data[0].b64_json, 'base64');
    expect(image.subarray(8, 12).toString('latin1')).toBe('WEBP');
  });

  it('streams partial images then completed images as SSE', async () => {
    const response = await call('POST', '/v1/images/generations', { prompt: 'a green star', candidates: 2, n: 1, stream: true, partial_images: 2 });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/event-stream');
    const events = parseSse(response.body);
    const types = events.map((e) => (e.data as { type: string }).type);
    expect(types.filter((t) => t === 'image_generation.partial_image')).toHaveLength(2);
    expect(types.at(-1)).toBe('image_generation.completed');
    const completed = events.at(-1)?.data as Record<string, unknown>;
    expect(typeof completed.b64_json).toBe('string');
    expect(completed).toHaveProperty('clip_score');
    expect(completed).toHaveProperty('candidate_index');
  });

  it('runs an async job: 202, events with progress, previews and result, then GET', async () => {
    const created = await call('POST', '/v1/jobs', { prompt: 'a yellow triangle', candidates: 4, n: 2, preview_every: 16 });
    expect(created.statusCode).toBe(202);
    const { id, links } = created.json();
    expect(created.headers.location).toBe(`/v1/jobs/${id}`);
    const events = await call('GET', links.events);
    const parsed = parseSse(events.body).map((e) => e.data as { type: string; images?: string[]; result?: { images: unknown[] } });
    const types = parsed.map((e) => e.type);
    expect(types).toContain('progress');
    expect(types).toContain('preview');
    expect(types.at(-1)).toBe('result');
    expect(parsed.find((e) => e.type === 'preview')?.images?.length).toBe(4);
    const job = await call('GET', `/v1/jobs/${id}`);
    expect(job.json().status).toBe('succeeded');
    expect(job.json().result.images).toHaveLength(2);
    expect(job.json().result.candidates[0].url).toMatch(/^\/v1\/files\//);
  });

  it('cancels a job with DELETE', async () => {
    const created = await call('POST', '/v1/jobs', { prompt: 'a big circle', candidates: 64 });
    const { id } = created.json();
    const deleted = await call('DELETE', `/v1/jobs/${id}`);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json().status).toBe('cancelled');
    const again = await call('DELETE', `/v1/jobs/${id}`);
    expect(again.statusCode).toBe(409);
  });

  it('lists, searches and deletes history; deleting removes the files', async () => {
    const made = await call('POST', '/v1/images/generations', { prompt: 'a unique purple hexagon', candidates: 2 });
    const id = made.json().id as string;
    const all = await call('GET', '/v1/history');
    expect(all.json().total).toBeGreaterThanOrEqual(2);
    const found = await call('GET', '/v1/history?q=purple%20hex');
    expect(found.json().data.map((e: { id: string }) => e.id)).toEqual([id]);
    const none = await call('GET', '/v1/history?q=%25');
    expect(none.json().total).toBe(0);
    expect((await call('GET', `/v1/history/${id}`)).json().prompt).toBe('a unique purple hexagon');
    const folder = path.join(server.dataDir, 'results', id);
    expect(existsSync(folder)).toBe(true);
    expect((await call('DELETE', `/v1/history/${id}`)).json().deleted).toBe(true);
    expect(existsSync(folder)).toBe(false);
    expect((await call('GET', `/v1/history/${id}`)).statusCode).toBe(404);
    expect((await call('GET', `/v1/files/${id}/image-1.png`)).statusCode).toBe(404);
  });

  it('requires the bearer key on the API when keys are configured', async () => {
    const missing = await server.app.inject({ method: 'GET', url: '/v1/models' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.code).toBe('invalid_api_key');
    const wrong = await server.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    const models = await call('GET', '/v1/models');
    expect(models.json().data[0]).toMatchObject({ id: 'tiny-random', object: 'model', native_size: '64x64' });
  });

  it('health, readiness, metrics, docs, page with a strict CSP', async () => {
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const metrics = await server.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect(metrics.body).toContain('tessera_queue_depth{model="tiny-random"}');
    expect(metrics.body).toMatch(/tessera_images_generated_total\{model="tiny-random"\} \d+/);
    expect(metrics.body).toContain('tessera_stage_seconds_bucket');
    const docs = await server.app.inject({ method: 'GET', url: '/docs/json' });
    expect(Object.keys(docs.json().paths)).toContain('/v1/images/generations');
    const page = await server.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    const csp = page.headers['content-security-policy'] as string;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
  });
});
