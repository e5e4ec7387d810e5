import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Database } from '../../src/util/sqlite.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { SearchIndex } from '../../src/search/index.js';
import type { SearchRecord } from '../../src/search/store.js';
import { VectorMatrix } from '../../src/search/matrix.js';
import { topK } from '../../src/search/topk.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-search-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function record(id: string, prompt = `prompt of ${id}`): SearchRecord {
  return { id, prompt, model: 'm', created: 1_700_000_000, source: `${id}.png` };
}

/** A deterministic pseudo-random vector (no Math.random: failures must reproduce). */
function vector(seed: number, dim: number): Float32Array {
  const v = new Float32Array(dim);
  let s = seed * 2654435761 + 1;
  for (let i = 0; i < dim; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    v[i] = s / 2147483648 - 0.5;
  }
  return v;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isTesseraError(error) ? error.code : 'not a TesseraError';
  }
  return undefined;
}

describe('SearchIndex', () => {
  const dim = 16;

  it('ranks every stored image by cosine, best first, with the stored fields', () => {
    const index = SearchIndex.open(path.join(dir, 'i.sqlite'), { dim, space: 's' });
    const vectors = Array.from({ length: 50 }, (_, i) => vector(i + 1, dim));
    index.insertMany(vectors.map((v, i) => ({ record: record(`img-${i}`), embedding: v })));
    const query = vector(999, dim);
    const page = index.query(query, { offset: 0, limit: 50 });
    const expected = vectors.map((v, i) => ({ id: `img-${i}`, score: cosine(query, v) })).sort((a, b) => b.score - a.score);
    expect(page.total).toBe(50);
    expect(page.data.map((h) => h.id)).toEqual(expected.map((e) => e.id));
    page.data.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i]!.score, 5));
    expect(page.data[0]).toMatchObject({ prompt: `prompt of ${expected[0]!.id}`, model: 'm', created: 1_700_000_000, source: `${expected[0]!.id}.png` });
    index.close();
  });

  it('pages continue one another, and equal scores keep insertion order', () => {
    const index = SearchIndex.open(path.join(dir, 'i.sqlite'), { dim, space: 's' });
    const same = vector(7, dim);
    // Ten identical vectors (ties), inserted in a known order, among others.
    index.insertMany(Array.from({ length: 30 }, (_, i) => ({ record: record(`r${i}`), embedding: i % 3 === 0 ? same : vector(100 + i, dim) })));
    const all = index.query(same, { offset: 0, limit: 30 }).data.map((h) => h.id);
    expect(all.slice(0, 10)).toEqual(['r0', 'r3', 'r6', 'r9', 'r12', 'r15', 'r18', 'r21', 'r24', 'r27']);
    const pages = [0, 7, 14, 21, 28].flatMap((offset) => index.query(same, { offset, limit: 7 }).data.map((h) => h.id));
    expect(pages).toEqual(all);
    expect(index.query(same, { offset: 0, limit: 30 }).data.map((h) => h.id)).toEqual(all);
    index.close();
  });

  it('"more like this" leaves the image itself out and ranks an identical copy first', () => {
    const index = SearchIndex.open(path.join(dir, 'i.sqlite'), { dim, space: 's' });
    const base = vector(1, dim);
    const near = Float32Array.from(base, (v, i) => v + (i === 0 ? 0.05 : 0));
    index.insertMany([
      { record: record('a'), embedding: base },
      { record: record('far'), embedding: vector(2, dim) },
      { record: record('near'), embedding: near },
      { record: record('copy'), embedding: base.map((v) => v * 3) }, // same direction, other length
    ]);
    const page = index.moreLike('a', { offset: 0, limit: 10 });
    expect(page.total).toBe(3);
    expect(page.data.map((h) => h.id)).toEqual(['copy', 'near', 'far']);
    expect(page.data[0]!.score).toBeCloseTo(1, 5);
    expect(codeOf(() => index.moreLike('nope'))).toBe('TESSERA_ERR_SEARCH_NOT_FOUND');
    index.close();
  });

  it('keeps memory and SQLite in step through deletes, growth past the first block, and reopening', () => {
    const file = path.join(dir, 'i.sqlite');
    let index = SearchIndex.open(file, { dim, space: 's' });
    const n = 2500; // past the initial capacity of 1024 rows
    index.insertMany(Array.from({ length: n }, (_, i) => ({ record: record(`v${i}`), embedding: vector(i + 1, dim) })));
    expect(index.delete('v0')).toBe(true); // the last row moves into slot 0
    expect(index.delete('v0')).toBe(false);
    expect(index.delete('v1234')).toBe(true);
    expect(index.size).toBe(n - 2);
    const probe = vector(n, dim); // the last inserted vector, moved by the first delete
    expect(index.query(probe, { offset: 0, limit: 1 }).data[0]!.id).toBe(`v${n - 1}`);
    expect(index.has('v1234')).toBe(false);
    expect(index.query(vector(1235, dim), { offset: 0, limit: 1 }).data[0]!.id).not.toBe('v1234'); // v1234's own vector
    const before = index.query(vector(5000, dim), { offset: 0, limit: 25 });
    index.close();
    index = SearchIndex.open(file, { dim, space: 's' });
    expect(index.size).toBe(n - 2);
    expect(index.query(vector(5000, dim), { offset: 0, limit: 25 }).data.map((h) => h.id)).toEqual(before.data.map((h) => h.id));
    index.close();
  });

  it('catches up with rows written and deleted through another connection', () => {
    const file = path.join(dir, 'i.sqlite');
    const reader = SearchIndex.open(file, { dim, space: 's' });
    const writer = SearchIndex.open(file, { dim, space: 's' });
    writer.insertMany([1, 2, 3].map((i) => ({ record: record(`w${i}`), embedding: vector(i, dim) })));
    expect(reader.size).toBe(0);
    reader.refresh();
    expect(reader.size).toBe(3);
    expect(reader.query(vector(2, dim), { offset: 0, limit: 1 }).data[0]!.id).toBe('w2');
    writer.delete('w2');
    reader.refresh();
    expect(reader.has('w2')).toBe(false);
    expect(reader.size).toBe(2);
    reader.close();
    writer.close();
  });

  it('rejects vectors it cannot rank and an index of another width or space', () => {
    const file = path.join(dir, 'i.sqlite');
    const index = SearchIndex.open(file, { dim, space: 's' });
    expect(codeOf(() => index.insert(record('a'), new Float32Array(dim + 1)))).toBe('TESSERA_ERR_EMBEDDING');
    expect(codeOf(() => index.insert(record('a'), new Float32Array(dim)))).toBe('TESSERA_ERR_EMBEDDING');
    const nan = vector(1, dim);
    nan[3] = NaN;
    expect(codeOf(() => index.insert(record('a'), nan))).toBe('TESSERA_ERR_EMBEDDING');
    index.insert(record('a'), vector(1, dim));
    expect(codeOf(() => index.insert(record('a'), vector(2, dim)))).toBe('TESSERA_ERR_EMBEDDING');
    // A failed batch stores nothing: the duplicate is caught before the transaction.
    expect(codeOf(() => index.insertMany([{ record: record('b'), embedding: vector(3, dim) }, { record: record('b'), embedding: vector(4, dim) }]))).toBe('TESSERA_ERR_EMBEDDING');
    expect(index.size).toBe(1);
    expect(codeOf(() => index.query(vector(1, dim), { offset: 0, limit: 0 }))).toBe('TESSERA_ERR_SEARCH');
    expect(codeOf(() => index.query(new Float32Array(4), { offset: 0, limit: 5 }))).toBe('TESSERA_ERR_EMBEDDING');
    index.close();
    expect(codeOf(() => SearchIndex.open(file, { dim: 32, space: 's' }))).toBe('TESSERA_ERR_INDEX');
    expect(codeOf(() => SearchIndex.open(file, { dim, space: 'other-clip' }))).toBe('TESSERA_ERR_INDEX');
  });

  it('shares a database with other tables', () => {
    const db = new Database(path.join(dir, 'server.sqlite'));
    db.exec('CREATE TABLE jobs (id TEXT PRIMARY KEY)');
    const index = new SearchIndex(db, { dim, space: 's' });
    index.insert(record('x'), vector(1, dim));
    expect(db.prepare('SELECT COUNT(*) AS n FROM search_embeddings').get()).toEqual({ n: 1 });
    db.close();
  });
});

