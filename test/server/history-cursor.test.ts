/** Issue 24: the history pages by cursor (next_cursor), as the gallery's infinite grid reads it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillHistory } from '../helpers/history-fill.js';
import { testServer, type TestServer } from './helpers.js';

let server: TestServer;
let ids: string[];
beforeAll(async () => {
  server = await testServer();
  // 25 records; two share a second, so the cursor must order by more than `created`.
  ids = await fillHistory(server.app.tessera.store, 23);
  ids.push(...(await fillHistory(server.app.tessera.store, 2, { start: 1_700_000_100 })));
});
afterAll(async () => {
  await server?.close();
});

type Page = { total: number; data: { id: string; thumbnail_url: string | null }[]; next_cursor: string | null };
const get = async (url: string) => server.app.inject({ method: 'GET', url });

describe('GET /v1/history?cursor=', () => {
  it('walks every record once, newest first, page by page', async () => {
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const response = await get(`/v1/history?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(response.statusCode).toBe(200);
      const page = response.json() as Page;
      expect(page.total).toBe(25);
      seen.push(...page.data.map((e) => e.id));
      cursor = page.next_cursor;
      pages += 1;
    }
    expect(pages).toBe(4);
    const newestFirst = [...ids].reverse();
    // The two records of the same second come in insertion order reversed, like the offset listing.
    const byOffset = (await get('/v1/history?limit=200')).json() as Page;
    expect(seen).toEqual(byOffset.data.map((e) => e.id));
    expect(new Set(seen)).toEqual(new Set(newestFirst));
  });

  it('neither repeats nor skips when a newer record arrives between pages', async () => {
    const first = (await get('/v1/history?limit=5')).json() as Page;
    await fillHistory(server.app.tessera.store, 1, { start: 1_800_000_000 });
    const second = (await get(`/v1/history?limit=5&cursor=${first.next_cursor}`)).json() as Page;
    const all = (await get('/v1/history?limit=200')).json() as Page;
    const after = all.data.map((e) => e.id);
    const at = after.indexOf(first.data[4].id);
    expect(second.data.map((e) => e.id)).toEqual(after.slice(at + 1, at + 6));
  });

  it('combines with q and says when there is no more', async () => {
    const page = (await get('/v1/history?q=number%201&limit=50')).json() as Page;
    expect(page.next_cursor).toBeNull();
    expect(page.data.length).toBe(page.total);
    const small = (await get('/v1/history?q=number%201&limit=2')).json() as Page;
    const rest = (await get(`/v1/history?q=number%201&limit=50&cursor=${small.next_cursor}`)).json() as Page;
    expect([...small.data, ...rest.data].map((e) => e.id)).toEqual(page.data.map((e) => e.id));
  });

  it('refuses a malformed cursor with the catalogue code, naming the parameter', async () => {
    const response = await get('/v1/history?cursor=abc');
    expect(response.statusCode).toBe(400);
    // TESSERA_ERR_OPTION's wire code.
    expect(response.json().error).toMatchObject({ code: 'invalid_value', param: 'cursor' });
  });
});
