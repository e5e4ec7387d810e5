/**
 * Where pulls come from and go to, after the Hub's own conventions (huggingface_hub's
 * constants): HF_ENDPOINT for another hub or a mirror, HF_TOKEN (or the token
 * `huggingface-cli login` stored under HF_HOME), HF_HUB_OFFLINE, and the Hub's cache
 * (HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface, as @huggingface/hub's getHFHubCachePath
 * reads them) for the downloads. Converted packages go to Tessera's own cache.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';
import { modelsDir } from './resolve.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubSettings {
  /** Base URL of the hub (no trailing slash). */
  endpoint: string;
  /** Bearer token, or undefined. */
  token: string | undefined;
  /** HF_HUB_OFFLINE: nothing is fetched; only what the cache holds is used. */
  offline: boolean;
  /** The Hub's cache (models--owner--name/blobs, snapshots, refs). */
  hubCache: string;
  /** Where pulled models are installed: one folder per name. */
  modelsDir: string;
}

/** huggingface_hub's truthy spellings (constants._is_true). */
function isTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

function hfHome(env: NodeJS.ProcessEnv): string {
  return env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
}

export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const tokenFile = path.join(hfHome(env), 'token');
  const stored = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || stored || undefined;
  return {
    endpoint: (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, ''),
    token,
    offline: isTrue(env.HF_HUB_OFFLINE),
    // getHFHubCachePath reads process.env; an explicit env (tests) is honoured the same way.
    hubCache: env === process.env ? getHFHubCachePath() : (env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? path.join(hfHome(env), 'hub')),
    modelsDir: modelsDir(env),
  };
}