describe('VectorMatrix', () => {
  it('scores the same with the wasm SIMD kernel and the JS loop', () => {
    for (const dim of [8, 128, 512]) {
      const simd = new VectorMatrix(dim, 4);
      const plain = new VectorMatrix(dim, 4, false);
      expect(simd.simd).toBe(true);
      expect(plain.simd).toBe(false);
      const rows = 1500; // grows the memory at least once
      for (let r = 0; r < rows; r++) {
        simd.setRow(r, vector(r + 1, dim));
        plain.setRow(r, vector(r + 1, dim));
      }
      const q = vector(4242, dim);
      const a = Array.from(simd.scan(q, rows));
      const b = Array.from(plain.scan(q, rows));
      for (let r = 0; r < rows; r += 97) expect(a[r]).toBeCloseTo(b[r]!, 4);
      expect(a[rows - 1]).toBeCloseTo(Array.from(vector(rows, dim)).reduce((s, v, i) => s + v * q[i]!, 0), 4);
    }
  });

  it('refuses a capacity past what a wasm memory can hold, with a catalogue code', () => {
    const m = new VectorMatrix(512, 4);
    let code: string | undefined;
    try {
      m.reserve(3_000_000); // 6 GiB of float32: past wasm32's 4 GiB
    } catch (error) {
      code = isTesseraError(error) ? error.code : 'other';
    }
    expect(code).toBe('TESSERA_ERR_INDEX');
  });

  it('falls back to the JS loop for widths the kernel does not take', () => {
    const m = new VectorMatrix(6);
    expect(m.simd).toBe(false);
    m.setRow(0, Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(Array.from(m.scan(Float32Array.from([1, 1, 1, 1, 1, 1]), 1))).toEqual([21]);
  });
});

describe('topK', () => {
  it('matches a full sort, skips one slot, and breaks ties by order', () => {
    const scores = Float32Array.from([0.5, 0.9, 0.5, 0.1, 0.9, 0.7]);
    const order = Float64Array.from([6, 5, 4, 3, 2, 1]);
    expect(topK(scores, order, 6, 4).map((r) => r.slot)).toEqual([4, 1, 5, 2]);
    expect(topK(scores, order, 6, 3, 4).map((r) => r.slot)).toEqual([1, 5, 2]);
    expect(topK(scores, order, 6, 10).map((r) => r.slot)).toEqual([4, 1, 5, 2, 0, 3]);
    expect(topK(scores, order, 6, 0)).toEqual([]);
  });
});
