/**
 * The Hugging Face cache layout (huggingface_hub's file_download.py, and @huggingface/hub's
 * downloadFileToCacheDir): models--owner--name/blobs/<etag> holds each file once,
 * snapshots/<commit>/<path> links to it, refs/<revision> names the commit. Downloads land
 * here, so `huggingface-cli scan-cache` sees them and a second pull finds them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';

export interface RepoCache {
  /** models--owner--name */
  dir: string;
  blob(etag: string): string;
  snapshot(commit: string, file: string): string;
  /** The commit refs/<revision> names, if any. */
  readRef(revision: string): string | undefined;
  writeRef(revision: string, commit: string): Promise<void>;
  /** snapshots/<commit>/<file> -> ../../blobs/<etag> (relative, as huggingface_hub links). */
  link(commit: string, file: string, etag: string): Promise<string>;
}

/** A hub file path that stays inside the folder it is joined to. */
export function safeRelative(file: string): boolean {
  return file !== '' && !path.isAbsolute(file) && !file.split(/[\\/]/).some((part) => part === '..' || part === '');
}

export function repoCache(hubCache: string, repo: string): RepoCache {
  const dir = path.join(hubCache, getRepoFolderName({ type: 'model', name: repo }));
  const blob = (etag: string) => path.join(dir, 'blobs', etag);
  const snapshot = (commit: string, file: string) => path.join(dir, 'snapshots', commit, file);
  return {
    dir,
    blob,
    snapshot,
    readRef: (revision) => {
      const ref = path.join(dir, 'refs', revision);
      return existsSync(ref) ? readFileSync(ref, 'utf8').trim() : undefined;
    },
    writeRef: async (revision, commit) => {
      await mkdir(path.join(dir, 'refs'), { recursive: true });
      await writeFile(path.join(dir, 'refs', revision), commit);
    },
    link: async (commit, file, etag) => {
      const pointer = snapshot(commit, file);
      await mkdir(path.dirname(pointer), { recursive: true });
      await rm(pointer, { force: true });
      await symlink(path.relative(path.dirname(pointer), blob(etag)), pointer);
      return pointer;
    },
  };
}
