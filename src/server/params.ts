/**
 * Parsing of the image request body (OpenAI Images API fields plus Tessera's extensions).
 * Every check names the offending field in `param`; ranges come from the pipeline's
 * LIMITS via resolveRequest, so the CLI and the API accept exactly the same values.
 */
import { IMAGE_FORMATS, type ImageFormat, type UpscaleKernel } from '../image/index.js';
import type { ModelManifest } from '../model/manifest.js';
import { resolveRequest, type ResolvedRequest } from '../pipeline/settings.js';
import type { GenerateRequest, ImagePromptInput } from '../types.js';
import { isTesseraError, type ErrorCode } from '../errors.js';
import { ApiError, wireParam } from './api-error.js';

export type ResponseFormat = 'url' | 'b64_json';
export const RESPONSE_FORMATS: readonly ResponseFormat[] = ['url', 'b64_json'];
/** Upscaling factors offered over the model's native size. */
export const UPSCALE_FACTORS = [1, 2, 4, 8, 16] as const;
export const MAX_OUTPUT_SIDE = 2048;
export const MAX_N = 10;

/** OpenAI's accepted values (openai-node ImageGenerateParams); what each means here is in docs/api.md. */
export const QUALITY_VALUES = ['auto', 'low', 'medium', 'high', 'standard', 'hd'] as const;
export const BACKGROUND_VALUES = ['auto', 'opaque', 'transparent'] as const;
export const MODERATION_VALUES = ['auto', 'low'] as const;
export const STYLE_VALUES = ['vivid', 'natural'] as const;
/** Resampling kernels of upscaled sizes; the first is the default (smooth edges; nearest keeps the token grid's blocks). */
export const UPSCALE_KERNELS: readonly UpscaleKernel[] = ['lanczos3', 'nearest'];
export type Quality = 'low' | 'medium' | 'high';

/** quality chooses how many candidates are sampled (when `candidates` is not given): more candidates, better best-of-n. */
const QUALITY_OF: Record<(typeof QUALITY_VALUES)[number], Quality> = { auto: 'medium', standard: 'medium', low: 'low', medium: 'medium', high: 'high', hd: 'high' };

export function candidatesForQuality(quality: Quality, modelDefault: number, n: number, maxCandidates: number): number {
  const wanted = quality === 'low' ? Math.ceil(modelDefault / 4) : quality === 'high' ? modelDefault * 2 : modelDefault;
  return Math.max(n, Math.min(wanted, maxCandidates));
}

export interface ModelRef {
  id: string;
  dir: string;
  manifest: ModelManifest;
}

export interface ImageParams {
  model: ModelRef;
  n: number;
  size: { width: number; height: number; label: string; upscaled: boolean };
  responseFormat: ResponseFormat;
  outputFormat: ImageFormat;
  user: string | null;
  stream: boolean;
  partialImages: number;
  /** What the response reports as `quality` (OpenAI's response type allows low, medium, high). */
  quality: Quality;
  /** 1-100 for jpeg and webp (sharp's quality), null for the default. */
  outputCompression: number | null;
  /** Resampling kernel of upscaled sizes. */
  upscale: UpscaleKernel;
  /** The pipeline request (seed resolved, so the stored record can reproduce it). */
  request: GenerateRequest;
  resolved: ResolvedRequest;
}

const KNOWN_FIELDS = new Set([
  'prompt',
  'model',
  'n',
  'size',
  'response_format',
  'output_format',
  'user',
  'stream',
  'partial_images',
  // OpenAI fields, checked against OpenAI's values (QUALITY_VALUES and the rest above).
  'quality',
  'style',
  'background',
  'moderation',
  'output_compression',
  // Tessera extensions.
  'upscale',
  'candidates',
  'seed',
  'negative_prompt',
  'temperature',
  'top_k',
  'top_p',
  'guidance_scale',
  'preview_every',
]);

function bad(param: string, message: string, code: ErrorCode = 'TESSERA_ERR_OPTION'): ApiError {
  return new ApiError(code, message, { param });
}

