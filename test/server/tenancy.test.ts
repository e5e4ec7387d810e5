/**
 * Keys are tenants (issue 23): two keys across every route. The table below names every
 * route the app registers with the check that proves its scoping; a route added without a
 * row here fails the first test, so a new route cannot ship unscoped by accident.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { maskPng, testPicture } from '../helpers/images.js';
import { testServer, waitFor, type TestServer } from './helpers.js';

const A = 'key-a-1111';
const B = 'key-b-2222';
const ADMIN = 'key-admin-3333';
const as = (key: string | null) => (key === null ? {} : { authorization: `Bearer ${key}` });

let server: TestServer;
/** What tenant A made: a generation (its kept file) and a live job; what B made: a generation. */
let genA: { id: string; file: string; url: string };
let genB: { id: string; file: string };
let jobA: string;

async function call(key: string | null, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return server.app.inject({ method, url, payload, headers: as(key) });
}

async function generate(key: string, prompt: string): Promise<{ id: string; file: string; url: string }> {
  const response = await call(key, 'POST', '/v1/images/generations', { prompt, candidates: 2, n: 1, seed: 3 });
  expect(response.statusCode).toBe(200);
  const url = new URL(response.json().data[0].url as string);
  return { id: response.json().id, file: url.pathname.split('/').at(-1)!, url: url.pathname + url.search };
}

/** A multipart image-prompt request through inject (the body as fetch would encode it). */
async function postForm(key: string, route: 'edits' | 'variations', fields: Record<string, string | Buffer>): Promise<LightMyRequestResponse> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([new Uint8Array(value)], { type: 'image/png' }), `${name}.png`);
  }
  const encoded = new Request('http://local/', { method: 'POST', body: form });
  return server.app.inject({
    method: 'POST',
    url: `/v1/images/${route}`,
    headers: { ...as(key), 'content-type': encoded.headers.get('content-type')! },
    payload: Buffer.from(await encoded.arrayBuffer()),
  });
}

function expectCode(response: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: response.statusCode, code: response.json().error?.code }).toEqual({ status, code });
}

/** B made a thing through a creating route: A cannot see it, B and the admin can. */
async function expectOwnedByB(generationId: string): Promise<void> {
  expectCode(await call(A, 'GET', `/v1/history/${generationId}`), 404, 'not_found');
  expect((await call(B, 'GET', `/v1/history/${generationId}`)).statusCode).toBe(200);
  expect((await call(ADMIN, 'GET', `/v1/history/${generationId}`)).statusCode).toBe(200);
}

const ids = (response: LightMyRequestResponse, field: string) => (response.json().data as Record<string, string>[]).map((d) => d[field]);

