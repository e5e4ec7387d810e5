/**
 * Search index rows carry their tenant (issue 23): a scoped query ranks only that tenant's
 * rows, exactly as an index holding only them would; "more like this" of another tenant's
 * image is not found; an index from before tenancy opens with every row unowned.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Database } from '../../src/util/sqlite.js';
import { SearchIndex } from '../../src/search/index.js';
import { toBlob, normalised } from '../../src/search/vectors.js';

const DIM = 16;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-owner-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A deterministic pseudo-random vector (no Math.random: failures must reproduce). */
function vector(seed: number): Float32Array {
  const v = new Float32Array(DIM);
  let s = seed * 2654435761 + 1;
  for (let i = 0; i < DIM; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    v[i] = s / 2147483648 - 0.5;
  }
  return v;
}

const OWNERS = ['t_a', 't_b', null] as const;
const row = (i: number) => ({ record: { id: `img-${i}`, prompt: `p${i}`, model: 'm', created: 1, source: `${i}.png`, owner: OWNERS[i % 3] }, embedding: vector(i) });

describe('owner-scoped search', () => {
  it('ranks one tenant exactly as an index of only its rows, and counts only them', () => {
    const all = SearchIndex.open(path.join(dir, 'all.sqlite'), { dim: DIM, space: 's' });
    const onlyA = SearchIndex.open(path.join(dir, 'a.sqlite'), { dim: DIM, space: 's' });
    const rows = Array.from({ length: 90 }, (_, i) => row(i));
    all.insertMany(rows);
    onlyA.insertMany(rows.filter((r) => r.record.owner === 't_a'));
    for (const seed of [1000, 1001, 1002]) {
      for (const page of [{ offset: 0, limit: 10 }, { offset: 7, limit: 40 }]) {
        const scoped = all.query(vector(seed), page, 't_a');
        const alone = onlyA.query(vector(seed), page);
        expect(scoped.total).toBe(30);
        expect(scoped.data.map((h) => h.id)).toEqual(alone.data.map((h) => h.id));
        for (const [i, hit] of scoped.data.entries()) expect(hit.score).toBeCloseTo(alone.data[i]!.score, 5);
      }
    }
    // More like this within the tenant: the image left out, only the tenant's rows.
    const like = all.moreLike('img-0', { offset: 0, limit: 100 }, 't_a');
    expect(like.total).toBe(29);
    expect(like.data.map((h) => h.id)).toEqual(onlyA.moreLike('img-0', { offset: 0, limit: 100 }).data.map((h) => h.id));
    expect(() => all.moreLike('img-1', { offset: 0, limit: 5 }, 't_a')).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_SEARCH_NOT_FOUND' }));
    // Unscoped (admin, local mode): every row, unowned included.
    expect(all.query(vector(1), { offset: 0, limit: 5 }).total).toBe(90);
    // Owners survive a reopen and a delete (the last slot moves into the hole).
    all.delete('img-3');
    all.close();
    const again = SearchIndex.open(path.join(dir, 'all.sqlite'), { dim: DIM, space: 's' });
    expect(again.query(vector(1), { offset: 0, limit: 100 }, 't_a').data.map((h) => h.id).sort()).toEqual(
      rows.filter((r) => r.record.owner === 't_a' && r.record.id !== 'img-3').map((r) => r.record.id).sort(),
    );
    again.close();
    onlyA.close();
  });

  it('an index from before tenancy opens with its rows unowned (seen unscoped only)', () => {
    const file = path.join(dir, 'old.sqlite');
    const db = new Database(file);
    db.exec(`CREATE TABLE search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE search_embeddings (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, prompt TEXT NOT NULL,
        model TEXT NOT NULL, created INTEGER NOT NULL, source TEXT NOT NULL, embedding BLOB NOT NULL);
      INSERT INTO search_meta VALUES ('dim', '${DIM}'), ('space', 's');`);
    db.prepare('INSERT INTO search_embeddings (id, prompt, model, created, source, embedding) VALUES (?, ?, ?, ?, ?, ?)').run('old', 'p', 'm', 1, 'old.png', toBlob(normalised(vector(5), DIM, 'v')));
    db.close();
    const index = SearchIndex.open(file, { dim: DIM, space: 's' });
    expect(index.query(vector(5), { offset: 0, limit: 5 }).data.map((h) => h.id)).toEqual(['old']);
    expect(index.query(vector(5), { offset: 0, limit: 5 }, 't_a').total).toBe(0);
    index.insert({ id: 'new', prompt: 'p', model: 'm', created: 2, source: 'new.png', owner: 't_a' }, vector(6));
    expect(index.query(vector(5), { offset: 0, limit: 5 }, 't_a').data.map((h) => h.id)).toEqual(['new']);
    index.close();
  });
});
