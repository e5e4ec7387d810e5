/**
 * Signed, expiring file URLs (issue 23): HMAC over the file and the expiry under the data
 * folder's secret. Valid until expiry (and across a restart), refused when expired, altered
 * or forged; plain and open with no keys configured. Entries made before keys (unowned) are
 * seen only by an admin key once keys are on.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { build } from '../../src/server/app.js';
import { loadUrlSecret, UrlSigner } from '../../src/server/signed-urls.js';
import { resolveServerOptions } from '../../src/server/options.js';
import { TINY_MODEL } from './helpers.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-signed-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const A = 'key-a';
const ADMIN = 'key-admin';

async function withApp<T>(keys: { apiKeys?: string[]; adminKeys?: string[] }, waitReady: boolean, body: (app: FastifyInstance) => Promise<T>): Promise<T> {
  const app = await build({ models: [TINY_MODEL], dataDir, rateLimit: false, waitReady, ...keys });
  try {
    return await body(app);
  } finally {
    await app.close();
  }
}

const get = (app: FastifyInstance, url: string, key?: string) => app.inject({ method: 'GET', url, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });

describe('UrlSigner', () => {
  const secret = Buffer.alloc(32, 7);
  let now = 1_800_000_000;
  const signer = new UrlSigner(secret, 600, () => now);
  const params = (query: string) => new URLSearchParams(query);

  it('valid until expiry (rounded up to a minute), then expired; any change is forged', () => {
    const q = params(signer.query('id1', 'image-1.png'));
    const expires = q.get('expires')!;
    expect(Number(expires) % 60).toBe(0);
    expect(Number(expires)).toBeGreaterThanOrEqual(now + 600);
    expect(signer.check('id1', 'image-1.png', expires, q.get('sig'))).toBe('valid');
    expect(signer.check('id1', 'image-2.png', expires, q.get('sig'))).toBe('forged');
    expect(signer.check('id2', 'image-1.png', expires, q.get('sig'))).toBe('forged');
    expect(signer.check('id1', 'image-1.png', String(Number(expires) + 60), q.get('sig'))).toBe('forged');
    const flipped = q.get('sig')!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(signer.check('id1', 'image-1.png', expires, flipped)).toBe('forged');
    expect(signer.check('id1', 'image-1.png', undefined, q.get('sig'))).toBe('forged');
    expect(signer.check('id1', 'image-1.png', expires, ['a', 'b'])).toBe('forged');
    expect(new UrlSigner(Buffer.alloc(32, 8), 600, () => now).check('id1', 'image-1.png', expires, q.get('sig'))).toBe('forged');
    now = Number(expires) + 1;
    expect(signer.check('id1', 'image-1.png', expires, q.get('sig'))).toBe('expired');
  });

  it('--file-url-ttl is bounded (60 s to a year), named in the error', () => {
    for (const fileUrlTtl of [5, 1.5, 40_000_000]) {
      expect(() => resolveServerOptions({ fileUrlTtl })).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION', param: 'file-url-ttl' }));
    }
    expect(resolveServerOptions({}).fileUrlTtl).toBe(3600);
  });

  it('keeps its secret in the data folder, private, the same after a restart', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-secret-'));
    try {
      const first = loadUrlSecret(dir);
      expect(first.length).toBe(32);
      expect(loadUrlSecret(dir).equals(first)).toBe(true);
      expect(statSync(path.join(dir, 'url-secret')).mode & 0o077).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('file URLs over HTTP, and entries from before keys', () => {
  let id = '';
  let signed = '';

  it('with no keys: plain URLs, open files (as before)', async () => {
    await withApp({}, true, async (app) => {
      const made = await app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', candidates: 2 } });
      const url = new URL(made.json().data[0].url as string);
      expect(url.search).toBe('');
      id = made.json().id;
      expect((await get(app, url.pathname)).statusCode).toBe(200);
    });
  });

  it('with keys: the unowned entry is the admin\'s alone; URLs are signed; expired, altered and forged ones are refused', async () => {
    await withApp({ apiKeys: [A], adminKeys: [ADMIN] }, false, async (app) => {
      expect((await get(app, `/v1/history/${id}`, A)).statusCode).toBe(404);
      expect((await get(app, '/v1/history', A)).json().total).toBe(0);
      expect((await get(app, `/v1/files/${id}/image-1.png`, A)).statusCode).toBe(404);
      expect((await get(app, `/v1/files/${id}/image-1.png`)).json().error.code).toBe('invalid_api_key');
      const record = await get(app, `/v1/history/${id}`, ADMIN);
      expect(record.statusCode).toBe(200);
      signed = record.json().images[0].url as string;
      expect(signed).toMatch(/\?expires=\d+&sig=[0-9a-f]{64}$/);
      expect((await get(app, signed)).statusCode).toBe(200);
      const [pathname, query] = signed.split('?');
      const q = new URLSearchParams(query);
      const cases: [string, number, string][] = [
        [`${pathname}?expires=${q.get('expires')}&sig=${'0'.repeat(64)}`, 403, 'invalid_signature'],
        [`${pathname}?expires=${Number(q.get('expires')) + 60}&sig=${q.get('sig')}`, 403, 'invalid_signature'],
        [`${pathname.replace('image-1', 'candidate-0')}?${query}`, 403, 'invalid_signature'],
        [`${pathname}?sig=${q.get('sig')}`, 403, 'invalid_signature'],
        [`${pathname}?expires=abc&sig=xyz`, 403, 'invalid_signature'],
      ];
      // An expired URL signed with this server's own secret.
      const past = new UrlSigner(loadUrlSecret(dataDir), 60, () => 1_000_000_000);
      cases.push([`${pathname}?${past.query(id, 'image-1.png')}`, 403, 'url_expired']);
      for (const [url, status, code] of cases) {
        const response = await get(app, url);
        expect({ url, status: response.statusCode, code: response.json().error.code }).toEqual({ url, status, code });
      }
      // A valid signature for a file that is gone is a plain 404.
      const gone = new UrlSigner(loadUrlSecret(dataDir), 600).query(id, 'image-9.png');
      expect((await get(app, `/v1/files/${id}/image-9.png?${gone}`)).json().error.code).toBe('not_found');
    });
  });

  it('a signed URL stays valid across a restart (the secret is in the data folder)', async () => {
    await withApp({ apiKeys: [A], adminKeys: [ADMIN] }, false, async (app) => {
      const response = await get(app, signed);
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    });
  });
});
