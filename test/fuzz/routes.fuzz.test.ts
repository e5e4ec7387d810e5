/**
 * Property-based fuzzing of every HTTP route through inject(): malformed bodies, query
 * strings, headers, ids and file names. Whatever arrives, the answer is below 500, every
 * error is the OpenAI envelope, and the server stays alive. The queue is 0 long, so a
 * request that happens to be valid is answered 429 instead of sampling.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, type TestServer } from '../server/helpers.js';
import { announce, FUZZ_SEED, runs } from './settings.js';

let server: TestServer;
beforeAll(async () => {
  server = await testServer({ waitReady: true, maxQueue: 0, bodyLimit: 8192 });
});
afterAll(async () => server?.close());

/** Text with the characters that broke things before: NUL, controls, lone surrogates, astral symbols. */
const nasty = fc.constantFrom('\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\uD800', '\uDFFF', '\uFFFF', '😀', '%', '/', '..', '\\', '"', '\n', ' ');
const text = fc.string({ unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), nasty), maxLength: 60 });
const longText = fc.integer({ min: 90, max: 6000 }).map((n) => 'x'.repeat(n));
const segment = fc.oneof(fc.uuid(), text, longText, fc.constantFrom('..', '.', '%2e%2e', 'image-1.png', 'candidate-0.png', 'index.html', '.hidden'));

const FIELDS = [
  'prompt', 'model', 'n', 'size', 'response_format', 'output_format', 'user', 'stream', 'partial_images', 'quality', 'style', 'background',
  'moderation', 'output_compression', 'upscale', 'candidates', 'seed', 'negative_prompt', 'temperature', 'top_k', 'top_p', 'guidance_scale', 'preview_every',
];
const value = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('auto', 'low', 'high', 'hd', 'png', 'jpeg', 'webp', 'url', 'b64_json', '64x64', '128x128', 'transparent', 'opaque', 'nearest'),
  fc.constantFrom(1, 2, 4, 0, -1, 1e308, 4294967296),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);
/** Bodies near the real schema (known fields, wrong or right values) and far from it. */
const jsonBody = fc.oneof(
  fc.record(Object.fromEntries(FIELDS.map((f) => [f, value])), { requiredKeys: [] }).map((b) => JSON.stringify(b)),
  fc.record({ prompt: text }).map((b) => JSON.stringify(b)),
  fc.json(),
  fc.anything().map((v) => JSON.stringify(v) ?? 'null'),
  text,
  fc.constantFrom('', '{', '{"prompt":', '[]', 'null', '{"prompt":"a"}'.repeat(700), '\u0000', '{"__proto__":{"x":1},"prompt":"a red circle"}'),
);

const ROUTES = [
  () => '/v1/images/generations',
  () => '/v1/images/edits',
  () => '/v1/images/variations',
  () => '/v1/images/search',
  () => '/v1/jobs',
  (s: string[]) => `/v1/jobs/${s[0]}`,
  (s: string[]) => `/v1/jobs/${s[0]}/events`,
  () => '/v1/history',
  (s: string[]) => `/v1/history/${s[0]}`,
  (s: string[]) => `/v1/files/${s[0]}/${s[1]}`,
  () => '/v1/models',
  (s: string[]) => `/v1/models/${s[0]}`,
  () => '/healthz',
  () => '/readyz',
  () => '/metrics',
  () => '/',
  () => '/docs',
  () => '/docs/json',
  (s: string[]) => `/static/${s[0]}`,
  (s: string[]) => `/docs/static/${s[0]}`,
  (s: string[]) => `/${s[0]}`,
];

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'),
  route: fc.integer({ min: 0, max: ROUTES.length - 1 }),
  segments: fc.array(segment, { minLength: 2, maxLength: 2 }),
  encode: fc.boolean(),
  query: fc.array(
    fc.tuple(fc.oneof(fc.constantFrom('q', 'query', 'like', 'limit', 'before', 'offset', 'model'), fc.string({ maxLength: 8 })), fc.oneof(text, fc.integer().map(String), longText, fc.constant('😀'.repeat(1001)))),
    { maxLength: 3 },
  ),
  // Issue 23: a multipart content-type without a boundary (or an empty one) over any body.
  contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'multipart/form-data; boundary=x', 'multipart/form-data', 'multipart/form-data; boundary=', 'application/x-www-form-urlencoded', 'garbage', undefined),
  authorization: fc.option(fc.oneof(fc.constant('Bearer '), text.map((t) => `Bearer ${t.replace(/[^\x20-\x7e]/g, '')}`)), { nil: undefined }),
  accept: fc.option(fc.constantFrom('text/event-stream', 'application/json', '*/*', 'image/png'), { nil: undefined }),
  body: fc.option(jsonBody, { nil: undefined }),
});

/** Path segments as a client would send them: percent-encoded, or raw where the characters are URL-safe. */
type Request = typeof request extends fc.Arbitrary<infer T> ? T : never;

function urlOf(r: Request): string {
  const segs = r.segments.map((s) => (r.encode || /[^A-Za-z0-9._~%-]/.test(s) ? encodeURIComponent(s.replace(/[\uD800-\uDFFF]/gu, '?')) : s));
  const qs = r.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v.replace(/[\uD800-\uDFFF]/gu, '?'))}`).join('&');
  return ROUTES[r.route](segs) + (qs ? `?${qs}` : '');
}

const ROUTE_RUNS = runs(2500, 0.8);
/** What the run answered, printed at the end (the proof's counts: requests, statuses, 5xx). */
const tally = { requests: 0, envelopes: 0, byStatus: new Map<number, number>() };
afterAll(() => {
  const statuses = [...tally.byStatus].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status}:${n}`).join(' ');
  const fivexx = [...tally.byStatus].filter(([status]) => status >= 500).reduce((sum, [, n]) => sum + n, 0);
  console.log(`[fuzz] routes: ${tally.requests} requests, ${fivexx} answered 5xx, ${tally.envelopes} errors checked as the envelope; statuses ${statuses}`);
});

describe('fuzzing every route', () => {
  it('answers below 500 with the error envelope, and stays alive', async () => {
    announce('routes');
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.authorization !== undefined) headers.authorization = r.authorization;
        if (r.accept !== undefined) headers.accept = r.accept;
        const hasBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD';
        // A request that never answers (a stream left open, a hung handler) fails the case by name instead of timing out the test.
        let timer: NodeJS.Timeout | undefined;
        const response = await Promise.race([
          server.app.inject({ method: r.method as 'GET', url: urlOf(r), headers, payload: hasBody ? r.body : undefined }),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within 20 s: ${r.method} ${urlOf(r)}`)), 20_000))),
        ]).finally(() => clearTimeout(timer));
        tally.requests += 1;
        tally.byStatus.set(response.statusCode, (tally.byStatus.get(response.statusCode) ?? 0) + 1);
        expect(response.statusCode, `${r.method} ${urlOf(r)} -> ${response.body.slice(0, 300)}`).toBeLessThan(500);
        if (response.statusCode >= 400 && r.method !== 'HEAD') {
          tally.envelopes += 1;
          const body = response.json() as { error?: Record<string, unknown> };
          expect(Object.keys(body)).toEqual(['error']);
          expect(Object.keys(body.error ?? {}).sort()).toEqual(['code', 'message', 'param', 'type']);
          expect(typeof body.error?.message).toBe('string');
          expect(typeof body.error?.code).toBe('string');
        }
      }),
      { seed: FUZZ_SEED, numRuns: ROUTE_RUNS, endOnFailure: true },
    );
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  }, Math.max(120_000, ROUTE_RUNS * 60));
});