/** Each route, and how its scoping is proved. */
const ROUTES: Record<string, () => Promise<void>> = {
  'GET /v1/history': async () => {
    expect(ids(await call(A, 'GET', '/v1/history'), 'id')).toContain(genA.id);
    expect(ids(await call(A, 'GET', '/v1/history'), 'id')).not.toContain(genB.id);
    expect(ids(await call(B, 'GET', '/v1/history'), 'id')).not.toContain(genA.id);
    expect((await call(B, 'GET', '/v1/history')).json().total).toBe(ids(await call(B, 'GET', '/v1/history'), 'id').length);
    expect(ids(await call(ADMIN, 'GET', '/v1/history'), 'id')).toEqual(expect.arrayContaining([genA.id, genB.id]));
    // The thumbnail URL is signed (an <img> loads it without headers).
    const thumb = (await call(A, 'GET', '/v1/history')).json().data[0].thumbnail_url as string;
    expect((await call(null, 'GET', thumb)).statusCode).toBe(200);
  },
  'GET /v1/history/:id': async () => {
    expectCode(await call(B, 'GET', `/v1/history/${genA.id}`), 404, 'not_found');
    expect((await call(A, 'GET', `/v1/history/${genA.id}`)).json().id).toBe(genA.id);
    expect((await call(ADMIN, 'GET', `/v1/history/${genA.id}`)).statusCode).toBe(200);
  },
  'DELETE /v1/history/:id': async () => {
    expectCode(await call(B, 'DELETE', `/v1/history/${genA.id}`), 404, 'not_found');
    expect((await call(A, 'GET', `/v1/history/${genA.id}`)).statusCode).toBe(200); // still there
    const doomed = await generate(A, 'a doomed circle');
    expect((await call(ADMIN, 'DELETE', `/v1/history/${doomed.id}`)).json().deleted).toBe(true);
    expect((await call(A, 'GET', `/v1/history/${doomed.id}`)).statusCode).toBe(404);
  },
  'GET /v1/files/:id/:name': async () => {
    const plain = `/v1/files/${genA.id}/${genA.file}`;
    expectCode(await call(B, 'GET', plain), 404, 'not_found');
    expectCode(await call(null, 'GET', plain), 401, 'invalid_api_key');
    expect((await call(A, 'GET', plain)).statusCode).toBe(200);
    expect((await call(ADMIN, 'GET', plain)).statusCode).toBe(200);
    expect((await call(null, 'GET', genA.url)).headers['content-type']).toBe('image/png'); // the signed URL, no header
  },
  'POST /v1/images/generations': async () => {
    await expectOwnedByB((await generate(B, 'a b-only square')).id);
  },
  'POST /v1/images/variations': async () => {
    const response = await postForm(B, 'variations', { image: await testPicture(64, 64, 'png'), candidates: '2', n: '1' });
    expect(response.statusCode).toBe(200);
    expect((await call(null, 'GET', new URL(response.json().data[0].url as string).pathname)).statusCode).toBe(401);
    await expectOwnedByB(response.json().id);
  },
  'POST /v1/images/edits': async () => {
    const mask = await maskPng(64, 64, { x0: 32, y0: 32, x1: 64, y1: 64 });
    const response = await postForm(B, 'edits', { image: await testPicture(64, 64, 'png'), mask, prompt: 'a star', candidates: '2', n: '1' });
    expect(response.statusCode).toBe(200);
    await expectOwnedByB(response.json().id);
  },
  'POST /v1/jobs': async () => {
    const created = await call(B, 'POST', '/v1/jobs', { prompt: 'a b job', candidates: 2 });
    expect(created.statusCode).toBe(202);
    await waitFor(async () => (await call(B, 'GET', `/v1/jobs/${created.json().id}`)).json().status === 'succeeded');
    await expectOwnedByB(created.json().id);
  },
  'GET /v1/jobs/:id': async () => {
    for (const id of [jobA, genA.id]) {
      expectCode(await call(B, 'GET', `/v1/jobs/${id}`), 404, 'job_not_found');
      expect((await call(A, 'GET', `/v1/jobs/${id}`)).statusCode).toBe(200);
      expect((await call(ADMIN, 'GET', `/v1/jobs/${id}`)).statusCode).toBe(200);
    }
  },
  'GET /v1/jobs/:id/events': async () => {
    for (const id of [jobA, genA.id]) {
      expectCode(await call(B, 'GET', `/v1/jobs/${id}/events`), 404, 'job_not_found');
    }
    const own = await call(A, 'GET', `/v1/jobs/${genA.id}/events`);
    expect(own.headers['content-type']).toContain('text/event-stream');
  },
  'DELETE /v1/jobs/:id': async () => {
    expectCode(await call(B, 'DELETE', `/v1/jobs/${jobA}`), 404, 'job_not_found');
    expect((await call(A, 'GET', `/v1/jobs/${jobA}`)).json().status).not.toBe('cancelled');
    expectCode(await call(B, 'DELETE', `/v1/jobs/${genA.id}`), 404, 'job_not_found');
    expectCode(await call(A, 'DELETE', `/v1/jobs/${genA.id}`), 409, 'job_finished');
  },
  'GET /v1/images/search': async () => {
    const generationsOf = (r: LightMyRequestResponse) => ids(r, 'generation_id');
    const text = await call(B, 'GET', '/v1/images/search?query=circle&limit=100');
    expect(text.statusCode).toBe(200);
    expect(generationsOf(text)).not.toContain(genA.id);
    expect(generationsOf(text)).toContain(genB.id);
    expect(text.json().total).toBe(generationsOf(text).length);
    expect(generationsOf(await call(ADMIN, 'GET', '/v1/images/search?query=circle&limit=100'))).toEqual(expect.arrayContaining([genA.id, genB.id]));
    const like = `/v1/images/search?like=${encodeURIComponent(`${genA.id}/${genA.file}`)}`;
    expectCode(await call(B, 'GET', like), 404, 'search_not_found');
    const own = await call(A, 'GET', `${like}&limit=100`);
    expect(own.statusCode).toBe(200);
    // A's other images (its job's), never B's; the image itself is left out.
    expect(generationsOf(own).length).toBeGreaterThan(0);
    expect(own.json().total).toBe(generationsOf(own).length);
    expect(generationsOf(own)).not.toContain(genB.id);
    const hit = (await call(B, 'GET', '/v1/images/search?query=square')).json().data[0] as { url: string };
    expect((await call(null, 'GET', hit.url)).statusCode).toBe(200); // signed
  },
  // No tenant data: every key gets the same answer, no key gets 401.
  'GET /v1/models': () => sameForEveryKey('/v1/models'),
  'GET /v1/models/:id': () => sameForEveryKey('/v1/models/tiny-random'),
  // Aggregate counters only (no ids, prompts or per-request data), so any key may scrape them.
  'GET /metrics': async () => {
    expectCode(await call(null, 'GET', '/metrics'), 401, 'invalid_api_key');
    expect((await call(B, 'GET', '/metrics')).body).not.toContain(genA.id);
  },
  // Public: the page, its files, health; nothing of any tenant in them.
  'GET /': () => isPublic('/'),
  'GET /static/app.js': () => isPublic('/static/app.js'),
  'GET /static/api.js': () => isPublic('/static/api.js'),
  'GET /static/grid.js': () => isPublic('/static/grid.js'),
  'GET /static/jobs.js': () => isPublic('/static/jobs.js'),
  'GET /static/lightbox.js': () => isPublic('/static/lightbox.js'),
  'GET /static/image-prompt.js': () => isPublic('/static/image-prompt.js'),
  'GET /static/style.css': () => isPublic('/static/style.css'),
  'GET /healthz': () => isPublic('/healthz'),
  'GET /readyz': () => isPublic('/readyz'),
};

