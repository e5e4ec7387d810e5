import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { isTesseraError } from '../../src/errors.js';
import { DownloadProgress, formatBytes } from '../../src/cli/download-progress.js';
import { hubFetch } from '../../src/hub/download.js';
import { pull } from '../../src/hub/pull.js';
import { resolveModelRef } from '../../src/hub/resolve.js';
import { hubSettings, type HubSettings } from '../../src/hub/settings.js';
import { DEFAULT_MODEL_DIR } from '../../src/pipeline/loader.js';
import { build } from '../../src/server/app.js';
import { folderFiles, startHubServer, type HubServer } from '../helpers/hub-server.js';
import { tempDir, TINY_MODEL } from '../helpers/tiny.js';

// `tessera pull owner/repo`: a repository that already holds a Tessera package (the tiny
// model's folder, served by the loopback Hub stand-in).
let hub: HubServer;
let settings: HubSettings;

beforeAll(async () => {
  hub = await startHubServer({ 'acme/tiny-tessera': { files: folderFiles(TINY_MODEL) } });
  const dir = tempDir();
  settings = { endpoint: hub.url, token: undefined, offline: false, hubCache: path.join(dir, 'hf'), modelsDir: path.join(dir, 'models') };
});
afterAll(() => hub.close());

describe('pulling a repository that holds a Tessera package', () => {
  it('fetches the manifest, then every file it lists, and generates the same tokens as the folder it came from', async () => {
    const result = await pull('acme/tiny-tessera', { settings });
    expect(result.dir).toBe(path.join(settings.modelsDir, 'acme--tiny-tessera'));
    const manifest = JSON.parse(readFileSync(path.join(TINY_MODEL, 'manifest.json'), 'utf8')) as { files: Record<string, string> };
    for (const file of Object.keys(manifest.files)) expect(readFileSync(path.join(result.dir, file)).equals(readFileSync(path.join(TINY_MODEL, file))), file).toBe(true);
    // Installed as hard links to the downloads: the disk holds them once.
    expect(statSync(path.join(result.dir, 'manifest.json')).nlink).toBe(2);

    const env = { TESSERA_MODELS_DIR: settings.modelsDir };
    const saved = process.env.TESSERA_MODELS_DIR;
    process.env.TESSERA_MODELS_DIR = settings.modelsDir;
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    try {
      expect(resolveModelRef('acme/tiny-tessera', 'package', env)).toBe(result.dir);
      const args = ['a red circle', '--candidates', '2', '--keep', '2', '--seed', '3', '--no-rerank', '--json', '--precision', 'fp32'];
      expect(await main(['generate', ...args, '--model', 'acme/tiny-tessera', '--out', tempDir()])).toBe(0);
      const pulled = JSON.parse(out).images.map((i: { tokens: number[] }) => i.tokens);
      out = '';
      expect(await main(['generate', ...args, '--model', TINY_MODEL, '--out', tempDir()])).toBe(0);
      expect(pulled).toEqual(JSON.parse(out).images.map((i: { tokens: number[] }) => i.tokens));
      // serve: the embedded model beside the pulled one, both named on the command line.
      const app = await build({ models: ['default', 'acme/tiny-tessera'].map((m) => resolveModelRef(m, 'package', env)!), dataDir: tempDir(), rateLimit: false, logger: false });
      try {
        const listed = (await app.inject({ method: 'GET', url: '/v1/models' })).json() as { data: { id: string }[] };
        expect(listed.data.map((m) => m.id)).toEqual(['tessera-shapes-v1', 'tiny-random']);
      } finally {
        await app.close();
      }
    } finally {
      vi.restoreAllMocks();
      if (saved === undefined) delete process.env.TESSERA_MODELS_DIR;
      else process.env.TESSERA_MODELS_DIR = saved;
    }
  });

  it("refuses a package whose file does not match its manifest's sha256, installing nothing", async () => {
    const files = folderFiles(TINY_MODEL);
    const manifest = JSON.parse(files['manifest.json'].toString('utf8')) as { files: Record<string, string> };
    const [first] = Object.keys(manifest.files);
    manifest.files[first] = '0'.repeat(64);
    hub.repos.set('acme/bad-tessera', { files: { ...files, 'manifest.json': Buffer.from(JSON.stringify(manifest)) } });
    const error = await pull('acme/bad-tessera', { settings }).catch((e: unknown) => e);
    expect(isTesseraError(error, 'TESSERA_ERR_MODEL_FILE')).toBe(true);
    expect(existsSync(path.join(settings.modelsDir, 'acme--bad-tessera'))).toBe(false);
    expect(existsSync(path.join(settings.modelsDir, '.acme--bad-tessera.partial'))).toBe(false);
  });
});

