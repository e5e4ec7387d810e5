import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { TesseraError } from '../errors.js';

/**
 * Writes a file so that readers (and a re-run after SIGKILL) only ever see the old
 * content or the whole new content: write a temporary sibling, fsync, rename.
 */
export async function writeFileAtomic(
  file: string,
  data: Uint8Array | string,
  /** Called after the temporary file is complete and after the rename (crash tests hook in here). */
  onPoint?: (point: 'write' | 'rename') => void,
): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  onPoint?.('write');
  await rename(temporary, file);
  onPoint?.('rename');
}

/** Creates `dir` if needed and fails with TESSERA_ERR_OUTPUT unless it is a writable folder. */
export function ensureWritableDir(dir: string, param = 'out'): string {
  const resolved = path.resolve(dir);
  try {
    // One level at a time: Node 20's recursive mkdirSync never returns for some paths
    // (under /proc, for one), where a plain mkdirSync fails with an error to report.
    const missing: string[] = [];
    for (let p = resolved; !existsSync(p); p = path.dirname(p)) missing.unshift(p);
    for (const p of missing) mkdirSync(p);
    if (!statSync(resolved).isDirectory()) throw new Error('not a folder');
    accessSync(resolved, constants.W_OK);
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_OUTPUT', `output folder ${resolved} is not writable: ${(error as Error).message}`, { param, cause: error });
  }
  return resolved;
}

/** A short file-name slug of a prompt: lower-case words joined by '-', at most `max` characters. */
export function slugOf(text: string, max = 48): string {
  const slug = text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '');
  return slug === '' ? 'image' : slug;
}
