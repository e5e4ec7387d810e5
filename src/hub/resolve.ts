/**
 * The one place a `--model` or `--clip` value becomes a folder, for every command (generate,
 * complete, edit, vary, batch, serve, worker, search): a path, or a pulled name. Light on
 * purpose (no Hub client): every command imports it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import { cacheDir } from '../model/precision.js';
import { DEFAULT_MODEL_DIR } from '../pipeline/loader.js';
import { KNOWN_MODELS, folderName, type KnownModel, type PulledKind } from './catalogue.js';

/** The record a pull leaves in the folder it installed (written last: its presence means complete). */
export const PULLED_RECORD = '.tessera-pull.json';

export interface PulledRecord {
  name: string;
  kind: PulledKind;
  repo: string;
  revision: string;
  endpoint: string;
  files: { path: string; etag: string; size: number }[];
  pulledAt: string;
  license?: string;
}

/** The pulled models' folder: $TESSERA_MODELS_DIR, else <Tessera's cache>/models. */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TESSERA_MODELS_DIR ? path.resolve(env.TESSERA_MODELS_DIR) : path.join(cacheDir(env), 'models');
}

/** The record in a pulled model's folder, or undefined when the folder is not a complete pull. */
export function readRecord(dir: string): PulledRecord | undefined {
  const file = path.join(dir, PULLED_RECORD);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as PulledRecord;
}

/**
 * The folder a `--model` (kind 'package') or `--clip` (kind 'clip') value names:
 * - an existing path is itself (as before pulled names existed);
 * - a pulled name (or repository id) is its folder in the models folder;
 * - `default` (for --model) is the embedded model, so that `serve` can serve it beside a pulled one;
 * - a known name that is not pulled fails with TESSERA_ERR_MODEL_NOT_PULLED, saying how to pull it;
 * - anything else is returned as it is (the loader reports a missing folder as before).
 */
export function resolveModelRef(value: string | undefined, kind: PulledKind, env: NodeJS.ProcessEnv = process.env, catalogue: readonly KnownModel[] = KNOWN_MODELS): string | undefined {
  if (value === undefined || value === '' || existsSync(value)) return value;
  const flag = kind === 'package' ? '--model' : '--clip';
  const dir = path.join(modelsDir(env), folderName(value));
  const record = value.includes('..') ? undefined : readRecord(dir);
  if (record !== undefined) {
    if (record.kind !== kind) {
      throw new TesseraError('TESSERA_ERR_OPTION', `${flag} ${value}: that is a pulled ${record.kind === 'clip' ? 'CLIP (use --clip)' : 'model package (use --model)'}`, { param: flag.slice(2) });
    }
    return dir;
  }
  if (kind === 'package' && value === 'default') return DEFAULT_MODEL_DIR;
  const known = catalogue.find((m) => m.name === value);
  if (known !== undefined) {
    if (known.kind !== kind) throw new TesseraError('TESSERA_ERR_OPTION', `${flag} ${value}: ${value} is ${known.description}; it goes with ${known.kind === 'clip' ? '--clip' : '--model'}`, { param: flag.slice(2) });
    throw new TesseraError('TESSERA_ERR_MODEL_NOT_PULLED', `${flag} ${value}: not pulled yet (nothing is downloaded unless asked): run tessera pull ${value} (about ${(known.approxBytes.download / 1e9).toFixed(1)} GB to download)`, { param: flag.slice(2) });
  }
  return value;
}