describe('the one resolver and the Hub settings', () => {
  it('keeps paths as they are, knows default, names unpulled models, passes other values to the loader', () => {
    const env = { TESSERA_MODELS_DIR: tempDir() };
    expect(resolveModelRef(undefined, 'package', env)).toBeUndefined();
    expect(resolveModelRef(TINY_MODEL, 'package', env)).toBe(TINY_MODEL);
    expect(resolveModelRef('default', 'package', env)).toBe(DEFAULT_MODEL_DIR);
    expect(resolveModelRef('no/such-folder', 'package', env)).toBe('no/such-folder');
    // A folder named like a known model wins over the cache (as paths always did).
    const cwdFolder = path.join(tempDir(), 'dalle-mini');
    mkdirSync(cwdFolder);
    expect(resolveModelRef(cwdFolder, 'package', env)).toBe(cwdFolder);
    for (const [value, kind, code] of [
      ['dalle-mini', 'package', 'TESSERA_ERR_MODEL_NOT_PULLED'],
      ['clip-vit-base-patch32', 'clip', 'TESSERA_ERR_MODEL_NOT_PULLED'],
      ['dalle-mini', 'clip', 'TESSERA_ERR_OPTION'],
    ] as const) {
      let caught: unknown;
      try {
        resolveModelRef(value, kind, env);
      } catch (error) {
        caught = error;
      }
      expect(isTesseraError(caught, code), `${value} as ${kind}`).toBe(true);
    }
  });

  it("reads the Hub's environment variables as huggingface_hub does", () => {
    const home = tempDir();
    expect(hubSettings({ HF_HOME: home })).toMatchObject({ endpoint: 'https://huggingface.co', token: undefined, offline: false, hubCache: path.join(home, 'hub') });
    writeFileSync(path.join(home, 'token'), 'hf_stored\n');
    expect(hubSettings({ HF_HOME: home }).token).toBe('hf_stored');
    expect(hubSettings({ HF_HOME: home, HF_TOKEN: 'hf_env' }).token).toBe('hf_env');
    expect(hubSettings({ HF_HOME: home, HF_ENDPOINT: 'http://mirror.local/', HF_HUB_OFFLINE: 'yes', HF_HUB_CACHE: '/x/cache', TESSERA_MODELS_DIR: '/x/models' })).toMatchObject({
      endpoint: 'http://mirror.local',
      offline: true,
      hubCache: '/x/cache',
      modelsDir: '/x/models',
    });
    expect(hubSettings({ HF_HOME: home, HF_HUB_OFFLINE: '0' }).offline).toBe(false);
    expect(hubSettings({ HF_HOME: home, TESSERA_CACHE_DIR: '/x/tessera' }).modelsDir).toBe('/x/tessera/models');
  });

  it("reads the Hub's headers from its redirect, and never sends the token to a CDN of another origin", async () => {
    const calls: { url: string; authorization: string | null; redirect: RequestInit['redirect'] }[] = [];
    const base = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      calls.push({ url, authorization: new Headers(init?.headers).get('authorization'), redirect: init?.redirect });
      if (url.startsWith('https://hub.example/')) {
        return new Response(null, { status: 302, headers: { location: 'https://cdn.example/blob?sig=1', 'x-linked-etag': '"' + 'a'.repeat(64) + '"', 'x-linked-size': '5', 'x-repo-commit': 'c'.repeat(40) } });
      }
      return new Response('x', { status: 206, headers: { etag: '"cdn-etag"', 'content-range': 'bytes 0-0/5' } });
    }) as typeof fetch;
    const hop: { commit?: string } = {};
    const response = await hubFetch(hop, base)('https://hub.example/acme/m/resolve/main/w.pt', { headers: { Authorization: 'Bearer hf_secret', Range: 'bytes=0-0' } });
    expect(calls).toEqual([
      { url: 'https://hub.example/acme/m/resolve/main/w.pt', authorization: 'Bearer hf_secret', redirect: 'manual' },
      { url: 'https://cdn.example/blob?sig=1', authorization: null, redirect: 'follow' },
    ]);
    expect(response.status).toBe(206);
    expect(response.headers.get('x-linked-etag')).toBe('"' + 'a'.repeat(64) + '"');
    expect(response.headers.get('content-range')).toBe('bytes 0-0/5');
    expect(hop.commit).toBe('c'.repeat(40));
  });

  it('draws progress as bytes, rate and time left, one line per file', () => {
    let text = '';
    const progress = new DownloadProgress((t) => (text += t));
    progress.update({ file: 'encoder_mini.pt', done: 0, total: 2_000_000 });
    progress.update({ file: 'encoder_mini.pt', done: 2_000_000, total: 2_000_000 });
    progress.update({ file: 'detoker.pt', done: 500, total: 1000 });
    progress.finish();
    const lines = text.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/\rencoder_mini\.pt [█░]{24} 2\.0 MB\/2\.0 MB [\d.]+ [kMG]?B\/s done\s*$/);
    expect(lines[1]).toMatch(/^\rdetoker\.pt [█░]{24} 500 B\/1\.0 kB [\d.]+ [kMG]?B\/s ETA (\d+s|--)\s*$/);
    expect([formatBytes(999), formatBytes(1500), formatBytes(2_500_000), formatBytes(1.9e9)]).toEqual(['999 B', '1.5 kB', '2.5 MB', '1.90 GB']);
  });
});
