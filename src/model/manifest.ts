import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import type { SamplingSettings } from '../types.js';
import { anyObject, arrayOf, boolean, fail, integer, literal, nullable, number, object, optional, packagePath, recordOf, sha256Hex, string } from './manifest-checks.js';

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
    /**
     * The model's prompt format, `{prompt}` standing for the prompt (Janus:
     * `<|User|>: {prompt}\n\n<|Assistant|>:<begin_of_image>`). Absent: the prompt as it is.
     */
    template?: string;
    /**
     * What an unconditional row is: 'ids' (default) the fixed `unconditionalIds`;
     * 'keep-ends' the prompt's own ids with all but the first and the last replaced by
     * padId (deepseek-ai/Janus generation_inference.py), so it has the prompt's length.
     */
    unconditional?: 'ids' | 'keep-ends';
  };
  image: { size: number; grid: { height: number; width: number }; vocabSize: number };
  generator: { layers: number; heads: number; headDim: number; maxLength: number; prefill: string; step: string; cache?: StepCacheLayout };
  /** Present exactly when architecture is 'encoder-decoder' (docs/model-package.md). */
  encoderDecoder?: EncoderDecoderConfig;
  /** Present exactly when architecture is 'janus' (docs/janus.md). */
  janus?: JanusConfig;
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
  /**
   * Another vision graph of the CLIP this precision runs (`clip` if given, else the package's):
   * `<that folder>/onnx/<name>.onnx`, e.g. clip/onnx/vision_model.int8.onnx (scripts/perf/clip_int8.py).
   * Absent: the folder's own onnx/vision_model.onnx runs.
   */
  clipVision?: string;
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
  /**
   * Decoder-only: where the text prefix's keys/values sit. 'rows' (default): in slots
   * 0..T-1 of every row; 'prefixes': the step graph takes them once per distinct text
   * (text_key_l / text_value_l [P, H, T, D], text_mask [P, T], the rows in P equal
   * contiguous groups, or P = R) and each row's slots hold its image entries only
   * (scripts/convert/text_prefixes.py, docs/model-package.md).
   */
  text?: 'rows' | 'prefixes';
}

export const DEFAULT_STEP_CACHE: StepCacheLayout = { keys: 'transposed', slots: 'all' };

export const SUPPORTED_ARCHITECTURES = ['decoder-only', 'encoder-decoder', 'janus'] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** The text encoder and decoder start of an encoder-decoder generator (DALL·E Mini/Mega). */
export interface EncoderDecoderConfig {
  /** Graph: input_ids [P, T] -> encoder_state [P, T, width]. */
  textEncoder: string;
  width: number;
  /** The decoder's first input token (min-dalle feeds 16383). */
  imageStartToken: number;
  /**
   * How the step graph takes cross-attention keys/values and the text mask: 'rows' (default),
   * one per row; 'prefixes', one per distinct text with the rows in equal contiguous groups,
   * or one per row (scripts/convert/cross_prefixes.py, docs/model-package.md).
   */
  cross?: 'rows' | 'prefixes';
}

/**
 * The graphs of a Janus package besides the language model (generator.prefill/step) and
 * the VQ decoder (`decoder`: image_decode), as onnx-community exports them (docs/janus.md).
 */
export interface JanusConfig {
  /** input_ids, pixel_values, images_seq_mask, images_emb_mask -> inputs_embeds [B, S, hiddenSize]. */
  prepareInputsEmbeds: string;
  /** image_ids [B, S] -> inputs_embeds [B, S, hiddenSize]. */
  genImgEmbeds: string;
  /** hidden states [B, S, hiddenSize] -> logits [B, S, image.vocabSize]. */
  genHead: string;
  hiddenSize: number;
  /** `<begin_of_image>`: the last id of every prompt (and of its unconditional row). */
  imageStartId: number;
}

const variantSchema = object({
  generator: object({ prefill: packagePath, step: packagePath }),
  decoder: optional(packagePath),
  clip: optional(packagePath),
  clipVision: optional(packagePath),
  fidelity: optional(object({ passed: boolean, measuredAt: string, cpu: string, checks: anyObject })),
});

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
    template: optional(string),
    unconditional: optional(literal('ids', 'keep-ends')),
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
    cache: optional(object({ keys: literal('transposed', 'plain'), slots: literal('all', 'filled'), text: optional(literal('rows', 'prefixes')) })),
  }),
  encoderDecoder: optional(
    object({ textEncoder: packagePath, width: integer(1), imageStartToken: integer(0), cross: optional(literal('rows', 'prefixes')) }),
  ),
  janus: optional(
    object({ prepareInputsEmbeds: packagePath, genImgEmbeds: packagePath, genHead: packagePath, hiddenSize: integer(1), imageStartId: integer(0) }),
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
  const janus = manifest.architecture === 'janus';
  if (janus !== (manifest.janus !== undefined)) {
    fail('manifest.janus', janus ? 'is required for architecture "janus"' : 'is only allowed for architecture "janus"');
  }
  if (text.template !== undefined && !text.template.includes('{prompt}')) fail('manifest.text.template', 'must contain {prompt}');
  if (generator.cache?.text === 'prefixes' && (manifest.architecture !== 'decoder-only' || generator.cache.keys !== 'plain')) {
    fail('manifest.generator.cache.text', `"prefixes" needs a decoder-only package with plain keys, got ${manifest.architecture} with ${generator.cache.keys} keys`);
  }
  // Decoder-only (and Janus) slots hold text and image tokens; encoder-decoder slots hold image tokens only.
  const slotsNeeded = encoderDecoder ? imageTokens : text.length + imageTokens - 1;
  if (generator.maxLength < slotsNeeded) {
    fail('manifest.generator.maxLength', `must be >= ${encoderDecoder ? 'grid tokens' : 'text.length + grid tokens - 1'} (${slotsNeeded}), got ${generator.maxLength}`);
  }
  const int8 = manifest.variants?.int8;
  const referenced = [text.tokenizer, generator.prefill, generator.step, manifest.decoder, manifest.encoder, manifest.encoderDecoder?.textEncoder, manifest.janus?.prepareInputsEmbeds, manifest.janus?.genImgEmbeds, manifest.janus?.genHead, int8?.generator.prefill, int8?.generator.step, int8?.decoder];
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
    if (variant.clipVision !== undefined) checkClipVision(manifest, variant.clipVision, clip ?? manifest.clip, `${where}.clipVision`);
  }
  return manifest;
}

/** A variant's CLIP vision graph lies in the onnx/ folder of the CLIP it runs with, and is hashed. */
function checkClipVision(manifest: ModelManifest, file: string, clip: string | null, where: string): void {
  if (clip === null) fail(where, 'needs a CLIP (manifest.clip or the variant\'s clip) whose vision graph it replaces');
  const folder = `${clip.replace(/\/+$/, '')}/onnx/`;
  if (!file.startsWith(folder) || !/^[^/]+\.onnx$/.test(file.slice(folder.length))) {
    fail(where, `must be ${folder}<name>.onnx (the CLIP's onnx/ folder), got ${JSON.stringify(file)}`);
  }
  if (!(file in manifest.files)) fail('manifest.files', `has no sha256 for ${JSON.stringify(file)} (${where})`);
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
