/**
 * Child process of sqlite-gc.test.ts (run with `node --import tsx`): uses the history store
 * the way a server does (statements prepared per call, stores opened and closed) while the
 * event loop turns and garbage piles up, so V8's background collections (run from platform
 * tasks, with no JavaScript context entered) finalize the dropped SQLite objects. With a
 * driver whose finalizers need a context (better-sqlite3 12 on Node >= 24.19) the process
 * aborts here; it must exit 0 and print the line the test reads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResultStore } from '../../src/server/store.js';
import { SQLITE_BUILD } from '../../src/util/sqlite.js';

const ID = '00000000-0000-4000-8000-000000000000';
const stores = Number(process.argv[2] ?? 4);
const rounds = Number(process.argv[3] ?? 60);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'tessera-sqlite-gc-'));
let calls = 0;
try {
  for (let s = 0; s < stores; s++) {
    const store = new ResultStore(path.join(scratch, `data-${s}`));
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 25; i++) {
        store.has(ID);
        store.list({ q: `prompt ${i}`, limit: 10 });
        calls += 2;
      }
      // Young-generation garbage beside the statements: V8 schedules its scavenge as a task.
      const junk: { i: number; text: string }[] = [];
      for (let i = 0; i < 2000; i++) junk.push({ i, text: `junk ${i} ${r}` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    store.close();
  }
  process.stdout.write(`sqlite-gc: ${calls} store calls on ${stores} stores (${SQLITE_BUILD} build), clean\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
