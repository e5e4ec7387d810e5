import { Database } from '../util/sqlite.js';
import { TesseraError } from '../errors.js';
import { checkPage, type Page } from './params.js';
import { topK, type Ranked } from './topk.js';
import { VectorMatrix } from './matrix.js';
import { QuantizedRows } from './quantized.js';
import { checkBlob, normalised, toBlob } from './vectors.js';
import { SearchStore, type SearchRecord } from './store.js';

/**
 * Visual search over stored CLIP image embeddings (same.energy's idea: rank past images
 * by embedding similarity, not by keywords). SQLite is the store of record; every
 * vector is also kept in one contiguous matrix ([count, dim], src/search/matrix.ts) so
 * that a query is a single flat SIMD scan of dot products. Measured against sqlite-vec in
 * bench/search.bench.ts (docs/search.md): the flat scan is the one shipped. The SQL lives
 * in store.ts.
 */

export interface SearchHit extends SearchRecord {
  /** Cosine similarity with the query, in [-1, 1]. */
  score: number;
}

export interface SearchResultPage {
  /** Images that were ranked (all stored, less the query image for "more like this"). */
  total: number;
  offset: number;
  limit: number;
  data: SearchHit[];
}

export interface IndexOptions {
  /** Embedding width (CLIP's projection_dim). */
  dim: number;
  /**
   * Names the embedding space (e.g. the CLIP model's name): vectors from two CLIP
   * models are not comparable, so opening an index made with another space fails.
   */
  space: string;
}

export class SearchIndex {
  readonly dim: number;
  readonly space: string;
  /** [capacity, dim]; rows 0..count-1 are live. */
  private readonly vectors: VectorMatrix;
  /** int8 copy for the first pass of a query (null: every query scans float32); see quantized.ts. */
  private readonly quantized: QuantizedRows | null;
  /** Insertion sequence per slot: the tie-break, and the refresh watermark. */
  private seqs: Float64Array;
  private slotIds: string[] = [];
  /** The owner of each slot (null: unowned), for queries scoped to one tenant. */
  private slotOwners: (string | null)[] = [];
  private readonly slotOf = new Map<string, number>();
  private count = 0;
  /** Scratch bounds of the int8 pass ([capacity] each). */
  private upper = new Float32Array(0);
  private slots = new Int32Array(0);
  private lastSeq = 0;
  private readonly store: SearchStore;

  constructor(db: Database, options: IndexOptions) {
    if (!Number.isInteger(options.dim) || options.dim < 1) {
      throw new TesseraError('TESSERA_ERR_INDEX', `embedding width must be a positive integer, got ${options.dim}`);
    }
    this.dim = options.dim;
    this.space = options.space;
    this.vectors = new VectorMatrix(this.dim);
    this.quantized = process.env.TESSERA_SEARCH_EXACT_SCAN === '1' ? null : QuantizedRows.create(this.dim);
    this.seqs = new Float64Array(1024);
    this.store = new SearchStore(db);
    this.store.checkMeta(this.dim, this.space);
    this.loadAfter(0);
  }

  /** Opens (or creates) an index in its own SQLite file. WAL lets readers run beside the writer. */
  static open(file: string, options: IndexOptions): SearchIndex {
    const db = new Database(file);
    // A 512-wide embedding is a 2 KB blob: with SQLite's default 4 KB pages only one
    // row fits a page (3.9 GB per million rows, measured); 16 KB pages hold seven.
    // Takes effect only while the file is new.
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    return new SearchIndex(db, options);
  }

  close(): void {
    this.store.close();
  }

  get size(): number {
    return this.count;
  }

  has(id: string): boolean {
    return this.slotOf.has(id);
  }

  /** Every stored id, in slot order (a copy). */
  ids(): string[] {
    return this.slotIds.slice(0, this.count);
  }

  private grow(needed: number): void {
    if (needed <= this.seqs.length) return;
    let capacity = this.seqs.length;
    while (capacity < needed) capacity *= 2;
    const seqs = new Float64Array(capacity);
    seqs.set(this.seqs.subarray(0, this.count));
    this.seqs = seqs;
  }

