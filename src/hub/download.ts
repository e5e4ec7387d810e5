/**
 * One file from the Hub, resumable and verified. @huggingface/hub does the Hub's part:
 * `fileDownloadInfo` (the URL layout, credentials, size and ETag, EntryNotFound) and
 * `downloadFile` (a Blob whose slices are HTTP Range requests). Here: the `.incomplete`
 * file a resume appends to (as huggingface_hub's cache does), the checksum, the atomic
 * rename, and the errors in the catalogue's words.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, statfs, truncate } from 'node:fs/promises';
import path from 'node:path';
import { downloadFile, fileDownloadInfo, HubApiError } from '@huggingface/hub';
import { TesseraError } from '../errors.js';
import type { HubSettings } from './settings.js';

/** What the Hub says of one file. */
export interface RemoteFile {
  path: string;
  size: number;
  /** The ETag without quotes: an LFS file's sha256 (X-Linked-Etag), a git file's blob sha1. */
  etag: string;
  /** The commit the revision pointed at (X-Repo-Commit), when the hub says. */
  commit: string | undefined;
}

/** Where bytes go: the default appends to the file; tests inject a full disk. */
export interface AppendSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface DownloadSeams {
  fetch?: typeof fetch;
  /** Bytes free where `dir` is (default: statfs). */
  freeBytes?: (dir: string) => Promise<number>;
  openForAppend?: (file: string) => Promise<AppendSink>;
}

export interface ByteProgress {
  file: string;
  done: number;
  total: number;
}

/** What the first hop of a request said (the Hub's headers live on its redirect). */
interface Hop {
  commit?: string;
  rangeIgnored?: boolean;
}

/**
 * fetch with the first redirect followed by hand, so that the Hub's own headers on its 302
 * (X-Linked-Etag: the sha256 of an LFS file, X-Linked-Size, X-Repo-Commit) reach
 * fileDownloadInfo: after an automatic redirect only the CDN's headers are left
 * (huggingface_hub reads them from a HEAD without redirects for the same reason).
 */
export function hubFetch(hop: Hop, base: typeof fetch = fetch): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const from = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const first = await base(input, { ...init, redirect: 'manual' });
    hop.commit = first.headers.get('x-repo-commit') ?? hop.commit;
    let response = first;
    const location = first.headers.get('location');
    if (first.status >= 300 && first.status < 400 && location !== null) {
      const to = new URL(location, from);
      const headers = new Headers(init?.headers);
      // The token goes to the hub only, never to a CDN of another origin (as fetch's own redirects do).
      if (to.origin !== from.origin) headers.delete('authorization');
      await first.body?.cancel();
      const final = await base(to, { ...init, headers, redirect: 'follow' });
      const merged = new Headers(final.headers);
      for (const name of ['x-linked-etag', 'x-linked-size', 'x-repo-commit']) {
        const value = first.headers.get(name);
        if (value !== null) merged.set(name, value);
      }
      response = new Response(final.body, { status: final.status, statusText: final.statusText, headers: merged });
    }
    const range = new Headers(init?.headers).get('range');
    hop.rangeIgnored = range !== null && !range.startsWith('bytes=0-') && response.status === 200;
    return response;
  }) as typeof fetch;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** The errno-style code of an error or of any error in its cause chain. */
