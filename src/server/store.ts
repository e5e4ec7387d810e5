/**
 * Results on disk: `<dataDir>/results/<id>/` holds the kept images (requested size and
 * format), every candidate at native size (PNG) and `record.json`; `<dataDir>/history.sqlite`
 * indexes them for listing and search. Request input never becomes a path unless it
 * matches a strict pattern AND names a row of the index; the resolved path is checked
 * to stay inside the results folder.
 */
import { Database } from '../util/sqlite.js';
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

export const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const FILE_PATTERN = /^(image|candidate)-\d{1,4}\.(png|jpeg|webp)$/;

// The record types belong to the one result writer's server layout.
export type { GenerationRecord, StoredImage } from '../output/server.js';
import type { GenerationRecord } from '../output/server.js';

/** Which owners a lookup may see: undefined for every owner (admins, local mode), else one tenant id. */
export type OwnerScope = string | undefined;

/** One kept image of a history entry, as the index holds it (best first). */
export interface KeptImage {
  file: string;
  rank: number;
  candidate_index: number;
  clip_score: number | null;
}

export interface HistoryEntry {
  id: string;
  created: number;
  prompt: string;
  model: string;
  seed: number;
  n: number;
  candidates: number;
  thumbnail: string | null;
  /** Every kept image, best first (issue 24: the gallery's grid shows each one). */
  kept: KeptImage[];
}

/** The index's copy of a record's kept images (JSON in the `kept` column). */
function keptOf(record: GenerationRecord): KeptImage[] {
  return record.images.map((i) => ({ file: i.file, rank: i.rank, candidate_index: i.candidate_index, clip_score: i.clip_score }));
}

export class ResultStore {
  readonly dataDir: string;
  readonly resultsDir: string;
  private db: Database;

  constructor(dataDir: string) {
    this.dataDir = path.resolve(dataDir);
    this.resultsDir = path.join(this.dataDir, 'results');
    mkdirSync(this.resultsDir, { recursive: true });
    this.db = new Database(path.join(this.dataDir, 'history.sqlite'));
    this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL: no fsync on the event loop per insert; the index stays consistent across crashes
    // (a power cut may lose the last rows, which record.json files still describe).
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS generations (
      id TEXT PRIMARY KEY,
      created INTEGER NOT NULL,
      prompt TEXT NOT NULL,
      model TEXT NOT NULL,
      seed INTEGER NOT NULL,
      n INTEGER NOT NULL,
      candidates INTEGER NOT NULL,
      thumbnail TEXT
    );
    CREATE INDEX IF NOT EXISTS generations_created ON generations (created DESC);`);
    // Issue 23: the tenant that made each entry. Rows from before tenancy (or made with no
    // keys configured) keep NULL: unowned, seen only by admin keys and in local mode.
    const columns = this.db.prepare('PRAGMA table_info(generations)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'owner')) this.db.exec('ALTER TABLE generations ADD COLUMN owner TEXT');
    this.db.exec('CREATE INDEX IF NOT EXISTS generations_owner ON generations (owner, created DESC)');
    // Issue 24: every kept image, written with the row so a history page needs no record.json.
    // Rows from before it keep NULL until listed once (keptFromRecord fills them in).
    if (!columns.some((c) => c.name === 'kept')) this.db.exec('ALTER TABLE generations ADD COLUMN kept TEXT');
  }

  /** The folder of a result, or null when `id` is not a well-formed id. */
  private folderOf(id: string): string | null {
    if (!ID_PATTERN.test(id)) return null;
    const folder = path.join(this.resultsDir, id);
    return path.dirname(folder) === this.resultsDir ? folder : null;
  }

  /** Writes one file of a result being stored (name must match FILE_PATTERN). */
  async writeFile(id: string, name: string, data: Uint8Array): Promise<void> {
    const folder = this.folderOf(id);
    if (folder === null || !FILE_PATTERN.test(name)) throw new Error(`refusing to write ${id}/${name}`);
    mkdirSync(folder, { recursive: true });
    await writeFileAtomic(path.join(folder, name), data);
  }

  /** Stores a result's record and its history row, owned by `owner` (a tenant id; null: unowned). */
  async save(record: GenerationRecord, owner: string | null = null): Promise<void> {
    const folder = this.folderOf(record.id);
    if (folder === null) throw new Error(`invalid id ${record.id}`);
    mkdirSync(folder, { recursive: true });
    await writeFileAtomic(path.join(folder, 'record.json'), JSON.stringify(record, null, 2) + '\n');
    this.db
      .prepare('INSERT OR REPLACE INTO generations (id, created, prompt, model, seed, n, candidates, thumbnail, owner, kept) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(record.id, record.created, record.prompt, record.model, record.seed, record.images.length, record.candidates.length, record.images[0]?.file ?? null, owner, JSON.stringify(keptOf(record)));
  }

  /** Whether an entry `id` exists that `scope` may see (another tenant's is as absent as a missing one). */
  has(id: string, scope: OwnerScope = undefined): boolean {
    if (!ID_PATTERN.test(id)) return false;
    const row = this.db.prepare('SELECT owner FROM generations WHERE id = ?').get(id) as { owner: string | null } | undefined;
    return row !== undefined && (scope === undefined || row.owner === scope);
  }

  /** The owner of entry `id` (null: unowned), or undefined when there is none. */
  ownerOf(id: string): string | null | undefined {
    if (!ID_PATTERN.test(id)) return undefined;
    return (this.db.prepare('SELECT owner FROM generations WHERE id = ?').get(id) as { owner: string | null } | undefined)?.owner;
  }

  async get(id: string, scope: OwnerScope = undefined): Promise<GenerationRecord | null> {
    const folder = this.folderOf(id);
    if (folder === null || !this.has(id, scope)) return null;
    const { readFile } = await import('node:fs/promises');
    try {
      return JSON.parse(await readFile(path.join(folder, 'record.json'), 'utf8')) as GenerationRecord;
    } catch {
      return null;
    }
  }

  /**
   * Newest first. `cursor` (the `nextCursor` of the page before: "<created>.<rowid>" of its
   * last row) pages by position, so rows added or deleted meanwhile neither repeat nor skip.
   */
  list(options: { q?: string; limit?: number; offset?: number; cursor?: { created: number; rowid: number }; scope?: OwnerScope } = {}): { total: number; entries: HistoryEntry[]; nextCursor: string | null } {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 200);
    const offset = Math.max(options.offset ?? 0, 0);
    const q = options.q?.trim() ?? '';
    const conditions: string[] = [];
    const args: (string | number)[] = [];
    if (q !== '') {
      conditions.push("prompt LIKE ? ESCAPE '\\'");
      args.push(`%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    if (options.scope !== undefined) {
      conditions.push('owner = ?');
      args.push(options.scope);
    }
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    const columns = 'id, created, prompt, model, seed, n, candidates, thumbnail, kept';
    const total = (this.db.prepare(`SELECT COUNT(*) AS c FROM generations ${where}`).get(...args) as { c: number }).c;
    const { cursor } = options;
    const after = cursor === undefined ? '' : `${where === '' ? 'WHERE' : `${where} AND`} (created < ? OR (created = ? AND rowid < ?))`;
    const pageArgs = cursor === undefined ? args : [...args, cursor.created, cursor.created, cursor.rowid];
    const rows = this.db
      .prepare(`SELECT ${columns}, rowid AS page_rowid FROM generations ${cursor === undefined ? where : after} ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?`)
      .all(...pageArgs, limit + 1, offset) as (Omit<HistoryEntry, 'kept'> & { kept: string | null; page_rowid: number })[];
    const more = rows.length > limit;
    const entries = rows.slice(0, limit).map(({ page_rowid: _rowid, kept, ...entry }) => ({ ...entry, kept: kept === null ? this.keptFromRecord(entry) : (JSON.parse(kept) as KeptImage[]) }));
    const last = rows[limit - 1];
    return { total, entries, nextCursor: more ? `${last.created}.${last.page_rowid}` : null };
  }

