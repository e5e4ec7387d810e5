/**
 * `tessera pull NAME`: the licence (when the entry has one), the memory a conversion needs,
 * every file of the entry from the Hub into the Hub's cache (resumed, verified), then the
 * post-download step into a partial folder that is renamed into place only when complete.
 * Nothing is fetched by any other command (offline stays the default).
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import { parseManifest } from '../model/manifest.js';
import { verifyPackageFiles } from '../model/verified-files.js';
import { checkClipDir } from '../rerank/clip-reranker.js';
import { KNOWN_MODELS, folderName, lookupModel, type KnownModel } from './catalogue.js';
import { downloadBlob, remoteFile, type ByteProgress, type DownloadSeams, type RemoteFile } from './download.js';
import { repoCache, safeRelative, type RepoCache } from './hf-cache.js';
import { withExternalData } from './listing.js';
import { PULLED_RECORD, type PulledRecord } from './resolve.js';
import { checkMemory, checkPython, janusPackage, pythonPath, runConverter } from './post.js';
import { hubSettings, type HubSettings } from './settings.js';

export interface PullOptions {
  settings?: HubSettings;
  /** The known-model table (default: the built-in one; tests add fixture entries). */
  catalogue?: readonly KnownModel[];
  /** `--accept-license`: accept the entry's licence (recorded, so it is asked once). */
  acceptLicense?: boolean;
  /** Pull again even when the name is already installed. */
  force?: boolean;
  seams?: DownloadSeams & { meminfo?: string; cgroup?: string; python?: string };
  onProgress?: (progress: ByteProgress) => void;
  onLog?: (line: string) => void;
}

export interface PullResult {
  name: string;
  dir: string;
  /** Bytes fetched from the hub by this pull (0 when everything was cached). */
  fetched: number;
  alreadyPulled: boolean;
}

/** A file of the entry, with where its verified bytes are. */
interface CachedFile {
  path: string;
  etag: string;
  size: number;
}

const licenseFile = (settings: HubSettings, entry: KnownModel) => path.join(settings.modelsDir, '.licenses', `${folderName(entry.name)}.json`);

async function checkLicense(entry: KnownModel, settings: HubSettings, accept: boolean): Promise<void> {
  const license = entry.license;
  if (license === undefined) return;
  const file = licenseFile(settings, entry);
  const recorded = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { id?: string }).id : undefined;
  if (recorded === license.id) return;
  if (!accept) {
    throw new TesseraError('TESSERA_ERR_LICENSE', `${entry.name} is under the ${license.id} licence (${license.url}): ${license.summary} Read it, then run tessera pull ${entry.name} --accept-license`, { param: 'accept-license' });
  }
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ name: entry.name, id: license.id, url: license.url, acceptedAt: new Date().toISOString() }, null, 2) + '\n');
}

/** One file's size and ETag: from the hub, or (HF_HUB_OFFLINE) from the cache. */
async function locate(entry: KnownModel, file: string, settings: HubSettings, cache: RepoCache, options: PullOptions): Promise<RemoteFile> {
  if (!safeRelative(file)) throw new TesseraError('TESSERA_ERR_MANIFEST', `${entry.repo}: file path ${JSON.stringify(file)} leaves the package folder`);
  if (!settings.offline) return remoteFile(settings, entry.repo, entry.revision, file, options.seams);
  const commit = cache.readRef(entry.revision);
  const pointer = commit === undefined ? undefined : cache.snapshot(commit, file);
  if (pointer === undefined || !existsSync(pointer)) {
    throw new TesseraError('TESSERA_ERR_PULL_OFFLINE', `HF_HUB_OFFLINE is set and ${entry.repo}/${file} is not in the cache (${cache.dir}); unset HF_HUB_OFFLINE to download it`);
  }
  return { path: file, etag: path.basename(realpathSync(pointer)), size: statSync(pointer).size, commit };
}

/** Downloads one located file unless its blob is cached, and links it into the snapshot. */
async function fetchFile(entry: KnownModel, remote: RemoteFile, settings: HubSettings, cache: RepoCache, options: PullOptions, fetched: { bytes: number }): Promise<CachedFile> {
  const commit = remote.commit ?? entry.revision;
  const blob = cache.blob(remote.etag);
  if (!existsSync(blob)) {
    fetched.bytes += await downloadBlob(settings, entry.repo, entry.revision, remote, blob, { seams: options.seams, onProgress: options.onProgress });
  } else {
    options.onProgress?.({ file: remote.path, done: remote.size, total: remote.size });
  }
  if (!settings.offline) {
    await cache.link(commit, remote.path, remote.etag);
    await cache.writeRef(entry.revision, commit);
  }
  return { path: remote.path, etag: remote.etag, size: remote.size };
}

/**
 * The memory a conversion of `downloadBytes` of weights needs: the entry's measured figure for
 * its real files, in proportion for smaller ones (the converter holds the weights in float32
 * plus the exporter's copy, so its peak follows their size; shrunk test weights need little).
 */
export function conversionMemory(entry: KnownModel, downloadBytes: number): number {
  if (entry.post.kind !== 'convert') return 0;
  return entry.post.memoryBytes * Math.min(1, downloadBytes / entry.approxBytes.download);
}