function errnoOf(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/** Any failure of a hub request as one catalogue error; `what` names the file and repository. */
export function hubError(error: unknown, what: string, settings: HubSettings): TesseraError {
  if (error instanceof TesseraError) return error;
  const message = typeof error === 'string' ? error : (error as Error)?.message ?? String(error);
  // WebBlob's streams fail with the message only: "Api error with status 401. ...".
  const status = error instanceof HubApiError ? error.statusCode : Number(/status (\d{3})/.exec(message)?.[1] ?? NaN);
  if (status === 401 || status === 403) {
    const hint = settings.token === undefined ? 'set HF_TOKEN to a token with access' : 'the token in HF_TOKEN was not accepted for it';
    return new TesseraError('TESSERA_ERR_PULL_UNAUTHORIZED', `${what}: ${settings.endpoint} answered ${status} (a private or gated repository): ${hint}`, { cause: error });
  }
  if (status === 404) return new TesseraError('TESSERA_ERR_PULL_NOT_FOUND', `${what}: not found on ${settings.endpoint} (no such repository, revision or file)`, { cause: error });
  if (/access token must start with 'hf_'/.test(message)) return new TesseraError('TESSERA_ERR_PULL_UNAUTHORIZED', `${what}: HF_TOKEN must start with hf_`, { cause: error });
  const code = errnoOf(error);
  if (code === 'ENOSPC') return new TesseraError('TESSERA_ERR_DISK_FULL', `${what}: the disk is full (ENOSPC); free space and run the same command to resume`, { cause: error });
  if (Number.isFinite(status)) return new TesseraError('TESSERA_ERR_PULL_NETWORK', `${what}: ${settings.endpoint} answered ${status}`, { cause: error });
  const cause = (error as { cause?: { message?: string } })?.cause?.message;
  const reason = code !== undefined && NETWORK_CODES.has(code) ? code : cause !== undefined ? `${message}: ${cause}` : message;
  return new TesseraError('TESSERA_ERR_PULL_NETWORK', `${what}: cannot reach ${settings.endpoint} (${reason}); check the network, or HF_ENDPOINT`, { cause: error });
}

/** Size and ETag of one file, from the hub. */
export async function remoteFile(settings: HubSettings, repo: string, revision: string, file: string, seams: DownloadSeams = {}): Promise<RemoteFile> {
  const what = `${repo}/${file}`;
  const hop: Hop = {};
  let info: Awaited<ReturnType<typeof fileDownloadInfo>>;
  try {
    info = await fileDownloadInfo({ repo, path: file, revision, hubUrl: settings.endpoint, accessToken: settings.token, fetch: hubFetch(hop, seams.fetch) });
  } catch (error) {
    throw hubError(error, what, settings);
  }
  if (info === null) throw new TesseraError('TESSERA_ERR_PULL_NOT_FOUND', `${what}: ${settings.endpoint} has no such file at revision ${revision}`);
  return { path: file, size: info.size, etag: info.etag.replace(/^W\//, '').replace(/"/g, ''), commit: hop.commit };
}

/** The checksum an ETag carries: an LFS sha256, or a git blob sha1; null when it is neither (size only). */
function checksumFor(remote: RemoteFile): { hash: Hash; label: string } | null {
  if (/^[0-9a-f]{64}$/.test(remote.etag)) return { hash: createHash('sha256'), label: 'sha256' };
  if (/^[0-9a-f]{40}$/.test(remote.etag)) {
    const hash = createHash('sha1');
    hash.update(`blob ${remote.size}\0`); // git's object header: the hub's ETag of a non-LFS file
    return { hash, label: 'git blob sha1' };
  }
  return null;
}

async function appendTo(file: string): Promise<AppendSink> {
  const handle = await open(file, 'a');
  return { write: async (chunk) => void (await handle.write(chunk)), close: () => handle.close() };
}

async function statfsFree(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Downloads `remote` to `blobPath`: appends to `blobPath.incomplete` from where an earlier
 * run stopped (an HTTP Range request for the rest), checks size and checksum, then renames.
 * A checksum mismatch deletes the partial file; any other failure keeps it for the next run.
 * Returns the bytes fetched by this call.
 */
export async function downloadBlob(
  settings: HubSettings,
  repo: string,
  revision: string,
  remote: RemoteFile,
  blobPath: string,
  options: { seams?: DownloadSeams; onProgress?: (p: ByteProgress) => void } = {},
): Promise<number> {
  const what = `${repo}/${remote.path}`;
  const incomplete = `${blobPath}.incomplete`;
  await mkdir(path.dirname(blobPath), { recursive: true });
  const lock = await takeLock(`${blobPath}.lock`, what);
  try {
    return await downloadLocked(settings, repo, revision, remote, blobPath, incomplete, what, options);
  } finally {
    await lock.release();
  }
}

/**
 * One process appends to a `.incomplete` file at a time (two would interleave bytes): a lock
 * file holding the pid, taken over when that process is gone (killed mid-download).
 */
async function takeLock(file: string, what: string): Promise<{ release(): Promise<void> }> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => rm(file, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(file, 'utf8').trim());
      let alive = false;
      try {
        alive = Number.isInteger(pid) && pid > 0 && process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) throw new TesseraError('TESSERA_ERR_PULL_LOCKED', `${what}: another tessera pull (pid ${pid}) is downloading it; wait for it to finish (or remove ${file} if it is stale)`);
      await rm(file, { force: true });
    }
  }
  throw new TesseraError('TESSERA_ERR_PULL_LOCKED', `${what}: cannot take ${file}`);
}

async function downloadLocked(
  settings: HubSettings,
  repo: string,
  revision: string,
  remote: RemoteFile,
  blobPath: string,
  incomplete: string,
  what: string,
  options: { seams?: DownloadSeams; onProgress?: (p: ByteProgress) => void },
): Promise<number> {
  const seams = options.seams ?? {};
  let have = existsSync(incomplete) ? statSync(incomplete).size : 0;
  if (have > remote.size) {
    await rm(incomplete, { force: true });
    have = 0;
  }
  const free = await (seams.freeBytes ?? statfsFree)(path.dirname(blobPath));
  if (free < remote.size - have) {
    throw new TesseraError('TESSERA_ERR_DISK_FULL', `${what}: needs ${mb(remote.size - have)} more, only ${mb(free)} free in ${path.dirname(blobPath)}`);
  }
  let checksum = checksumFor(remote);
  if (checksum !== null && have > 0) for await (const chunk of createReadStream(incomplete)) checksum.hash.update(chunk as Buffer);
  options.onProgress?.({ file: remote.path, done: have, total: remote.size });
  let fetched = 0;
  if (have < remote.size) {
    const hop: Hop = {};
    const sink = await (seams.openForAppend ?? appendTo)(incomplete);
    try {
      const blob = await downloadFile({
        repo,
        path: remote.path,
        revision,
        hubUrl: settings.endpoint,
        accessToken: settings.token,
        fetch: hubFetch(hop, seams.fetch),
        xet: false,
        downloadInfo: { size: remote.size, etag: remote.etag, url: `${settings.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${remote.path}` },
      });
      if (blob === null) throw new TesseraError('TESSERA_ERR_PULL_NOT_FOUND', `${what}: not found on ${settings.endpoint}`);
      let first = true;
      for await (const chunk of blob.slice(have).stream() as AsyncIterable<Uint8Array>) {
        if (first && hop.rangeIgnored) {
          // The server sent the whole file instead of the rest: start over.
          await truncate(incomplete, 0);
          have = 0;
          checksum = checksumFor(remote);
        }
        first = false;
        await sink.write(chunk);
        checksum?.hash.update(chunk);
        have += chunk.length;
        fetched += chunk.length;
        options.onProgress?.({ file: remote.path, done: have, total: remote.size });
      }
    } catch (error) {
      const failure = hubError(error, what, settings);
      if (failure.code !== 'TESSERA_ERR_PULL_NETWORK') throw failure;
      throw new TesseraError('TESSERA_ERR_PULL_NETWORK', `${failure.message}; stopped at ${have} of ${remote.size} bytes, kept in ${incomplete}: run the same command to resume`, { cause: error });
    } finally {
      await sink.close();
    }
  }
  const size = statSync(incomplete).size;
  const digest = checksum?.hash.digest('hex');
  if (size !== remote.size || (digest !== undefined && digest !== remote.etag)) {
    await rm(incomplete, { force: true });
    const found = size !== remote.size ? `${size} bytes, the hub says ${remote.size}` : `${checksum!.label} ${digest}, the hub says ${remote.etag}`;
    throw new TesseraError('TESSERA_ERR_PULL_CHECKSUM', `${what}: the download is corrupt (${found}); deleted, run the same command to download it again`);
  }
  await rename(incomplete, blobPath);
  return fetched;
}
