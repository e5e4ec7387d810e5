import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import type { SamplingSettings } from '../types.js';

/** The typed config of a model package (docs/model-package.md), rebuilt from manifest.json. */
export interface ModelManifest {
  format: 'tessera-model';
  formatVersion: 1;
  name: string;
  description: string;
  architecture: Architecture;
  text: {
    length: number;
    vocabSize: number;
    tokenizer: string;
    padId: number;
    unknownId: number;
    unconditionalIds: number[];
  };
  image: { size: number; grid: { height: number; width: number }; vocabSize: number };
  generator: { layers: number; heads: number; headDim: number; maxLength: number; prefill: string; step: string; cache?: StepCacheLayout };
  /** Present exactly when architecture is 'encoder-decoder' (docs/model-package.md). */
  encoderDecoder?: EncoderDecoderConfig;
  decoder: string;
  /** The VQ encoder (pixels -> tokens); null when the package has none (min-dalle's detoker.pt). */
  encoder: string | null;
  clip: string | null;
  sampling: SamplingSettings;
  files: Record<string, string>;
  /**
   * Other precisions of the compute-heavy graphs, inside the same package (docs/model-package.md,
   * "Precision variants"). Absent: the package has only its own (fp32) graphs.
   */
  variants?: PackageVariants;
}

/** Variant names are precisions; `fp32` is the package's own top-level graphs, never a variant. */
export const VARIANT_PRECISIONS = ['int8'] as const;
export type VariantPrecision = (typeof VARIANT_PRECISIONS)[number];
export type PackageVariants = Partial<Record<VariantPrecision, PackageVariant>>;

/**
 * One precision variant: graphs that take the same inputs and give the same outputs as the
 * fp32 graphs they replace, so the runtime only swaps file paths (the int8 contract, issue 27).
 */
export interface PackageVariant {
  generator: { prefill: string; step: string };
  /** Absent: the fp32 VQ decoder runs. */
  decoder?: string;
  /** A CLIP folder (transformers.js layout); absent: the fp32 CLIP runs. */
  clip?: string;
  /** What the package tool measured before it added the variant (free-form figures in `checks`). */
  fidelity?: { passed: boolean; measuredAt: string; cpu: string; checks: Record<string, unknown> };
}

/**
 * How the step graph takes its per-row KV slots (docs/model-package.md). `keys`:
 * 'transposed' = past_key_l is [R, H, D, S]; 'plain' = [R, H, S, D] like the values.
 * `slots`: 'all' = the graph's slot axis is fixed at maxLength; 'filled' = it is dynamic,
 * and Tessera passes only the slots filled so far. Packages without the field
 * (formatVersion 1 as first written, and min-dalle conversions) are transposed/all.
 */
export interface StepCacheLayout {
  keys: 'transposed' | 'plain';
  slots: 'all' | 'filled';
}

export const DEFAULT_STEP_CACHE: StepCacheLayout = { keys: 'transposed', slots: 'all' };

export const SUPPORTED_ARCHITECTURES = ['decoder-only', 'encoder-decoder'] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** The text encoder and decoder start of an encoder-decoder generator (DALL·E Mini/Mega). */
export interface EncoderDecoderConfig {
  /** Graph: input_ids [P, T] -> encoder_state [P, T, width]. */
  textEncoder: string;
  width: number;
  /** The decoder's first input token (min-dalle feeds 16383). */
  imageStartToken: number;
}

type Check = (value: unknown, where: string) => void;

function fail(where: string, message: string): never {
  throw new TesseraError('TESSERA_ERR_MANIFEST', `manifest.json: ${where} ${message}`, { param: where });
}

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (value, where) => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      fail(where, `must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
  };
const number =
  (min: number, max: number): Check =>
  (value, where) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      fail(where, `must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
  };
