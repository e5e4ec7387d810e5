/**
 * One `tessera batch` run (runBatch) per output folder. Two runs on one folder would both do all
 * the work and remove each other's temporaries, so a run holds `.tessera-batch.lock`
 * (its pid, host, process start time and a random token) from start to end.
 *
 * Taking it is atomic: the content is written to a private file which is then hard-linked
 * to the lock name (link fails if the name exists). A lock whose process is gone (no
 * such pid, or the pid now belongs to a process started at another time) is stale: it
 * is renamed aside, checked to be the one judged stale, and removed; then taking the
 * lock is retried. A lock held by another host is never taken over.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TesseraError } from '../errors.js';

export const LOCK_NAME = '.tessera-batch.lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** The holder's start time as the kernel counts it (/proc/<pid>/stat field 22), when known: tells a reused pid apart. */
  processStart: string | null;
  since: string;
  token: string;
}

export interface FolderLock {
  readonly file: string;
  /** Whether taking the lock created the folder (release removes it again if it is still empty). */
  readonly created: boolean;
  /** Stale locks of dead runs that were taken over on the way (for a notice). */
  readonly tookOver: LockHolder[];
  /** Removes the lock if it is still ours (and the folder, if the lock made it and nothing else was written); safe to call twice. */
  release(): void;
}

/** The fields of /proc/<pid>/stat after the command name (Linux), or null where /proc does not say. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The kernel's start time of a process (Linux), or null where /proc does not say. */
export function processStartOf(pid: number): string | null {
  return statFields(pid)?.[19] ?? null; // field 22 overall: starttime
}

/**
 * Whether a process has exited and only waits to be reaped (Linux state Z, zombie; X, dead):
 * it runs nothing and holds nothing, whatever kill(pid, 0) says. False where /proc does not say.
 */
export function isZombie(pid: number): boolean {
  const state = statFields(pid)?.[0]; // field 3 overall: state
  return state === 'Z' || state === 'X';
}

function alive(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return true; // cannot tell from here: never steal
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (isZombie(holder.pid)) return false;
  const start = processStartOf(holder.pid);
  return holder.processStart === null || start === null || start === holder.processStart;
}

function readHolder(file: string): LockHolder | null {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string' || typeof value.token !== 'string') return null;
    return { pid: value.pid, host: value.host, processStart: value.processStart ?? null, since: String(value.since), token: value.token };
  } catch {
    return null;
  }
}

function busy(dir: string, holder: LockHolder | null): TesseraError {
  const who = holder === null ? 'another run' : `batch run ${holder.pid} on ${holder.host} (since ${holder.since})`;
  return new TesseraError(
    'TESSERA_ERR_FOLDER_LOCKED',
    `output folder ${dir} is in use by ${who}: wait for it to finish or stop it (a lock left by a process that died is taken over automatically; ${LOCK_NAME} in the folder is the lock)`,
    { param: 'out' },
  );
}

/** Takes the folder's lock (creating the folder); TESSERA_ERR_FOLDER_LOCKED when a live run holds it. */
export function acquireFolderLock(dir: string): FolderLock {
  const resolved = path.resolve(dir);
  let created: boolean;
  try {
    created = mkdirSync(resolved, { recursive: true }) !== undefined;
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_OUTPUT', `cannot create output folder ${resolved}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      param: 'out',
      cause: error,
    });
  }
  const file = path.join(resolved, LOCK_NAME);
  const me: LockHolder = { pid: process.pid, host: os.hostname(), processStart: processStartOf(process.pid), since: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const mine = `${file}.${me.token}.new`;
  writeFileSync(mine, JSON.stringify(me) + '\n');
  const tookOver: LockHolder[] = [];
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        linkSync(mine, file);
        return lockHandle(file, me, tookOver, created);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(file);
      if (holder === null) {
        // Unreadable: a lock from an older format or a damaged disk. Only an old one is taken over.
        const age = Date.now() - (statMs(file) ?? Date.now());
        if (age < 60_000) throw busy(resolved, null);
      } else if (alive(holder)) {
        throw busy(resolved, holder);
      }
      const aside = `${file}.${me.token}.stale`;
      try {
        renameSync(file, aside);
      } catch {
        continue; // someone else moved it first: look again
      }
      const moved = readHolder(aside);
      if (holder !== null && moved?.token !== holder.token) {
        // Between reading and renaming, another run replaced the stale lock with its live one: put it back.
        try {
          linkSync(aside, file);
        } catch {
          // the name is taken again; the next attempt reads whoever holds it
        }
        unlinkSync(aside);
        continue;
      }
      unlinkSync(aside);
      if (holder !== null) tookOver.push(holder);
    }
    throw busy(resolved, readHolder(file));
  } finally {
    unlinkSync(mine);
  }
}

function statMs(file: string): number | null {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function lockHandle(file: string, me: LockHolder, tookOver: LockHolder[], created: boolean): FolderLock {
  let released = false;
  return {
    file,
    created,
    tookOver,
    release() {
      if (released) return;
      released = true;
      if (readHolder(file)?.token === me.token) {
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      }
      if (created) {
        try {
          if (readdirSync(path.dirname(file)).length === 0) rmdirSync(path.dirname(file));
        } catch {
          // not empty, or gone: leave it
        }
      }
    },
  };
}
