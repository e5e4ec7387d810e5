/** What is pulled: one folder per name under the models folder, each with the record of its pull (src/hub/resolve.ts). */
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { TesseraError, allowed } from '../errors.js';
import { repoCache } from './hf-cache.js';
import { readRecord, type PulledRecord } from './resolve.js';
import { hubSettings, type HubSettings } from './settings.js';

export interface PulledModel extends PulledRecord {
  dir: string;
  /** Bytes of the installed folder (hard links to the download count here too). */
  bytes: number;
  /** Bytes of the downloads still in the Hub's cache. */
  downloadBytes: number;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const stats = lstatSync(full);
    total += stats.isDirectory() ? folderBytes(full) : stats.size;
  }
  return total;
}

/** Every pulled model, by name. */
export function listPulled(settings: HubSettings = hubSettings()): PulledModel[] {
  if (!existsSync(settings.modelsDir)) return [];
  const models: PulledModel[] = [];
  for (const name of readdirSync(settings.modelsDir).sort()) {
    if (name.startsWith('.')) continue;
    const dir = path.join(settings.modelsDir, name);
    const record = readRecord(dir);
    if (record === undefined) continue;
    const cache = repoCache(settings.hubCache, record.repo);
    const downloadBytes = record.files.reduce((sum, f) => sum + (existsSync(cache.blob(f.etag)) ? statSync(cache.blob(f.etag)).size : 0), 0);
    models.push({ ...record, dir, bytes: folderBytes(dir), downloadBytes });
  }
  return models;
}

/**
 * Removes a pulled model: its folder, and its downloads from the Hub's cache unless another
 * pulled model uses the same file (DALL·E Mini and Mega share detoker.pt). Returns the bytes freed.
 */
export async function removePulled(name: string, settings: HubSettings = hubSettings()): Promise<number> {
  const all = listPulled(settings);
  const model = all.find((m) => m.name === name);
  if (model === undefined) {
    throw new TesseraError('TESSERA_ERR_OPTION', `${JSON.stringify(name)} is not pulled. Pulled: ${all.length === 0 ? 'none' : allowed(all.map((m) => m.name))}`, { param: 'name' });
  }
  const kept = new Set(all.filter((m) => m !== model && m.repo === model.repo).flatMap((m) => m.files.map((f) => f.etag)));
  const cache = repoCache(settings.hubCache, model.repo);
  // Bytes freed: each inode once (the folder's files may be hard links to the blobs), none that stays.
  const keptInodes = new Set([...kept].filter((etag) => existsSync(cache.blob(etag))).map((etag) => statSync(cache.blob(etag)).ino));
  const freedInodes = new Map<number, number>();
  const count = (file: string) => {
    const stats = lstatSync(file);
    if (stats.isDirectory()) for (const name of readdirSync(file)) count(path.join(file, name));
    else if (!keptInodes.has(stats.ino)) freedInodes.set(stats.ino, stats.size);
  };
  count(model.dir);
  for (const file of model.files) {
    if (kept.has(file.etag) || !existsSync(cache.blob(file.etag))) continue;
    count(cache.blob(file.etag));
    await rm(cache.blob(file.etag), { force: true });
    // The snapshot links to it would dangle: remove every one.
    const snapshots = path.join(cache.dir, 'snapshots');
    if (existsSync(snapshots)) for (const commit of readdirSync(snapshots)) await rm(path.join(snapshots, commit, file.path), { force: true });
  }
  await rm(model.dir, { recursive: true, force: true });
  return [...freedInodes.values()].reduce((a, b) => a + b, 0);
}
