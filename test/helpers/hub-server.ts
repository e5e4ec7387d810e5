/**
 * A Hugging Face Hub stand-in on the loopback, in the Hub's URL layout and manners:
 * `/{owner}/{name}/resolve/{revision}/{path}`. An LFS file answers 302 to a CDN-like path with
 * X-Linked-Etag (its sha256), X-Linked-Size and X-Repo-Commit, as huggingface.co does; a
 * small git file answers 200 with its git blob sha1 as the ETag. The CDN honours Range.
 * A missing repository is 404 RepoNotFound, a missing file 404 EntryNotFound, a private
 * repository without its token 401. It counts the body bytes it sends per file, can cut a
 * body after N bytes (a killed download), and can serve corrupt bytes under a right ETag.
 * `/api/models/{owner}/{name}/tree/{revision}?recursive=true` lists a repository's files
 * (what @huggingface/hub's listFiles reads).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface HubRepo {
  files: Record<string, Buffer>;
  /** A private repository: only this bearer token may read it. */
  token?: string;
  commit?: string;
}

export interface HubServer {
  url: string;
  repos: Map<string, HubRepo>;
  /** Body bytes sent per `repo/path` (CDN and direct answers; the 0-0 probes included). */
  sent: Map<string, number>;
  /** Range headers received per `repo/path` on the CDN (undefined: none). */
  ranges: Map<string, (string | undefined)[]>;
  /** The next CDN answer for `repo/path` stops after `bytes` body bytes (the connection closes). */
  cutAfter: Map<string, number>;
  /** `repo/path` served with one byte flipped (its headers still name the right checksum). */
  corrupt: Set<string>;
  close(): Promise<void>;
}

const LFS_MIN = 1024; // below this a file is a plain git file, as small JSON and text files are on the Hub

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const gitSha1 = (data: Buffer) => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');

/** Every file under `dir` by its relative path (for serving a fixture folder as a repository). */
export function folderFiles(dir: string, prefix = ''): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const relative = prefix === '' ? name : `${prefix}/${name}`;
    if (statSync(full).isDirectory()) Object.assign(out, folderFiles(full, relative));
    else out[relative] = readFileSync(full);
  }
  return out;
}

export async function startHubServer(repos: Record<string, HubRepo> = {}): Promise<HubServer> {
  const state = { repos: new Map(Object.entries(repos)), sent: new Map<string, number>(), ranges: new Map<string, (string | undefined)[]>(), cutAfter: new Map<string, number>(), corrupt: new Set<string>() };
  const count = (key: string, n: number) => state.sent.set(key, (state.sent.get(key) ?? 0) + n);
  const byHash = new Map<string, { key: string; data: Buffer }>();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn !== null) {
      const found = byHash.get(cdn[1]);
      if (found === undefined) return void res.writeHead(404).end();
      let data = found.data;
      if (state.corrupt.has(found.key)) {
        data = Buffer.from(data);
        data[data.length >> 1] ^= 0xff;
      }
      const range = req.headers.range;
      state.ranges.set(found.key, [...(state.ranges.get(found.key) ?? []), range]);
      let start = 0;
      let end = data.length - 1;
      const m = range === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(range);
      if (m !== null) {
        start = Number(m[1]);
        end = m[2] === '' ? end : Math.min(end, Number(m[2]));
        if (start >= data.length) return void res.writeHead(416, { 'Content-Range': `bytes */${data.length}` }).end();
      }
      const body = data.subarray(start, end + 1);
      res.writeHead(m === null ? 200 : 206, {
        'Content-Length': body.length,
        'Accept-Ranges': 'bytes',
        ETag: `"${cdn[1]}"`,
        'Content-Type': 'application/octet-stream',
        ...(m === null ? {} : { 'Content-Range': `bytes ${start}-${end}/${data.length}` }),
      });
      const cut = state.cutAfter.get(found.key);
      if (cut !== undefined && cut < body.length) {
        state.cutAfter.delete(found.key);
        count(found.key, cut);
        // Half the body, then the connection ends: what a killed transfer looks like to the client.
        res.write(body.subarray(0, cut), () => res.socket?.end());
        return;
      }
      count(found.key, body.length);
      return void res.end(body);
    }
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree !== null) {
      const listed = state.repos.get(tree[1]);
      if (listed === undefined || tree[2] !== 'main') return void res.writeHead(404, { 'X-Error-Code': 'RepoNotFound', 'Content-Type': 'application/json' }).end('{"error":"Repository not found"}');
      if (listed.token !== undefined && req.headers.authorization !== `Bearer ${listed.token}`) return void res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"Access to this repository is restricted."}');
      const items = Object.entries(listed.files).map(([file, data]) => ({ type: 'file', path: file, size: data.length, oid: gitSha1(data) }));
      return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(items));
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve === null) return void res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"Not Found"}');
    const [, repoId, revision, file] = resolve;
    const repo = state.repos.get(repoId);
    if (repo === undefined) return void res.writeHead(404, { 'X-Error-Code': 'RepoNotFound', 'Content-Type': 'application/json' }).end('{"error":"Repository not found"}');
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
      return void res.writeHead(401, { 'X-Error-Code': 'GatedRepo', 'Content-Type': 'application/json' }).end('{"error":"Access to this repository is restricted."}');
    }
    const key = `${repoId}/${decodeURIComponent(file)}`;
    const data = repo.files[decodeURIComponent(file)];
    if (data === undefined || revision !== 'main') {
      return void res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'Content-Type': 'application/json' }).end('{"error":"Entry not found"}');
    }
    const commit = repo.commit ?? 'c0ffee0000000000000000000000000000000000';
    if (data.length >= LFS_MIN) {
      const hash = sha256(data);
      byHash.set(hash, { key, data });
      return void res.writeHead(302, { Location: `/cdn/${hash}`, 'X-Linked-Etag': `"${hash}"`, 'X-Linked-Size': String(data.length), 'X-Repo-Commit': commit, ETag: `"${gitSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${hash}\n`))}"` }).end();
    }
    const range = req.headers.range;
    const m = range === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(range);
    const start = m === null ? 0 : Number(m[1]);
    const end = m === null || m[2] === '' ? data.length - 1 : Math.min(data.length - 1, Number(m[2]));
    const body = data.subarray(start, end + 1);
    count(key, body.length);
    res.writeHead(m === null ? 200 : 206, { ETag: `"${gitSha1(data)}"`, 'X-Repo-Commit': commit, 'Content-Length': body.length, ...(m === null ? {} : { 'Content-Range': `bytes ${start}-${end}/${data.length}` }) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL where nothing listens (a port just closed): connection refused. */
export async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
