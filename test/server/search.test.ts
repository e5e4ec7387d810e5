import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SearchIndex } from '../../src/search/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../src/pipeline/loader.js';
import { testServer, type TestServer } from './helpers.js';

/**
 * GET /v1/images/search over the shipped shapes model: the embeddings stored are the
 * ones reranking computed (no re-embedding), an exact duplicate ranks first, an image of
 * the same prompt above unrelated ones, pages continue each other, bad parameters get
 * the OpenAI error envelope naming the parameter.
 */
let server: TestServer;
const ids: Record<string, string> = {};

async function generate(prompt: string, seed: number): Promise<{ id: string; file: string; score: number }> {
  const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt, candidates: 4, n: 1, seed, response_format: 'url' } });
  expect(response.statusCode).toBe(200);
  const body = response.json();
  return { id: body.id, file: path.basename(body.data[0].url), score: body.data[0].clip_score };
}

const search = (query: string) => server.app.inject({ method: 'GET', url: `/v1/images/search?${query}` });

beforeAll(async () => {
  server = await testServer({ waitReady: true, models: [DEFAULT_MODEL_DIR] });
  for (const [key, prompt, seed] of [
    ['red1', 'a large red circle on a white background', 1],
    ['red1again', 'a large red circle on a white background', 1], // the same request: the same image
    ['red2', 'a large red circle on a white background', 2],
    ['blue', 'a small blue square in the top left on a black background', 3],
    ['green', 'three green triangles on a yellow background', 4],
  ] as const) {
    const g = await generate(prompt, seed);
    ids[key] = `${g.id}/${g.file}`;
  }
}, 120_000);
afterAll(async () => server?.close());

describe('GET /v1/images/search', () => {
  it('more like this: the exact duplicate first (score 1), the same prompt next, unrelated ones below', async () => {
    const response = await search(`like=${encodeURIComponent(ids.red1)}`);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.object).toBe('list');
    expect(body.total).toBe(4); // the image itself is left out
    const order = body.data.map((d: { id: string }) => d.id);
    expect(order[0]).toBe(ids.red1again);
    expect(body.data[0].score).toBeCloseTo(1, 5);
    expect(order[1]).toBe(ids.red2);
    expect(order.slice(2).sort()).toEqual([ids.blue, ids.green].sort());
    const scores = body.data.map((d: { score: number }) => d.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(body.data[0]).toMatchObject({ object: 'image.search_result', prompt: 'a large red circle on a white background', url: `/v1/files/${ids.red1again}` });
  });

  it('a text query ranks by the CLIP text embedding: scores equal the stored rerank scores of the same prompt', async () => {
    const body = (await search(`query=${encodeURIComponent('a large red circle on a white background')}&limit=5`)).json();
    expect(body.total).toBe(5);
    const top3 = body.data.slice(0, 3).map((d: { id: string }) => d.id).sort();
    expect(top3).toEqual([ids.red1, ids.red1again, ids.red2].sort());
    // The stored embedding is the one reranking used: cosine with the prompt = the image's clip_score.
    const record = (await server.app.inject({ method: 'GET', url: `/v1/history/${ids.red2.split('/')[0]}` })).json();
    const hit = body.data.find((d: { id: string }) => d.id === ids.red2);
    expect(hit.score).toBeCloseTo(record.images[0].clip_score, 4);
  });

  it('pages continue each other', async () => {
    const all = (await search('query=shapes&limit=5')).json().data.map((d: { id: string }) => d.id);
    const first = (await search('query=shapes&limit=2')).json();
    const second = (await search('query=shapes&limit=2&offset=2')).json();
    expect(first.has_more).toBe(true);
    expect([...first.data, ...second.data].map((d: { id: string }) => d.id)).toEqual(all.slice(0, 4));
  });

  it('bad parameters: OpenAI envelope naming the parameter', async () => {
    const cases: [string, number, string | null][] = [
      ['', 400, 'query'],
      ['query=a&like=b', 400, 'like'],
      ['query=a&limit=0', 400, 'limit'],
      ['query=a&limit=101', 400, 'limit'],
      ['query=a&offset=-1', 400, 'offset'],
      ['query=a&colour=red', 400, 'colour'],
      ['query=%20%20', 400, 'query'],
      [`query=${'x'.repeat(1001)}`, 400, 'query'],
      ['like=no-such-image', 404, 'like'],
    ];
    for (const [query, status, param] of cases) {
      const response = await search(query);
      expect([query, response.statusCode]).toEqual([query, status]);
      const { error } = response.json();
      expect(error.param).toBe(param);
      expect(typeof error.message).toBe('string');
      expect(error.type).toBe(status === 404 ? 'not_found_error' : 'invalid_request_error');
    }
  });

  it('deleting a generation removes its images from the index', async () => {
    const id = ids.green.split('/')[0];
    expect((await server.app.inject({ method: 'DELETE', url: `/v1/history/${id}` })).statusCode).toBe(200);
    const body = (await search(`like=${encodeURIComponent(ids.red1)}`)).json();
    expect(body.data.map((d: { id: string }) => d.id)).not.toContain(ids.green);
    expect((await search(`like=${encodeURIComponent(ids.green)}`)).statusCode).toBe(404);
  });

  it('a data folder whose index holds another CLIP\'s embeddings: the server starts, search says why it is off', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-search-other-'));
    SearchIndex.open(path.join(dataDir, 'search.sqlite'), { dim: 512, space: 'clip:another' }).close();
    const other = await testServer({ dataDir });
    try {
      const response = await other.app.inject({ method: 'GET', url: '/v1/images/search?query=a%20red%20circle' });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.param).toBe('query');
      expect(response.json().error.message).toMatch(/search is off: .*search\.sqlite holds 512-wide embeddings of "clip:another".*move it away/);
    } finally {
      await other.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