  /**
   * The kept images of a row written before the index held them: read from its record.json
   * once and stored in the row, so the next listing reads the index alone. A record that
   * cannot be read falls back to the thumbnail (and is not stored: it may be mid-write).
   */
  private keptFromRecord(entry: Omit<HistoryEntry, 'kept'>): KeptImage[] {
    const folder = this.folderOf(entry.id);
    try {
      if (folder === null) throw new Error('bad id');
      const kept = keptOf(JSON.parse(readFileSync(path.join(folder, 'record.json'), 'utf8')) as GenerationRecord);
      this.db.prepare('UPDATE generations SET kept = ? WHERE id = ?').run(JSON.stringify(kept), entry.id);
      return kept;
    } catch {
      return entry.thumbnail === null ? [] : [{ file: entry.thumbnail, rank: 1, candidate_index: 0, clip_score: null }];
    }
  }

  /** Deletes the index row and the result's folder; false when there was no such entry (that `scope` may see). */
  async delete(id: string, scope: OwnerScope = undefined): Promise<boolean> {
    const folder = this.folderOf(id);
    if (folder === null || !this.has(id, scope)) return false;
    this.db.prepare('DELETE FROM generations WHERE id = ?').run(id);
    await rm(folder, { recursive: true, force: true });
    return true;
  }

  /** The on-disk path of a stored file, or null when id/name are malformed, unknown, or escape the folder. */
  filePath(id: string, name: string, scope: OwnerScope = undefined): string | null {
    const folder = this.folderOf(id);
    if (folder === null || !FILE_PATTERN.test(name) || !this.has(id, scope)) return null;
    const file = path.join(folder, name);
    if (!existsSync(file)) return null;
    const real = realpathSync(file);
    const root = realpathSync(this.resultsDir);
    return real.startsWith(root + path.sep) ? real : null;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS c FROM generations').get() as { c: number }).c;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