  private place(id: string, owner: string | null, seq: number, vector: Float32Array | Buffer): void {
    this.grow(this.count + 1);
    const slot = this.count++;
    if (vector instanceof Float32Array) this.vectors.setRow(slot, vector);
    else this.vectors.setRowBytes(slot, vector);
    this.quantized?.setRow(slot, vector instanceof Float32Array ? vector : this.vectors.row(slot));
    this.seqs[slot] = seq;
    this.slotIds[slot] = id;
    this.slotOwners[slot] = owner;
    this.slotOf.set(id, slot);
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  /** Reads rows inserted after `seq` (all of them at open). */
  private loadAfter(seq: number): void {
    const pending = this.store.countAfter(seq);
    this.grow(this.count + pending);
    this.vectors.reserve(this.count + pending);
    for (const row of this.store.vectorsAfter(seq)) {
      checkBlob(row.embedding, this.dim, row.id);
      this.place(row.id, row.owner, row.seq, row.embedding);
    }
  }

  /**
   * Catches up with writes made through another connection (the server's store while
   * `tessera search` reads): new rows are appended; a deletion elsewhere shows as a
   * count mismatch and reloads everything.
   */
  refresh(): void {
    this.loadAfter(this.lastSeq);
    const stored = this.store.count();
    if (stored !== this.count) {
      this.count = 0;
      this.lastSeq = 0;
      this.slotIds = [];
      this.slotOwners = [];
      this.slotOf.clear();
      this.loadAfter(0);
    }
  }

  /** Stores records with their embeddings in one transaction; the memory copy follows only on commit. */
  insertMany(items: readonly { record: SearchRecord; embedding: ArrayLike<number> }[]): void {
    const seen = new Set<string>();
    const prepared = items.map(({ record, embedding }) => {
      if (typeof record.id !== 'string' || record.id === '') throw new TesseraError('TESSERA_ERR_EMBEDDING', 'a stored embedding needs a non-empty id');
      if (this.slotOf.has(record.id) || seen.has(record.id)) {
        throw new TesseraError('TESSERA_ERR_EMBEDDING', `the index already holds an image with id ${JSON.stringify(record.id)}`);
      }
      seen.add(record.id);
      return { record, vector: normalised(embedding, this.dim, `embedding of ${record.id}`) };
    });
    const seqs = this.store.insertMany(prepared.map(({ record, vector }) => ({ record, blob: toBlob(vector) })));
    prepared.forEach(({ record, vector }, i) => this.place(record.id, record.owner ?? null, seqs[i]!, vector));
  }

  insert(record: SearchRecord, embedding: ArrayLike<number>): void {
    this.insertMany([{ record, embedding }]);
  }

  /** Removes an image; the last slot moves into its place so the matrix stays dense. */
  delete(id: string): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    this.store.delete(id);
    const last = --this.count;
    if (slot !== last) {
      this.vectors.copyRow(last, slot);
      this.quantized?.copyRow(last, slot);
      this.seqs[slot] = this.seqs[last]!;
      this.slotIds[slot] = this.slotIds[last]!;
      this.slotOwners[slot] = this.slotOwners[last]!;
      this.slotOf.set(this.slotIds[slot]!, slot);
    }
    this.slotIds.length = last;
    this.slotOwners.length = last;
    this.slotOf.delete(id);
    return true;
  }

  /** The stored (normalised) embedding of `id`, a copy. */
  embedding(id: string): Float32Array {
    const slot = this.slotOf.get(id);
    if (slot === undefined) throw new TesseraError('TESSERA_ERR_SEARCH_NOT_FOUND', `no stored image has id ${JSON.stringify(id)}`, { param: 'like' });
    return this.vectors.row(slot);
  }

  /**
   * Ranks every stored image by cosine with `vector` (normalised here), one page of it.
   * With `owner`, only that tenant's images are ranked (and counted).
   */
  query(vector: ArrayLike<number>, page: Page = { offset: 0, limit: 20 }, owner?: string): SearchResultPage {
    return this.rank(normalised(vector, this.dim, 'query embedding'), page, -1, owner);
  }

