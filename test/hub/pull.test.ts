import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isTesseraError, type ErrorCode } from '../../src/errors.js';
import { KNOWN_MODELS, type KnownModel } from '../../src/hub/catalogue.js';
import { listPulled, removePulled } from '../../src/hub/installed.js';
import { checkMemory } from '../../src/hub/post.js';
import { conversionMemory, pull, type PullOptions } from '../../src/hub/pull.js';
import { resolveModelRef } from '../../src/hub/resolve.js';
import type { HubSettings } from '../../src/hub/settings.js';
import { folderFiles, refusedUrl, sha256, startHubServer, type HubServer } from '../helpers/hub-server.js';
import { ROOT, tempDir } from '../helpers/tiny.js';

// No test touches the real Hub: a loopback server in its URL layout serves the tiny CLIP fixture.
const CLIP_REPO = 'Xenova/clip-vit-base-patch32';
const CLIP_FILES = folderFiles(path.join(ROOT, 'test/fixtures/tiny-clip'));
const VISION = `${CLIP_REPO}/onnx/vision_model.onnx`;

let hub: HubServer;
let settings: HubSettings;

beforeAll(async () => {
  hub = await startHubServer({ [CLIP_REPO]: { files: CLIP_FILES } });
});
afterAll(() => hub.close());
beforeEach(() => {
  const dir = tempDir();
  settings = { endpoint: hub.url, token: undefined, offline: false, hubCache: path.join(dir, 'hf'), modelsDir: path.join(dir, 'models') };
  hub.sent.clear();
  hub.ranges.clear();
  hub.cutAfter.clear();
  hub.corrupt.clear();
});

async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | 'resolved'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    if (isTesseraError(error)) return error.code;
    throw error;
  }
}

const blobOf = (file: string) => path.join(settings.hubCache, 'models--Xenova--clip-vit-base-patch32', 'blobs', sha256(CLIP_FILES[file]));

