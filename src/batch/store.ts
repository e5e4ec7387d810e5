/**
 * The batch output folder's storage: atomic writes (temporary sibling, fsync, rename),
 * crash points for tests, and clean-up of temporaries a killed run left behind.
 *
 * Crash points (TESSERA_BATCH_CRASH_AT="kind:N", or a `crash` hook passed in): after the
 * N-th event of a kind the process is killed with SIGKILL, no cleanup, no flush:
 *   write   a temporary file was written and fsynced (not yet renamed)
 *   rename  a temporary file was renamed onto its final name
 *   record  a prompt's completion record was renamed into place
 *   any     any of the above, counted together
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

export type CrashKind = 'write' | 'rename' | 'record';

/** Called at every crash point; may kill the process (or throw, in in-process tests). */
export type CrashHook = (kind: CrashKind, count: { write: number; rename: number; record: number; any: number }) => void;

export const CRASH_ENV = 'TESSERA_BATCH_CRASH_AT';

/** Parses TESSERA_BATCH_CRASH_AT ("write:3", "rename:1", "record:2", "any:7") into a hook that SIGKILLs the process. */
export function crashHookFromEnv(value: string | undefined = process.env[CRASH_ENV]): CrashHook | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const match = /^(write|rename|record|any):(\d+)$/.exec(value.trim());
  if (match === null) throw new Error(`${CRASH_ENV} must look like "write:3", "rename:1", "record:2" or "any:7", got ${JSON.stringify(value)}`);
  const kind = match[1] as CrashKind | 'any';
  const n = Number(match[2]);
  return (_event, count) => {
    if (count[kind] === n) process.kill(process.pid, 'SIGKILL');
  };
}

/** Atomic file writes with crash points. */
export class Store {
  readonly count = { write: 0, rename: 0, record: 0, any: 0 };

  constructor(
    readonly dir: string,
    private readonly crash?: CrashHook,
  ) {}

  private point(kind: CrashKind): void {
    this.count[kind]++;
    this.count.any++;
    this.crash?.(kind, { ...this.count });
  }

  /** Writes `relative` (inside the folder) so that a reader only ever sees the old or the whole new content. */
  async write(relative: string, data: Uint8Array | string, { record = false } = {}): Promise<void> {
    const file = path.join(this.dir, relative);
    await writeFileAtomic(file, data, (point) => this.point(point));
    if (record) {
      await syncDir(path.dirname(file));
      this.point('record');
    }
  }
}

/** fsyncs a folder so a rename in it survives a power cut (not needed for SIGKILL, cheap enough). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms (Windows) cannot open or fsync a folder; the rename is still atomic.
  }
}

/** Removes the `.name.xxxxxxxx.tmp` files a killed run left in `dirs`; returns how many. */
export function removeTemporaries(dirs: string[]): number {
  let removed = 0;
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (/^\..+\.[0-9a-f]{8}\.tmp$/.test(name)) {
        rmSync(path.join(dir, name), { force: true });
        removed++;
      }
    }
  }
  return removed;
}
