/**
 * Search index benchmark: insert and query at 10k, 100k and 1M stored vectors, at the
 * shipped CLIP's embedding width (models/default/clip/config.json projection_dim) and
 * at 512 (clip-vit-base-patch32), for two designs:
 *
 *   flat  SearchIndex (src/search) as shipped: SQLite rows, the vectors in memory, an
 *         int8 first pass with a proven error bound, float32 scores for the few rows
 *         it cannot rule out, a k-heap (src/search/quantized.ts);
 *   exact the same index with TESSERA_SEARCH_EXACT_SCAN=1: a float32 scan of every row
 *         (the design before the int8 pass; same results);
 *   vec   sqlite-vec's vec0 virtual table (brute-force KNN in C, cosine metric), when
 *         its loadable extension is found: `sqlite-vec` installed, or its vec0.so named
 *         by TESSERA_SQLITE_VEC.
 *
 * Vectors are random unit vectors from a seeded generator (the scan's cost does not
 * depend on the values). Each query ranks all vectors for a page of 20. p50/p95 over
 * --queries queries after 3 warm-up queries. Run the 1M case with `nice`:
 *
 *   nice -n 10 npx tsx bench/search.bench.ts [--sizes 10000,100000,1000000]
 *     [--dims 128,512] [--backends flat,vec] [--queries 50] [--json]
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Database } from '../src/util/sqlite.js';
import { SearchIndex } from '../src/search/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const clipConfig = JSON.parse(readFileSync(path.join(here, '../models/default/clip/config.json'), 'utf8')) as { projection_dim: number };
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    dims: { type: 'string', default: `${clipConfig.projection_dim},512` },
    backends: { type: 'string', default: 'flat,exact,vec' },
    queries: { type: 'string', default: '50' },
    json: { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const dims = values.dims.split(',').map(Number);
const backends = values.backends.split(',');
const queryCount = Number(values.queries);
const BATCH = 10_000;
const PAGE = 20;

/** mulberry32 plus Box-Muller: a unit vector is a normalised Gaussian one. */
function randomSource(seed: number): (dim: number) => Float32Array {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (dim) => {
    const v = new Float32Array(dim);
    let sum = 0;
    for (let i = 0; i < dim; i++) {
      v[i] = Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
      sum += v[i]! * v[i]!;
    }
    const scale = 1 / Math.sqrt(sum);
    for (let i = 0; i < dim; i++) v[i]! *= scale;
    return v;
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function timeQueries(run: (q: Float32Array) => void, next: () => Float32Array): { p50: number; p95: number } {
  for (let i = 0; i < 3; i++) run(next());
  const times: number[] = [];
  for (let i = 0; i < queryCount; i++) {
    const q = next();
    const started = performance.now();
    run(q);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p95: quantile(times, 0.95) };
}

function vecPath(): string | null {
  if (process.env.TESSERA_SQLITE_VEC) return process.env.TESSERA_SQLITE_VEC;
  try {
    const sqliteVec = createRequire(import.meta.url)('sqlite-vec') as { getLoadablePath(): string };
    return sqliteVec.getLoadablePath();
  } catch {
    return null;
  }
}

interface Row {
  backend: string;
  dim: number;
  size: number;
  insertS: number;
  insertPerS: number;
  openS: number | null;
  queryP50Ms: number;
  queryP95Ms: number;
  fileMiB: number;
  rssMiB: number;
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

function benchFlat(dim: number, size: number, dir: string, backend: 'flat' | 'exact'): Row {
  if (backend === 'exact') process.env.TESSERA_SEARCH_EXACT_SCAN = '1';
  else delete process.env.TESSERA_SEARCH_EXACT_SCAN;
  const file = path.join(dir, `${backend}-${dim}-${size}.sqlite`);
  const next = randomSource(dim * 7919 + size);
  let index = SearchIndex.open(file, { dim, space: 'bench' });
  const started = performance.now();
  for (let done = 0; done < size; done += BATCH) {
    const items = [];
    for (let i = done; i < Math.min(size, done + BATCH); i++) {
      items.push({ record: { id: `img-${i}`, prompt: `prompt ${i % 997}`, model: 'bench', created: 1_700_000_000 + i, source: `run/${i}.png` }, embedding: next(dim) });
    }
    index.insertMany(items);
  }
  const insertS = (performance.now() - started) / 1000;
  index.close();
  const openStarted = performance.now();
  index = SearchIndex.open(file, { dim, space: 'bench' }); // the load a fresh process pays
  const openS = (performance.now() - openStarted) / 1000;
  const { p50, p95 } = timeQueries((q) => index.query(q, { offset: 0, limit: PAGE }), () => next(dim));
  const rss = process.memoryUsage().rss;
  index.close();
  return { backend, dim, size, insertS, insertPerS: size / insertS, openS, queryP50Ms: p50, queryP95Ms: p95, fileMiB: mib(statSync(file).size), rssMiB: mib(rss) };
}

function benchVec(dim: number, size: number, dir: string, extension: string): Row {
  const file = path.join(dir, `vec-${dim}-${size}.sqlite`);
  const next = randomSource(dim * 7919 + size);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.loadExtension(extension);
  db.exec(`CREATE VIRTUAL TABLE vectors USING vec0(embedding float[${dim}] distance_metric=cosine)`);
  db.exec('CREATE TABLE records (id INTEGER PRIMARY KEY, image TEXT, prompt TEXT, model TEXT, created INTEGER, source TEXT)');
  const insertVector = db.prepare('INSERT INTO vectors (rowid, embedding) VALUES (?, ?)');
  const insertRecord = db.prepare('INSERT INTO records (id, image, prompt, model, created, source) VALUES (?, ?, ?, ?, ?, ?)');
  const started = performance.now();
  for (let done = 0; done < size; done += BATCH) {
    db.transaction(() => {
      for (let i = done; i < Math.min(size, done + BATCH); i++) {
        const v = next(dim);
        insertVector.run(BigInt(i + 1), Buffer.from(v.buffer));
        insertRecord.run(i + 1, `img-${i}`, `prompt ${i % 997}`, 'bench', 1_700_000_000 + i, `run/${i}.png`);
      }
    })();
  }
  const insertS = (performance.now() - started) / 1000;
  const knn = db.prepare(
    'SELECT r.image, r.prompt, r.source, 1 - v.distance AS score FROM (SELECT rowid, distance FROM vectors WHERE embedding MATCH ? AND k = ?) v JOIN records r ON r.id = v.rowid ORDER BY v.distance',
  );
  const { p50, p95 } = timeQueries((q) => knn.all(Buffer.from(q.buffer), PAGE), () => next(dim));
  const rss = process.memoryUsage().rss;
  db.close();
  return { backend: 'vec', dim, size, insertS, insertPerS: size / insertS, openS: null, queryP50Ms: p50, queryP95Ms: p95, fileMiB: mib(statSync(file).size), rssMiB: mib(rss) };
}

const dir = mkdtempSync(path.join(tmpdir(), 'tessera-search-bench-'));
const extension = backends.includes('vec') ? vecPath() : null;
if (backends.includes('vec') && extension === null) console.error('sqlite-vec not found (npm i sqlite-vec, or TESSERA_SQLITE_VEC=/path/vec0.so): vec rows skipped');
const rows: Row[] = [];
try {
  for (const dim of dims) {
    for (const size of sizes) {
      for (const backend of backends) {
        if (backend === 'vec' && extension === null) continue;
        const row = backend === 'flat' || backend === 'exact' ? benchFlat(dim, size, dir, backend) : benchVec(dim, size, dir, extension!);
        rows.push(row);
        rmSync(path.join(dir, `${backend}-${dim}-${size}.sqlite`), { force: true });
        rmSync(path.join(dir, `${backend}-${dim}-${size}.sqlite-wal`), { force: true });
        if (!values.json) {
          console.log(
            `${row.backend.padEnd(5)} dim ${String(dim).padStart(3)} n ${String(size).padStart(7)}: insert ${row.insertS.toFixed(1)} s (${Math.round(row.insertPerS)}/s)` +
              `${row.openS === null ? '' : `, open ${row.openS.toFixed(2)} s`}, query p50 ${row.queryP50Ms.toFixed(1)} ms p95 ${row.queryP95Ms.toFixed(1)} ms, file ${row.fileMiB} MiB, rss ${row.rssMiB} MiB`,
          );
        }
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (values.json) console.log(JSON.stringify({ queries: queryCount, page: PAGE, rows }, null, 2));
