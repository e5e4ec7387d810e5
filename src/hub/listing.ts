/**
 * The files of a known model whose names depend on the repository: each `.onnx` file's
 * external data (`<file>_data`, `<file>_data_1`, …, as many as its exporter wrote), found by
 * listing the repository with @huggingface/hub's listFiles (offline: the cached snapshot).
 * A declared file the listing lacks is a one-line TESSERA_ERR_PULL_NOT_FOUND before any download.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { listFiles } from '@huggingface/hub';
import { TesseraError } from '../errors.js';
import type { KnownModel } from './catalogue.js';
import { hubError } from './download.js';
import type { RepoCache } from './hf-cache.js';
import type { HubSettings } from './settings.js';

/** Every file path in the repository at the entry's revision (offline: in its cached snapshot). */
async function repositoryFiles(entry: KnownModel, settings: HubSettings, cache: RepoCache, fetchImpl?: typeof fetch): Promise<string[]> {
  if (settings.offline) {
    const commit = cache.readRef(entry.revision);
    if (commit === undefined) return [];
    const dirs = new Set(entry.files.map((f) => path.posix.dirname(f)));
    return [...dirs].flatMap((d) => {
      const full = cache.snapshot(commit, d);
      return existsSync(full) ? readdirSync(full).map((n) => (d === '.' ? n : `${d}/${n}`)) : [];
    });
  }
  const paths: string[] = [];
  try {
    for await (const item of listFiles({ repo: entry.repo, revision: entry.revision, recursive: true, hubUrl: settings.endpoint, accessToken: settings.token, fetch: fetchImpl })) {
      if (item.type === 'file') paths.push(item.path);
    }
  } catch (error) {
    throw hubError(error, `listing ${entry.repo} at ${entry.revision}`, settings);
  }
  return paths;
}

/** The entry's files followed by each `.onnx` file's external data files (when `entry.externalData`). */
export async function withExternalData(entry: KnownModel, settings: HubSettings, cache: RepoCache, fetchImpl?: typeof fetch): Promise<string[]> {
  if (entry.externalData !== true) return [...entry.files];
  const listed = await repositoryFiles(entry, settings, cache, fetchImpl);
  const missing = settings.offline ? [] : entry.files.filter((f) => !listed.includes(f));
  if (missing.length > 0) {
    const onnx = listed.filter((f) => f.endsWith('.onnx')).sort();
    throw new TesseraError(
      'TESSERA_ERR_PULL_NOT_FOUND',
      `${entry.name}: ${entry.repo} at ${entry.revision} on ${settings.endpoint} has no ${missing.join(', ')} (its .onnx files: ${onnx.join(', ') || 'none'}); the repository changed its layout: pull another variant, or report it`,
    );
  }
  const data = entry.files.filter((f) => f.endsWith('.onnx')).flatMap((f) => listed.filter((p) => p.startsWith(`${f}_data`)).sort());
  return [...entry.files, ...data];
}