async function sameForEveryKey(url: string): Promise<void> {
  expectCode(await call(null, 'GET', url), 401, 'invalid_api_key');
  const a = await call(A, 'GET', url);
  expect(a.statusCode).toBe(200);
  expect((await call(B, 'GET', url)).body).toBe(a.body);
}

async function isPublic(url: string): Promise<void> {
  const response = await call(null, 'GET', url);
  expect(response.statusCode).toBe(200);
  expect(response.body).not.toContain(genA.id);
}

/** The API docs (swagger's own routes) are public and hold only the schema. */
const isDocs = (route: string) => /^GET \/docs(\/|$)/.test(route);

beforeAll(async () => {
  server = await testServer({ apiKeys: [A, B], adminKeys: [ADMIN], waitReady: true });
  genA = await generate(A, 'a red circle');
  genB = await generate(B, 'a blue circle');
  const created = await call(A, 'POST', '/v1/jobs', { prompt: 'a live job', candidates: 2 });
  expect(created.statusCode).toBe(202);
  jobA = created.json().id;
  // While A's job is queued or running (or already done: the check does not depend on it), B cannot see it.
  expectCode(await call(B, 'GET', `/v1/jobs/${jobA}`), 404, 'job_not_found');
}, 120_000);
afterAll(async () => server?.close());

describe('keys are tenants: two keys across every route', () => {
  it('every registered route has a row in the table (a new route must say how it is scoped)', () => {
    const registered = server.app.tessera.routes.map((r) => `${r.method} ${r.url}`).filter((r) => !isDocs(r));
    expect([...new Set(registered)].sort()).toEqual(Object.keys(ROUTES).sort());
  });

  it.each(Object.keys(ROUTES))('%s', async (route) => {
    await ROUTES[route]!();
  }, 60_000);

  it('the docs are public', async () => {
    expect((await call(null, 'GET', '/docs/json')).statusCode).toBe(200);
  });
});