const string: Check = (value, where) => {
  if (typeof value !== 'string') fail(where, `must be a string, got ${JSON.stringify(value)}`);
};
/** A path inside the package: relative, no `..`, so a manifest can never point outside its folder. */
const packagePath: Check = (value, where) => {
  string(value, where);
  const p = value as string;
  if (p === '' || path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
    fail(where, `must be a relative path inside the package, got ${JSON.stringify(p)}`);
  }
};
const literal =
  (...allowedValues: unknown[]): Check =>
  (value, where) => {
    if (!allowedValues.includes(value)) {
      fail(where, `must be one of ${allowedValues.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
    }
  };
const nullable =
  (check: Check): Check =>
  (value, where) => {
    if (value !== null) check(value, where);
  };
const arrayOf =
  (check: Check): Check =>
  (value, where) => {
    if (!Array.isArray(value)) fail(where, `must be an array, got ${JSON.stringify(value)}`);
    (value as unknown[]).forEach((item, i) => check(item, `${where}[${i}]`));
  };
const recordOf =
  (check: Check): Check =>
  (value, where) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'must be an object');
    for (const [key, item] of Object.entries(value as object)) {
      packagePath(key, `${where} key`);
      check(item, `${where}[${JSON.stringify(key)}]`);
    }
  };
/** Marks a key of `object` that may be absent (its value is checked when present). */
const optionalChecks = new WeakSet<Check>();
const optional = (check: Check): Check => {
  const wrapped: Check = (value, where) => check(value, where);
  optionalChecks.add(wrapped);
  return wrapped;
};
const object =
  (shape: Record<string, Check>): Check =>
  (value, where) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fail(where, `must be an object, got ${JSON.stringify(value)}`);
    }
    const record = value as Record<string, unknown>;
    const unknown = Object.keys(record).filter((k) => !(k in shape));
    if (unknown.length > 0) {
      fail(where, `has unknown key(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${Object.keys(shape).join(', ')}`);
    }
    for (const [key, check] of Object.entries(shape)) {
      if (!(key in record)) {
        if (optionalChecks.has(check)) continue;
        fail(`${where}.${key}`, 'is missing');
      }
      check(record[key], `${where}.${key}`);
    }
  };

/** Any JSON object; its contents are free-form (a variant's fidelity figures). */
const anyObject: Check = (value, where) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, `must be an object, got ${JSON.stringify(value)}`);
};
const boolean: Check = (value, where) => {
  if (typeof value !== 'boolean') fail(where, `must be true or false, got ${JSON.stringify(value)}`);
};

const variantSchema = object({
  generator: object({ prefill: packagePath, step: packagePath }),
  decoder: optional(packagePath),
  clip: optional(packagePath),
  fidelity: optional(object({ passed: boolean, measuredAt: string, cpu: string, checks: anyObject })),
});

const sha256Hex: Check = (value, where) => {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) fail(where, 'must be a lowercase sha256 hex digest');
};

const manifestSchema = object({
  format: literal('tessera-model'),
  formatVersion: literal(1),
  name: string,
  description: string,
  architecture: literal(...SUPPORTED_ARCHITECTURES),
  text: object({
    length: integer(1, 4096),
    vocabSize: integer(2),
    tokenizer: packagePath,
    padId: integer(0),
    unknownId: integer(0),
    unconditionalIds: arrayOf(integer(0)),
  }),
  image: object({
    size: integer(1, 8192),
    grid: object({ height: integer(1, 256), width: integer(1, 256) }),
    vocabSize: integer(2),
  }),
  generator: object({
    layers: integer(1),
    heads: integer(1),
    headDim: integer(1),
    maxLength: integer(2),
    prefill: packagePath,
    step: packagePath,
    cache: optional(object({ keys: literal('transposed', 'plain'), slots: literal('all', 'filled') })),
  }),
  encoderDecoder: optional(
    object({ textEncoder: packagePath, width: integer(1), imageStartToken: integer(0) }),
  ),
  decoder: packagePath,
  encoder: nullable(packagePath),
  clip: nullable(packagePath),
  sampling: object({
    candidates: integer(1, 4096),
    keep: integer(1, 4096),
    temperature: number(0, 100),
    topK: integer(0),
    topP: number(Number.MIN_VALUE, 1),
    guidanceScale: number(0, 100),
    previewEvery: integer(0),
  }),
  files: recordOf(sha256Hex),
  variants: optional(object(Object.fromEntries(VARIANT_PRECISIONS.map((precision) => [precision, optional(variantSchema)])))),
});

/** Validates a parsed manifest; unknown or missing keys fail with TESSERA_ERR_MANIFEST. */
export function parseManifest(raw: unknown): ModelManifest {
  manifestSchema(raw, 'manifest');
  const manifest = raw as ModelManifest;
  const { text, image, generator } = manifest;
  if (text.unconditionalIds.length !== text.length) {
    fail('manifest.text.unconditionalIds', `must hold text.length (${text.length}) ids, got ${text.unconditionalIds.length}`);
  }
  for (const [where, id] of [['padId', text.padId], ['unknownId', text.unknownId]] as const) {
    if (id >= text.vocabSize) fail(`manifest.text.${where}`, `must be below text.vocabSize (${text.vocabSize}), got ${id}`);
  }
  const imageTokens = image.grid.height * image.grid.width;
  const encoderDecoder = manifest.architecture === 'encoder-decoder';
  if (encoderDecoder !== (manifest.encoderDecoder !== undefined)) {
    fail('manifest.encoderDecoder', encoderDecoder ? 'is required for architecture "encoder-decoder"' : 'is only allowed for architecture "encoder-decoder"');
  }
  // Decoder-only slots hold text and image tokens; encoder-decoder slots hold image tokens only.
  const slotsNeeded = encoderDecoder ? imageTokens : text.length + imageTokens - 1;
  if (generator.maxLength < slotsNeeded) {
    fail('manifest.generator.maxLength', `must be >= ${encoderDecoder ? 'grid tokens' : 'text.length + grid tokens - 1'} (${slotsNeeded}), got ${generator.maxLength}`);
  }
  const int8 = manifest.variants?.int8;
  const referenced = [text.tokenizer, generator.prefill, generator.step, manifest.decoder, manifest.encoder, manifest.encoderDecoder?.textEncoder, int8?.generator.prefill, int8?.generator.step, int8?.decoder];
  for (const file of referenced) {
    if (file === null || file === undefined) continue;
    if (!(file in manifest.files)) fail('manifest.files', `has no sha256 for ${JSON.stringify(file)}`);
  }
  // A variant's files are hashed like the package's own: each graph, and at least one file of a CLIP folder.
  for (const [precision, variant] of Object.entries(manifest.variants ?? {})) {
    if (variant === undefined) continue;
    const where = `manifest.variants.${precision}`;
    for (const file of [variant.generator.prefill, variant.generator.step, variant.decoder]) {
      if (file !== undefined && !(file in manifest.files)) fail('manifest.files', `has no sha256 for ${JSON.stringify(file)} (${where})`);
    }
    const clip = variant.clip;
    if (clip !== undefined && !Object.keys(manifest.files).some((f) => f.startsWith(`${clip.replace(/\/+$/, '')}/`))) {
      fail('manifest.files', `has no sha256 for any file of ${JSON.stringify(clip)}/ (${where}.clip)`);
    }
  }
  return manifest;
}

/** Reads and validates `<dir>/manifest.json`. */
export function readManifest(dir: string): ModelManifest {
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TesseraError('TESSERA_ERR_MODEL_NOT_FOUND', `model package not found: ${dir} is not a folder`, { param: 'model' });
  }
  if (!existsSync(file)) {
    throw new TesseraError('TESSERA_ERR_MODEL_FILE', `model package ${dir}: manifest.json is missing`, { param: 'model' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_MANIFEST', `${file}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  return parseManifest(raw);
}

export function sha256OfFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Hashes every file the manifest lists; the first missing or mismatching file fails, by name. */
export async function verifyPackageFiles(dir: string, manifest: ModelManifest): Promise<void> {
  for (const [relative, expected] of Object.entries(manifest.files)) {
    const file = path.join(dir, relative);
    if (!existsSync(file)) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `model package ${dir}: ${relative} is missing`, { param: 'model' });
    }
    const actual = await sha256OfFile(file);
    if (actual !== expected) {
      throw new TesseraError(
        'TESSERA_ERR_MODEL_FILE',
        `model package ${dir}: ${relative} is corrupt (sha256 ${actual.slice(0, 12)}…, manifest says ${expected.slice(0, 12)}…)`,
        { param: 'model' },
      );
    }
  }
}
