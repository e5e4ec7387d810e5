/**
 * Package file verification (every file a manifest lists, by sha256) and remembered
 * verifications: a package file whose sha256 matched its manifest is noted
 * with its stat stamp (device, inode, size, modification time in ns) in the user's cache
 * directory, and a later load that finds the same stamp skips hashing it again.
 *
 * Why: loading hashes every file a manifest lists, so a corrupt or half-copied package fails
 * by name before anything runs. For a DALL·E Mini package that is ~1.3 s of every one-shot
 * `tessera generate` (Mega's weights are ~3x as large), spent re-proving what has not
 * changed. A stamp changes whenever the file is rewritten, replaced, truncated or copied
 * over, which is how a package gets corrupted in practice; what it cannot see is a
 * same-size in-place change that also restores the old modification time (bit rot, tools
 * that forge times), so `TESSERA_VERIFY_FILES=always` hashes every file on every load, and
 * `tessera pull` always does. The same trade as git's index (racy-git aside) and make.
 * The notes live beside the precision decisions (cacheDir(), PRECISION_CACHE_FILE's folder);
 * an unwritable or garbled notes file only means hashing again.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import type { ModelManifest } from './manifest.js';

export const VERIFIED_FILES_CACHE = 'verified-files.json';

/** Notes kept at most: the oldest go first (a note is ~200 bytes). */
const MAX_NOTES = 2000;

interface Note {
  stamp: string;
  sha256: string;
}

/** What makes a file "the same file, unchanged" without reading it. */
export function statStamp(file: string): string {
  const s = statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

export class VerifiedFiles {
  private readonly file: string;
  private notes: Map<string, Note>;
  private changed = false;
  /** Files this instance let pass on their notes, and files noted after hashing. */
  skipped = 0;
  hashed = 0;

  /** `dir`: the cache directory (cacheDir()); the notes file is read now. */
  constructor(dir: string) {
    this.file = path.join(dir, VERIFIED_FILES_CACHE);
    this.notes = new Map();
    try {
      const raw = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, Note>;
      for (const [name, note] of Object.entries(raw)) {
        if (typeof note?.stamp === 'string' && typeof note.sha256 === 'string') this.notes.set(name, note);
      }
    } catch {
      this.notes = new Map(); // none yet, or unreadable: every file is hashed
    }
  }

  /** Whether `file`, as it is now, was verified to have `sha256` before. */
  known(file: string, sha256: string): boolean {
    const note = this.notes.get(path.resolve(file));
    const known = note !== undefined && note.sha256 === sha256 && note.stamp === statStamp(file);
    if (known) this.skipped += 1;
    return known;
  }

  /** Notes that `file`, with the stamp it has now, hashed to `sha256` (a match with its manifest). */
  remember(file: string, sha256: string): void {
    const name = path.resolve(file);
    this.notes.delete(name); // re-inserted last: Map order is the age order
    this.notes.set(name, { stamp: statStamp(file), sha256 });
    this.changed = true;
    this.hashed += 1;
  }

  /** Writes the notes if any changed (atomically: a reader sees the old file or the new one). */
  save(): void {
    if (!this.changed) return;
    const entries = [...this.notes].slice(-MAX_NOTES);
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      const temporary = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(Object.fromEntries(entries)));
      renameSync(temporary, this.file);
      this.changed = false;
    } catch {
      // A read-only cache directory: the next load hashes again, nothing else changes.
    }
  }
}

/** Whether loads may skip files verified before (TESSERA_VERIFY_FILES=always: never). */
export function rememberVerifications(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TESSERA_VERIFY_FILES !== 'always';
}

export function sha256OfFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Hashes every file the manifest lists; the first missing or mismatching file fails, by name.
 * With `remembered`, a file verified before and unchanged since (same stat stamp) is not
 * hashed again, and every file that matches is noted (verified-files.ts).
 */
export async function verifyPackageFiles(dir: string, manifest: ModelManifest, remembered?: VerifiedFiles): Promise<void> {
  for (const [relative, expected] of Object.entries(manifest.files)) {
    const file = path.join(dir, relative);
    if (!existsSync(file)) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `model package ${dir}: ${relative} is missing`, { param: 'model' });
    }
    if (remembered?.known(file, expected)) continue;
    const actual = await sha256OfFile(file);
    if (actual !== expected) {
      throw new TesseraError(
        'TESSERA_ERR_MODEL_FILE',
        `model package ${dir}: ${relative} is corrupt (sha256 ${actual.slice(0, 12)}…, manifest says ${expected.slice(0, 12)}…)`,
        { param: 'model' },
      );
    }
    remembered?.remember(file, actual);
  }
  remembered?.save();
}