  /**
   * "More like this": ranks by the stored embedding of `id`. The image itself is left
   * out (its score is always 1, so it would only push the page by one); another image
   * with an identical embedding is kept and ranks first.
   */
  moreLike(id: string, page: Page = { offset: 0, limit: 20 }, owner?: string): SearchResultPage {
    const slot = this.slotOf.get(id);
    // Another tenant's image is as absent as a missing one (its existence does not leak).
    if (owner !== undefined && slot !== undefined && this.slotOwners[slot] !== owner) {
      throw new TesseraError('TESSERA_ERR_SEARCH_NOT_FOUND', `no stored image has id ${JSON.stringify(id)}`, { param: 'like' });
    }
    const vector = this.embedding(id);
    return this.rank(vector, page, slot!, owner);
  }

  private rank(query: Float32Array, page: Page, skip: number, owner: string | undefined): SearchResultPage {
    const { offset, limit } = checkPage(page);
    if (owner !== undefined) return this.rankOwned(query, offset, limit, skip, owner);
    const ranked = (this.quantized === null ? this.exactTop(query, offset + limit, skip) : this.boundedTop(this.quantized, query, offset + limit, skip)).slice(offset);
    return this.page(ranked, skip >= 0 ? this.count - 1 : this.count, offset, limit);
  }

  private page(ranked: Ranked[], total: number, offset: number, limit: number): SearchResultPage {
    const records = this.store.records(ranked.map((r) => this.slotIds[r.slot]!));
    return {
      total,
      offset,
      limit,
      data: ranked.map((r) => ({ ...records.get(this.slotIds[r.slot]!)!, score: r.score })),
    };
  }

  /**
   * One tenant's page: float32 scores of that tenant's rows only (gathered like boundedTop's
   * survivors), ranked with the same tie order. Its cost follows the tenant's row count.
   */
  private rankOwned(query: Float32Array, offset: number, limit: number, skip: number, owner: string): SearchResultPage {
    const n = this.count;
    const slots = new Int32Array(n);
    let m = 0;
    for (let r = 0; r < n; r++) if (r !== skip && this.slotOwners[r] === owner) slots[m++] = r;
    const exact = new Float32Array(m);
    this.vectors.dotRows(query, slots, m, exact); // [m]
    const order = new Float64Array(m);
    for (let c = 0; c < m; c++) order[c] = this.seqs[slots[c]!]!;
    const ranked = topK(exact, order, m, offset + limit).map((r) => ({ slot: slots[r.slot]!, score: r.score }));
    return this.page(ranked.slice(offset), m, offset, limit);
  }

  /** The k best rows by a float32 scan of every row. */
  private exactTop(query: Float32Array, k: number, skip: number): Ranked[] {
    const scores = this.vectors.scan(query, this.count); // [count]
    return topK(scores, this.seqs, this.count, k, skip);
  }

  /**
   * The same k best rows, read from a quarter of the bytes: int8 bounds for every row,
   * then float32 scores for the rows whose upper bound reaches the k-th best lower
   * bound (quantized.ts proves the bound), ranked exactly as exactTop ranks them.
   */
  private boundedTop(quantized: QuantizedRows, query: Float32Array, k: number, skip: number): Ranked[] {
    const n = this.count;
    if (n === 0 || k <= 0) return [];
    if (this.upper.length < n) {
      this.upper = new Float32Array(this.seqs.length);
      this.slots = new Int32Array(this.seqs.length);
    }
    const { upper, slots } = this;
    const threshold = quantized.bounds(query, n, k, skip, upper); // upper: [n]
    let m = 0;
    for (let r = 0; r < n; r++) if (r !== skip && upper[r]! >= threshold) slots[m++] = r;
    const exact = new Float32Array(m);
    this.vectors.dotRows(query, slots, m, exact); // [m]
    const order = new Float64Array(m);
    for (let c = 0; c < m; c++) order[c] = this.seqs[slots[c]!]!;
    return topK(exact, order, m, k).map((r) => ({ slot: slots[r.slot]!, score: r.score }));
  }
}
