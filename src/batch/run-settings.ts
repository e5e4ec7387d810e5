/**
 * The settings a batch folder is made with (run.json) and per-prompt seeds. The names
 * of a prompt's outputs are the batch layout's (output/batch.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import type { ClipIdentity } from '../pipeline/identity.js';
import type { Device } from '../types.js';
import { MAX_SEED } from '../sampler/rng.js';

export const RUN_FILE = 'run.json';

/** Flags that apply to every prompt unless its JSONL line overrides them; null: the model's default. */
export interface BatchDefaults {
  candidates: number | null;
  keep: number | null;
  temperature: number | null;
  topK: number | null;
  topP: number | null;
  guidanceScale: number | null;
  negativePrompt: string | null;
}

/** What run.json holds: everything that decides the bytes of the outputs. */
export interface RunSettings {
  format: 'tessera-batch';
  version: 1;
  model: { name: string; manifestSha256: string };
  device: Device;
  /** Base seed: prompt i without its own seed gets promptSeed(seed, i). */
  seed: number;
  defaults: BatchDefaults;
  rerank: boolean;
  /** The CLIP given with --clip; null: the package's own (pinned by its manifest). Absent in older folders. */
  clip?: ClipIdentity | null;
  grid: boolean;
}

/**
 * The seed of the prompt at `index` when its line names none: the first four bytes
 * (big-endian) of SHA-256("tessera-batch-seed:<base>:<index>"). Independent of the
 * other prompts, of the batch it runs in and of the file's length.
 */
export function promptSeed(base: number, index: number): number {
  const digest = createHash('sha256').update(`tessera-batch-seed:${base}:${index}`).digest();
  return digest.readUInt32BE(0) % (MAX_SEED + 1);
}

/** Reads run.json; null when the folder has none. A corrupt one is TESSERA_ERR_RUN_CONFLICT (it cannot be trusted). */
export function readRunSettings(outDir: string): RunSettings | null {
  const file = path.join(outDir, RUN_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TesseraError('TESSERA_ERR_OUTPUT', `cannot read ${file}: ${(error as Error).message}`, { param: 'out', cause: error });
  }
  try {
    const value = JSON.parse(text) as RunSettings;
    if (value.format !== 'tessera-batch') throw new Error('not a tessera batch run file');
    return value;
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_RUN_CONFLICT', `${file} is not a Tessera batch run file (${(error as Error).message}); use --force to start over in this folder`, {
      param: 'out',
      cause: error,
    });
  }
}

/** The settings that differ between two runs, as "key: old -> new" lines. */
export function settingsDifferences(stored: RunSettings, current: RunSettings): string[] {
  const flat = (s: RunSettings): Record<string, unknown> => ({
    format: `${s.format} v${s.version}`,
    model: s.model?.name,
    'model files': s.model?.manifestSha256,
    device: s.device,
    seed: s.seed,
    ...Object.fromEntries(Object.entries(s.defaults ?? {}).map(([k, v]) => [k, v])),
    rerank: s.rerank,
    // Compared by content: the same CLIP moved to another folder is the same ranking.
    clip: s.clip?.sha256 ?? null,
    grid: s.grid,
  });
  const a = flat(stored);
  const b = flat(current);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k] ?? null)} in the folder, ${JSON.stringify(b[k] ?? null)} now`);
}
