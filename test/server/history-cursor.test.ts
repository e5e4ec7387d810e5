/**
 * Issue 24: the history pages by cursor (next_cursor), as the gallery's infinite grid reads
 * it, and lists every entry's kept images (the grid shows a tile per kept image).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../../src/util/sqlite.js';
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

  it('gives every entry its kept images, best first, each with its URL', async () => {
    const [id] = await fillHistory(server.app.tessera.store, 1, { start: 1_900_000_000, kept: 3 });
    const entry = ((await get('/v1/history?limit=1')).json() as { data: Record<string, unknown>[] }).data[0];
    expect(entry.id).toBe(id);
    expect(entry.n).toBe(3);
    expect(entry.kept).toEqual([0, 1, 2].map((k) => ({ file: `image-${k}.png`, rank: k + 1, candidate_index: k, clip_score: expect.closeTo(0.3 - k * 0.01, 6), url: `/v1/files/${id}/image-${k}.png` })));
    expect(entry.thumbnail_url).toBe(`/v1/files/${id}/image-0.png`);
    // Each URL serves its image.
    for (const k of entry.kept as { url: string }[]) expect((await get(k.url)).statusCode).toBe(200);
  });

  it('fills in the kept images of a row written before the index held them, from its record.json, once', async () => {
    const [id] = await fillHistory(server.app.tessera.store, 1, { start: 1_900_000_100, kept: 2 });
    const db = new Database(path.join(server.dataDir, 'history.sqlite'));
    try {
      db.prepare('UPDATE generations SET kept = NULL WHERE id = ?').run(id);
      const first = ((await get('/v1/history?limit=1')).json() as { data: { id: string; kept: { file: string }[] }[] }).data[0];
      expect(first.id).toBe(id);
      expect(first.kept.map((k) => k.file)).toEqual(['image-0.png', 'image-1.png']);
      const stored = db.prepare('SELECT kept FROM generations WHERE id = ?').get(id) as { kept: string | null };
      expect(JSON.parse(stored.kept ?? 'null')).toHaveLength(2);
      // With neither the column nor a readable record: the thumbnail alone.
      db.prepare('UPDATE generations SET kept = NULL WHERE id = ?').run(id);
      await rm(path.join(server.dataDir, 'results', id, 'record.json'));
      const bare = ((await get('/v1/history?limit=1')).json() as { data: { kept: { file: string; rank: number }[] }[] }).data[0];
      expect(bare.kept).toMatchObject([{ file: 'image-0.png', rank: 1 }]);
    } finally {
      db.close();
    }
  });

  it('refuses a malformed cursor with the catalogue code, naming the parameter', async () => {
    const response = await get('/v1/history?cursor=abc');
    expect(response.statusCode).toBe(400);
    // TESSERA_ERR_OPTION's wire code.
    expect(response.json().error).toMatchObject({ code: 'invalid_value', param: 'cursor' });
  });
});