/** Puts each cached blob at its path under `dir`: a hard link where the disk allows, else a copy. */
async function placeFiles(files: readonly CachedFile[], cache: RepoCache, dir: string): Promise<void> {
  for (const file of files) {
    const target = path.join(dir, file.path);
    await mkdir(path.dirname(target), { recursive: true });
    await link(cache.blob(file.etag), target).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EXDEV' && error.code !== 'EPERM') throw error;
      await copyFile(cache.blob(file.etag), target);
    });
  }
}

/** The post-download step: `partial` ends up holding what the name resolves to. */
async function postStep(entry: KnownModel, files: CachedFile[], cache: RepoCache, partial: string, settings: HubSettings, options: PullOptions): Promise<void> {
  const post = entry.post;
  if (post.kind !== 'convert') {
    await placeFiles(files, cache, partial);
    if (post.kind === 'janus') await janusPackage(entry.name, post, partial);
    return;
  }
  const python = options.seams?.python ?? pythonPath();
  checkPython(entry.name, python, post.modules, cache.dir);
  checkMemory(entry.name, conversionMemory(entry, files.reduce((sum, f) => sum + f.size, 0)), options.seams?.meminfo, options.seams?.cgroup);
  // The converter reads one folder holding only this variant's files (min-dalle's repository holds both).
  const weights = `${partial}.weights`;
  await rm(weights, { recursive: true, force: true });
  await mkdir(weights, { recursive: true });
  for (const file of files) await symlink(cache.blob(file.etag), path.join(weights, path.basename(file.path)));
  const extra = post.extraArgsEnv === undefined ? [] : (process.env[post.extraArgsEnv] ?? '').split(/\s+/).filter((a) => a !== '');
  try {
    await runConverter(entry.name, python, post.script, ['--weights', weights, '--out', partial, '--name', entry.name, ...extra], options.onLog ?? (() => {}));
  } finally {
    await rm(weights, { recursive: true, force: true });
  }
}

/** Checks what the post step wrote: a package whose files hash as its manifest says, or a CLIP folder. */
async function checkInstalled(entry: KnownModel, dir: string): Promise<void> {
  if (entry.kind === 'clip') return checkClipDir(dir, 'TESSERA_ERR_MODEL_FILE', 'clip');
  await verifyPackageFiles(dir, parseManifest(JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'))));
}

/** Pulls `name` (a known model or a repository id holding a Tessera package); see the module comment. */
export async function pull(name: string, options: PullOptions = {}): Promise<PullResult> {
  const settings = options.settings ?? hubSettings();
  const entry = lookupModel(name, options.catalogue ?? KNOWN_MODELS);
  const dir = path.join(settings.modelsDir, folderName(entry.name));
  if (!options.force && existsSync(path.join(dir, PULLED_RECORD))) return { name: entry.name, dir, fetched: 0, alreadyPulled: true };
  await checkLicense(entry, settings, options.acceptLicense === true);
  const cache = repoCache(settings.hubCache, entry.repo);
  // Every file's size first (one small request each): a conversion that cannot fit is said before a byte is downloaded.
  const located: RemoteFile[] = [];
  for (const file of await withExternalData(entry, settings, cache, options.seams?.fetch)) located.push(await locate(entry, file, settings, cache, options));
  checkMemory(entry.name, conversionMemory(entry, located.reduce((sum, f) => sum + f.size, 0)), options.seams?.meminfo, options.seams?.cgroup);
  const fetched = { bytes: 0 };
  const files: CachedFile[] = [];
  for (const remote of located) files.push(await fetchFile(entry, remote, settings, cache, options, fetched));
  if (entry.post.kind === 'package') {
    // A package repository: the manifest names the rest, each checked again against its sha256 below.
    const manifest = parseManifest(JSON.parse(readFileSync(cache.blob(files[0].etag), 'utf8')));
    for (const file of Object.keys(manifest.files)) files.push(await fetchFile(entry, await locate(entry, file, settings, cache, options), settings, cache, options, fetched));
  }
  await mkdir(settings.modelsDir, { recursive: true });
  const partial = path.join(settings.modelsDir, `.${folderName(entry.name)}.partial`);
  await rm(partial, { recursive: true, force: true });
  try {
    await postStep(entry, files, cache, partial, settings, options);
    await checkInstalled(entry, partial);
    const record: PulledRecord = {
      name: entry.name,
      kind: entry.kind,
      repo: entry.repo,
      revision: entry.revision,
      endpoint: settings.endpoint,
      files: files.map((f) => ({ path: f.path, etag: f.etag, size: f.size })),
      pulledAt: new Date().toISOString(),
      ...(entry.license === undefined ? {} : { license: entry.license.id }),
    };
    await writeFile(path.join(partial, PULLED_RECORD), JSON.stringify(record, null, 2) + '\n');
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw new TesseraError('TESSERA_ERR_DISK_FULL', `installing ${entry.name} into ${settings.modelsDir}: the disk is full (ENOSPC)`, { cause: error });
    throw error;
  }
  return { name: entry.name, dir, fetched: fetched.bytes, alreadyPulled: false };
}