function oneOf<T extends string>(b: Record<string, unknown>, field: string, values: readonly T[]): T | undefined {
  const value = typed<string>(b, field, 'string');
  if (value !== undefined && !values.includes(value as T)) throw bad(field, `${field} must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
  return value as T | undefined;
}

function typed<T>(body: Record<string, unknown>, field: string, type: 'string' | 'number' | 'integer' | 'boolean'): T | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  const ok =
    type === 'integer' ? typeof value === 'number' && Number.isInteger(value) : type === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === type;
  if (!ok) {
    throw bad(field, `${field} must be ${type === 'integer' ? 'an integer' : `a ${type}`}, got ${JSON.stringify(value)}`, 'TESSERA_ERR_INVALID_TYPE');
  }
  return value as T;
}

export function sizesFor(manifest: ModelManifest): string[] {
  const native = manifest.image.size;
  return UPSCALE_FACTORS.map((f) => native * f)
    .filter((side) => side <= MAX_OUTPUT_SIDE)
    .map((side) => `${side}x${side}`);
}

export interface ParseContext {
  models: readonly ModelRef[];
  maxCandidates: number;
  defaultPreviewEvery: number;
  /** A plain JSON response has no use for previews: skip decoding them unless asked. */
  sync?: boolean;
  /** The image half of an edit or variation (built from the upload by routes/image-prompts.ts). */
  image?: ImagePromptInput;
}

/** The model a body names (`model`), or the first installed; 404 for one not served. */
export function pickModel(b: Record<string, unknown>, models: readonly ModelRef[]): ModelRef {
  const modelName = typed<string>(b, 'model', 'string');
  const model = modelName === undefined ? models[0] : models.find((m) => m.id === modelName);
  if (model === undefined) {
    throw new ApiError('TESSERA_ERR_MODEL_UNKNOWN', `model ${JSON.stringify(modelName)} does not exist; installed: ${models.map((m) => JSON.stringify(m.id)).join(', ')}`, {
      param: 'model',
    });
  }
  return model;
}

/** Codes of the pipeline's checks that reach the client as they are (the rest are invalid values). */
const KEPT_CODES: readonly ErrorCode[] = ['TESSERA_ERR_PROMPT', 'TESSERA_ERR_MASK', 'TESSERA_ERR_NO_IMAGE_ENCODER'];

/** Parses and validates a generation body; throws ApiError (400/404) naming the field. */
export function parseImageParams(body: unknown, context: ParseContext): ImageParams {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('body', 'the request body must be a JSON object', 'TESSERA_ERR_INVALID_BODY');
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!KNOWN_FIELDS.has(key)) throw bad(key, `unrecognized request argument: ${key}`, 'TESSERA_ERR_UNKNOWN_PARAMETER');
  }
  // A variation's caption is optional; every other request needs a prompt.
  const promptOptional = context.image?.mode === 'vary';
  if ((b.prompt === undefined || b.prompt === null) && !promptOptional) throw bad('prompt', 'prompt is required', 'TESSERA_ERR_MISSING_PARAMETER');
  const prompt = typed<string>(b, 'prompt', 'string') ?? '';

  const model = pickModel(b, context.models);
  const manifest = model.manifest;

  const n = typed<number>(b, 'n', 'integer') ?? 1;
  if (n < 1 || n > MAX_N) throw bad('n', `n must be from 1 to ${MAX_N}, got ${n}`);
  const qualityValue = oneOf(b, 'quality', QUALITY_VALUES);
  const explicitCandidates = typed<number>(b, 'candidates', 'integer');
  const candidates =
    explicitCandidates ??
    (qualityValue === undefined ? Math.max(manifest.sampling.candidates, n) : candidatesForQuality(QUALITY_OF[qualityValue], manifest.sampling.candidates, n, context.maxCandidates));
  if (candidates < 1 || candidates > context.maxCandidates) {
    throw bad('candidates', `candidates must be from 1 to ${context.maxCandidates} on this server, got ${candidates}`);
  }
  if (n > candidates) throw bad('n', `n (${n}) cannot exceed candidates (${candidates}): n of the candidates are kept`);

  const sizes = sizesFor(manifest);
  const sizeValue = typed<string>(b, 'size', 'string') ?? 'auto';
  const sizeLabel = sizeValue === 'auto' ? sizes[0] : sizeValue;
  if (!sizes.includes(sizeLabel)) {
    throw bad('size', `size ${JSON.stringify(sizeValue)} is not supported by ${model.id}: use "auto" or one of ${sizes.map((s) => JSON.stringify(s)).join(', ')} (native ${sizes[0]}, larger sizes are upscaled)`);
  }
  const side = Number(sizeLabel.split('x')[0]);
  const size = { width: side, height: side, label: sizeLabel, upscaled: side !== manifest.image.size };

  const responseFormat = typed<string>(b, 'response_format', 'string') ?? 'url';
  if (!RESPONSE_FORMATS.includes(responseFormat as ResponseFormat)) {
    throw bad('response_format', `response_format must be one of "url", "b64_json", got ${JSON.stringify(responseFormat)}`);
  }
  const outputFormat = typed<string>(b, 'output_format', 'string') ?? 'png';
  if (!IMAGE_FORMATS.includes(outputFormat as ImageFormat)) {
    throw bad('output_format', `output_format must be one of ${IMAGE_FORMATS.map((f) => JSON.stringify(f)).join(', ')}, got ${JSON.stringify(outputFormat)}`);
  }
  const user = typed<string>(b, 'user', 'string') ?? null;
  if (user !== null && user.length > 256) throw bad('user', 'user must be at most 256 characters');
  const stream = typed<boolean>(b, 'stream', 'boolean') ?? false;
  const partialImages = typed<number>(b, 'partial_images', 'integer') ?? (stream ? 2 : 0);
  if (partialImages < 0 || partialImages > 3) throw bad('partial_images', `partial_images must be from 0 to 3, got ${partialImages}`);
  const background = oneOf(b, 'background', BACKGROUND_VALUES);
  if (background === 'transparent') {
    throw bad('background', 'background "transparent" is not supported: this model draws every pixel (use "opaque" or "auto")', 'TESSERA_ERR_UNSUPPORTED_VALUE');
  }
  // No content moderation is needed to honour either value: the model can only draw the shapes world.
  oneOf(b, 'moderation', MODERATION_VALUES);
  if (oneOf(b, 'style', STYLE_VALUES) !== undefined) {
    throw bad('style', 'style is a dall-e-3 option this model cannot honour (it has no vivid or natural look to choose); leave it out', 'TESSERA_ERR_UNSUPPORTED_VALUE');
  }
  const outputCompression = typed<number>(b, 'output_compression', 'integer') ?? null;
  if (outputCompression !== null) {
    if (outputCompression < 0 || outputCompression > 100) throw bad('output_compression', `output_compression must be from 0 to 100, got ${outputCompression}`);
    if (outputFormat === 'png') throw bad('output_compression', 'output_compression applies to output_format "jpeg" or "webp" (png is lossless)', 'TESSERA_ERR_UNSUPPORTED_VALUE');
  }
  const upscale = oneOf(b, 'upscale', UPSCALE_KERNELS) ?? UPSCALE_KERNELS[0];
  const quality: Quality =
    qualityValue !== undefined
      ? QUALITY_OF[qualityValue]
      : candidates < manifest.sampling.candidates
        ? 'low'
        : candidates > manifest.sampling.candidates
          ? 'high'
          : 'medium';

  const steps = manifest.image.grid.height * manifest.image.grid.width;
  const explicitPreview = typed<number>(b, 'preview_every', 'integer');
  const previewEvery =
    explicitPreview ?? (partialImages > 0 ? Math.max(1, Math.floor(steps / (partialImages + 1))) : context.sync && !stream ? 0 : context.defaultPreviewEvery);

  const request: GenerateRequest = {
    prompt,
    negativePrompt: typed<string>(b, 'negative_prompt', 'string'),
    candidates,
    keep: n,
    seed: typed<number>(b, 'seed', 'integer'),
    temperature: typed<number>(b, 'temperature', 'number'),
    topK: typed<number>(b, 'top_k', 'integer'),
    topP: typed<number>(b, 'top_p', 'number'),
    guidanceScale: typed<number>(b, 'guidance_scale', 'number'),
    previewEvery,
    ...(context.image === undefined ? {} : { image: context.image }),
  };
  let resolved: ResolvedRequest;
  try {
    resolved = resolveRequest(request, manifest);
  } catch (error) {
    if (isTesseraError(error)) throw bad(wireParam(error.param) ?? 'body', error.message.replace(/^(\w+)/, (w) => wireParam(w) ?? w), KEPT_CODES.includes(error.code) ? error.code : 'TESSERA_ERR_OPTION');
    throw error;
  }
  request.seed = resolved.seed;
  return {
    model,
    n,
    size,
    responseFormat: responseFormat as ResponseFormat,
    outputFormat: outputFormat as ImageFormat,
    user,
    stream,
    partialImages,
    quality,
    // sharp's quality runs 1-100; OpenAI's 0 (most compression) is its 1.
    outputCompression: outputCompression === null ? null : Math.max(1, outputCompression),
    upscale,
    request,
    resolved,
  };
}
