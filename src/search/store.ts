/**
 * The search index's store of record: one SQLite table of records with their embeddings
 * (as little-endian float32 blobs) and a small table naming the embedding space. Kept
 * apart from index.ts, which holds every vector in memory and ranks by scanning it: this
 * module is all the SQL, that one never touches it.
 */
import { TesseraError } from '../errors.js';
import type { Database } from '../util/sqlite.js';

export interface SearchRecord {
  id: string;
  prompt: string;
  /** The generator model that made the image. */
  model: string;
  /** Unix seconds. */
  created: number;
  /** Where the image lies: a path relative to the searched folder, or `job/file` on the server. */
  source: string;
  /** The server tenant that made it (issue 23); null or absent: unowned (a batch folder, or before tenancy). */
  owner?: string | null;
}

/** What the scans need of a stored row: its insertion sequence, id and embedding blob. */
export interface StoredVector {
  seq: number;
  id: string;
  owner: string | null;
  embedding: Buffer;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS search_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS search_embeddings (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  prompt TEXT NOT NULL,
  model TEXT NOT NULL,
  created INTEGER NOT NULL,
  source TEXT NOT NULL,
  embedding BLOB NOT NULL
);`;

export class SearchStore {
  constructor(private readonly db: Database) {
    db.exec(SCHEMA);
    // Issue 23: each row's tenant. Rows of an index from before tenancy stay NULL (unowned:
    // only admin keys and local mode see them on the server).
    const columns = db.prepare<[], { name: string }>('PRAGMA table_info(search_embeddings)').all();
    if (!columns.some((c) => c.name === 'owner')) db.exec('ALTER TABLE search_embeddings ADD COLUMN owner TEXT');
  }

  close(): void {
    this.db.close();
  }

  /** Records the embedding space of a new store; fails if an existing one holds another. */
  checkMeta(dim: number, space: string): void {
    const get = this.db.prepare<[string], { value: string }>('SELECT value FROM search_meta WHERE key = ?');
    const storedDim = get.get('dim')?.value;
    const storedSpace = get.get('space')?.value;
    if (storedDim === undefined) {
      const put = this.db.prepare('INSERT INTO search_meta (key, value) VALUES (?, ?)');
      put.run('dim', String(dim));
      put.run('space', space);
      return;
    }
    if (Number(storedDim) !== dim || storedSpace !== space) {
      throw new TesseraError(
        'TESSERA_ERR_INDEX',
        `the index holds ${storedDim}-wide embeddings of ${JSON.stringify(storedSpace)}; asked for ${dim}-wide ones of ${JSON.stringify(space)}`,
      );
    }
  }

  /** Rows stored after insertion sequence `seq`. */
  countAfter(seq: number): number {
    return this.db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM search_embeddings WHERE seq > ?').get(seq)!.n;
  }

  /** The rows stored after `seq`, in insertion order. */
  vectorsAfter(seq: number): IterableIterator<StoredVector> {
    return this.db.prepare<[number], StoredVector>('SELECT seq, id, owner, embedding FROM search_embeddings WHERE seq > ? ORDER BY seq').iterate(seq);
  }

  /** Rows stored, by any connection. */
  count(): number {
    return this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM search_embeddings').get()!.n;
  }

  /** Stores records with their embedding blobs in one transaction; returns their insertion sequences. */
  insertMany(rows: readonly { record: SearchRecord; blob: Buffer }[]): number[] {
    const insert = this.db.prepare('INSERT INTO search_embeddings (id, prompt, model, created, source, embedding, owner) VALUES (?, ?, ?, ?, ?, ?, ?)');
    return this.db.transaction(() =>
      rows.map(({ record, blob }) =>
        Number(insert.run(record.id, record.prompt, record.model, Math.trunc(record.created), record.source, blob, record.owner ?? null).lastInsertRowid),
      ),
    )();
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM search_embeddings WHERE id = ?').run(id);
  }

  /** Fields of one page of results (only vectors live in memory). */
  records(ids: readonly string[]): Map<string, SearchRecord> {
    const out = new Map<string, SearchRecord>();
    if (ids.length === 0) return out;
    const rows = this.db
      .prepare<string[], SearchRecord>(`SELECT id, prompt, model, created, source FROM search_embeddings WHERE id IN (${ids.map(() => '?').join(',')})`)
      .all(...ids);
    for (const row of rows) out.set(row.id, row);
    return out;
  }
}