describe('tessera pull (module)', () => {
  it('pulls the CLIP files into the Hub cache layout and installs them under the name', async () => {
    const result = await pull('clip-vit-base-patch32', { settings });
    expect(result.alreadyPulled).toBe(false);
    expect(result.fetched).toBe(Object.values(CLIP_FILES).reduce((s, b) => s + b.length, 0) - CLIP_FILES['reference.json'].length);
    for (const file of KNOWN_MODELS.find((m) => m.name === 'clip-vit-base-patch32')!.files) {
      expect(readFileSync(path.join(result.dir, file)).equals(CLIP_FILES[file]), file).toBe(true);
      // huggingface_hub's layout: snapshots/<commit>/<file> -> blobs/<etag>.
      expect(readFileSync(path.join(settings.hubCache, 'models--Xenova--clip-vit-base-patch32/snapshots/c0ffee0000000000000000000000000000000000', file)).equals(CLIP_FILES[file])).toBe(true);
    }
    expect(readFileSync(path.join(settings.hubCache, 'models--Xenova--clip-vit-base-patch32/refs/main'), 'utf8')).toBe('c0ffee0000000000000000000000000000000000');
    const env = { TESSERA_MODELS_DIR: settings.modelsDir };
    expect(resolveModelRef('clip-vit-base-patch32', 'clip', env)).toBe(result.dir);
    expect(await codeOf(Promise.resolve().then(() => resolveModelRef('clip-vit-base-patch32', 'package', env)))).toBe('TESSERA_ERR_OPTION');
    const [listed] = listPulled(settings);
    expect(listed).toMatchObject({ name: 'clip-vit-base-patch32', kind: 'clip', repo: CLIP_REPO, dir: result.dir });
    expect(listed.downloadBytes).toBe(result.fetched);
    // A second pull fetches nothing.
    hub.sent.clear();
    expect((await pull('clip-vit-base-patch32', { settings })).alreadyPulled).toBe(true);
    expect(hub.sent.size).toBe(0);
    // rm takes the folder and the downloads; the name no longer resolves.
    expect(await removePulled('clip-vit-base-patch32', settings)).toBeGreaterThanOrEqual(result.fetched);
    expect(existsSync(result.dir)).toBe(false);
    expect(existsSync(blobOf('onnx/vision_model.onnx'))).toBe(false);
    expect(await codeOf(Promise.resolve().then(() => resolveModelRef('clip-vit-base-patch32', 'clip', env)))).toBe('TESSERA_ERR_MODEL_NOT_PULLED');
  });

  it('resumes a download killed half-way: the second run fetches only the rest (HTTP Range)', async () => {
    const size = CLIP_FILES['onnx/vision_model.onnx'].length;
    const half = Math.floor(size / 2);
    hub.cutAfter.set(VISION, half);
    expect(await codeOf(pull('clip-vit-base-patch32', { settings }))).toBe('TESSERA_ERR_PULL_NETWORK');
    // Nothing under the final name; the partial file holds what arrived before the cut (the
    // last chunks in flight when the socket dies may not reach the disk: Node 24's fetch
    // surfaces the error sooner), and the resume starts from what is on disk.
    expect(existsSync(blobOf('onnx/vision_model.onnx'))).toBe(false);
    const partial = statSync(`${blobOf('onnx/vision_model.onnx')}.incomplete`).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThanOrEqual(half);
    expect(existsSync(path.join(settings.modelsDir, 'clip-vit-base-patch32'))).toBe(false);
    hub.sent.clear();
    hub.ranges.clear();
    const result = await pull('clip-vit-base-patch32', { settings });
    // The size probe (bytes=0-0, one byte) and then only the rest.
    expect(hub.ranges.get(VISION)).toEqual(['bytes=0-0', `bytes=${partial}-${size - 1}`]);
    expect(hub.sent.get(VISION)).toBe(1 + size - partial);
    expect(readFileSync(path.join(result.dir, 'onnx/vision_model.onnx')).equals(CLIP_FILES['onnx/vision_model.onnx'])).toBe(true);
    expect(existsSync(`${blobOf('onnx/vision_model.onnx')}.incomplete`)).toBe(false);
  });

  it("lets one pull at a time append to a file, and takes over a dead pull's lock", async () => {
    const lock = `${blobOf('config.json')}.lock`;
    mkdirSync(path.dirname(lock), { recursive: true });
    writeFileSync(lock, String(process.pid)); // a live process
    expect(await codeOf(pull('clip-vit-base-patch32', { settings }))).toBe('TESSERA_ERR_PULL_LOCKED');
    writeFileSync(lock, String(spawnSync(process.execPath, ['-e', '']).pid)); // one that has exited
    expect(await codeOf(pull('clip-vit-base-patch32', { settings }))).toBe('resolved');
    expect(existsSync(lock)).toBe(false);
  });

  it('refuses a corrupted file by its checksum and keeps nothing of it', async () => {
    hub.corrupt.add(VISION);
    expect(await codeOf(pull('clip-vit-base-patch32', { settings }))).toBe('TESSERA_ERR_PULL_CHECKSUM');
    expect(existsSync(blobOf('onnx/vision_model.onnx'))).toBe(false);
    expect(existsSync(`${blobOf('onnx/vision_model.onnx')}.incomplete`)).toBe(false);
    expect(existsSync(path.join(settings.modelsDir, 'clip-vit-base-patch32'))).toBe(false);
  });

  it('says 404 for a missing repository or file, 401 for a private one without its token', async () => {
    expect(await codeOf(pull('nobody/nothing', { settings }))).toBe('TESSERA_ERR_PULL_NOT_FOUND');
    const missingFile: KnownModel = { ...KNOWN_MODELS.find((m) => m.name === 'clip-vit-base-patch32')!, name: 'clip-missing', files: ['config.json', 'onnx/no_such.onnx'] };
    expect(await codeOf(pull('clip-missing', { settings, catalogue: [missingFile] }))).toBe('TESSERA_ERR_PULL_NOT_FOUND');
    hub.repos.set('acme/private-clip', { files: CLIP_FILES, token: 'hf_secret' });
    const privateClip: KnownModel = { ...missingFile, name: 'private-clip', repo: 'acme/private-clip', files: KNOWN_MODELS.find((m) => m.name === 'clip-vit-base-patch32')!.files };
    expect(await codeOf(pull('private-clip', { settings, catalogue: [privateClip] }))).toBe('TESSERA_ERR_PULL_UNAUTHORIZED');
    expect(await codeOf(pull('private-clip', { settings: { ...settings, token: 'hf_wrong' }, catalogue: [privateClip] }))).toBe('TESSERA_ERR_PULL_UNAUTHORIZED');
    expect(await codeOf(pull('private-clip', { settings: { ...settings, token: 'hf_secret' }, catalogue: [privateClip] }))).toBe('resolved');
  });

  it('says no network when nothing answers at the endpoint', async () => {
    expect(await codeOf(pull('clip-vit-base-patch32', { settings: { ...settings, endpoint: await refusedUrl() } }))).toBe('TESSERA_ERR_PULL_NETWORK');
    expect(existsSync(settings.modelsDir)).toBe(false);
  });

  it('says the disk is full before downloading (statfs) and when a write fails with ENOSPC, keeping what was written', async () => {
    expect(await codeOf(pull('clip-vit-base-patch32', { settings, seams: { freeBytes: async () => 1000 } }))).toBe('TESSERA_ERR_DISK_FULL');
    // The vision model's second chunk finds the disk full.
    let written = 0;
    const seams: PullOptions['seams'] = {
      openForAppend: async (file) => ({
        write: async (chunk) => {
          const vision = file === `${blobOf('onnx/vision_model.onnx')}.incomplete`;
          if (vision && written > 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          if (vision) written += chunk.length;
          writeFileSync(file, chunk, { flag: 'a' });
        },
        close: async () => {},
      }),
    };
    expect(await codeOf(pull('clip-vit-base-patch32', { settings, seams }))).toBe('TESSERA_ERR_DISK_FULL');
    expect(written).toBeGreaterThan(0);
    expect(statSync(`${blobOf('onnx/vision_model.onnx')}.incomplete`).size).toBe(written);
    expect(existsSync(blobOf('onnx/vision_model.onnx'))).toBe(false);
  });

  it('uses only the cache with HF_HUB_OFFLINE, and says so when a file is not there', async () => {
    expect(await codeOf(pull('clip-vit-base-patch32', { settings: { ...settings, offline: true } }))).toBe('TESSERA_ERR_PULL_OFFLINE');
    expect(hub.sent.size).toBe(0);
    await pull('clip-vit-base-patch32', { settings });
    rmSync(path.join(settings.modelsDir, 'clip-vit-base-patch32'), { recursive: true }); // the installed folder only, not the downloads
    hub.sent.clear();
    const again = await pull('clip-vit-base-patch32', { settings: { ...settings, offline: true } });
    expect(hub.sent.size).toBe(0);
    expect(readFileSync(path.join(again.dir, 'config.json')).equals(CLIP_FILES['config.json'])).toBe(true);
  });

  it('requires --accept-license for an entry with a licence, once', async () => {
    const licensed: KnownModel = {
      ...KNOWN_MODELS.find((m) => m.name === 'clip-vit-base-patch32')!,
      name: 'licensed-clip',
      license: { id: 'fixture-license-1.0', url: 'https://example.invalid/license', summary: 'A fixture licence.' },
    };
    expect(await codeOf(pull('licensed-clip', { settings, catalogue: [licensed] }))).toBe('TESSERA_ERR_LICENSE');
    expect(hub.sent.size).toBe(0);
    await pull('licensed-clip', { settings, catalogue: [licensed], acceptLicense: true });
    expect(listPulled(settings)[0]).toMatchObject({ name: 'licensed-clip', license: 'fixture-license-1.0' });
    // Accepted once: a later pull (another version of the files) does not ask again; a new licence does.
    expect(await codeOf(pull('licensed-clip', { settings, catalogue: [licensed], force: true }))).toBe('resolved');
    const changed = { ...licensed, license: { ...licensed.license!, id: 'fixture-license-2.0' } };
    expect(await codeOf(pull('licensed-clip', { settings, catalogue: [changed], force: true }))).toBe('TESSERA_ERR_LICENSE');
  });

  it('refuses to convert Mega with too little memory (read from meminfo) before downloading a byte', async () => {
    const meminfo = path.join(tempDir(), 'meminfo');
    writeFileSync(meminfo, 'MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n');
    const mega = KNOWN_MODELS.find((m) => m.name === 'dalle-mega')!;
    // The real entry's figures: 13 GB for Mega's 5.4 GB of files, Mini's 6 GB for its 1 GB.
    expect(conversionMemory(mega, mega.approxBytes.download)).toBe(13e9);
    expect(conversionMemory(KNOWN_MODELS.find((m) => m.name === 'dalle-mini')!, 1e9)).toBe(6e9);
    const files = Object.fromEntries(mega.files.map((f, i) => [f, Buffer.alloc(2000 + i, i)]));
    hub.repos.set('acme/mega-like', { files });
    // Mega's entry over files as large as it expects (here: a fixture entry whose expected size is what is served).
    const megaLike: KnownModel = { ...mega, name: 'mega-like', repo: 'acme/mega-like', approxBytes: { download: Object.values(files).reduce((s, b) => s + b.length, 0), installed: 0 } };
    expect(await codeOf(pull('mega-like', { settings, catalogue: [megaLike], seams: { meminfo } }))).toBe('TESSERA_ERR_MEMORY');
    // Only the five one-byte size probes: no file was downloaded.
    expect([...hub.sent.values()]).toEqual([1, 1, 1, 1, 1]);
    expect(existsSync(path.join(settings.hubCache, 'models--acme--mega-like', 'blobs'))).toBe(false);
    // Shrunk weights under the real entry need memory in proportion: past the check, to the Python check.
    const shrunk: KnownModel = { ...mega, repo: 'acme/mega-like' };
    expect(await codeOf(pull('dalle-mega', { settings, catalogue: [shrunk], seams: { meminfo, python: '/nonexistent/python3' } }))).toBe('TESSERA_ERR_CONVERT_DEPS');
    // In a container: plenty in meminfo, but the cgroup's limit leaves 1 GB.
    const cgroup = tempDir();
    writeFileSync(path.join(cgroup, 'memory.max'), `${8e9}\n`);
    writeFileSync(path.join(cgroup, 'memory.current'), `${7e9}\n`);
    writeFileSync(meminfo, 'MemAvailable:   64000000 kB\n');
    expect(() => checkMemory('dalle-mega', 13e9, meminfo, cgroup)).toThrow(/1\.0 GB is available \(the cgroup's limit/);
    expect(() => checkMemory('dalle-mega', 13e9, meminfo, tempDir())).not.toThrow();
  });

  it('stops with the install line when Python or PyTorch is missing, keeping the download', async () => {
    const files = Object.fromEntries(KNOWN_MODELS.find((m) => m.name === 'dalle-mini')!.files.map((f, i) => [f, Buffer.alloc(3000 + i, i)]));
    hub.repos.set('kuprel/min-dalle', { files });
    let message = '';
    try {
      await pull('dalle-mini', { settings, seams: { python: '/nonexistent/python3', meminfo: '/nonexistent/meminfo' } });
    } catch (error) {
      expect(isTesseraError(error, 'TESSERA_ERR_CONVERT_DEPS')).toBe(true);
      message = (error as Error).message;
    }
    expect(message).toContain('apt-get install -y python3-torch python3-onnx python3-numpy');
    expect(message).toContain('pip install torch onnx numpy');
    expect(message).not.toContain('\n');
    for (const [file, data] of Object.entries(files)) expect(existsSync(path.join(settings.hubCache, 'models--kuprel--min-dalle/blobs', sha256(data))), file).toBe(true);
    expect(existsSync(path.join(settings.modelsDir, 'dalle-mini'))).toBe(false);
    // A second try fetches nothing again (the same missing Python stops it at the same place).
    hub.sent.clear();
    expect(await codeOf(pull('dalle-mini', { settings, seams: { python: '/nonexistent/python3', meminfo: '/nonexistent/meminfo' } }))).toBe('TESSERA_ERR_CONVERT_DEPS');
    expect([...hub.sent.values()].reduce((a, b) => a + b, 0)).toBe(5); // the five size probes (bytes=0-0), no body
  });
});
