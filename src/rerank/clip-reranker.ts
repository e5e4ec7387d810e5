import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  AutoProcessor,
  AutoTokenizer,
  CLIPTextModelWithProjection,
  CLIPVisionModelWithProjection,
  env,
  RawImage,
  Tensor,
  type PreTrainedTokenizer,
  type Processor,
  type PreTrainedModel,
} from '@huggingface/transformers';
import { TesseraError } from '../errors.js';
import { kernelOptions } from '../model/runtime.js';
import type { Device, RgbImage } from '../types.js';
import { directPixels, pixelValues, type DirectPixels } from './pixel-values.js';

/** The files transformers.js reads for a CLIP (the layout of Xenova/clip-vit-base-patch32). */
export const CLIP_FILES = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'preprocessor_config.json',
  'onnx/text_model.onnx',
  'onnx/vision_model.onnx',
] as const;

/**
 * Checks that `clipDir` is a folder holding every CLIP_FILES entry; otherwise a TesseraError
 * with `code` naming the folder or the first missing file (`param`: the flag or field it came from).
 */
export function checkClipDir(clipDir: string, code: 'TESSERA_ERR_OPTION' | 'TESSERA_ERR_MODEL_FILE', param: string): void {
  if (!existsSync(clipDir) || !statSync(clipDir).isDirectory()) {
    throw new TesseraError(code, `CLIP folder ${clipDir} does not exist (${param}); it needs ${CLIP_FILES.join(', ')}`, { param });
  }
  const missing = CLIP_FILES.filter((file) => !existsSync(path.join(clipDir, file)));
  if (missing.length > 0) {
    throw new TesseraError(code, `CLIP folder ${clipDir} (${param}) lacks ${missing.join(', ')}`, { param });
  }
}

/** SHA-256 over CLIP_FILES (names and bytes, in order): what a batch run records of the CLIP it ranks with. */
export async function clipDigest(clipDir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of CLIP_FILES) {
    hash.update(`${file}\0`);
    for await (const chunk of createReadStream(path.join(clipDir, file))) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** The fp32 vision graph of a CLIP folder (CLIP_FILES); a precision variant may name another one beside it. */
export const CLIP_VISION_GRAPH = 'onnx/vision_model.onnx';

/** How a CLIP loads beyond its folder. */
export interface ClipLoadOptions {
  /**
   * The vision graph to run, relative to the CLIP folder, in its onnx/ folder (default
   * CLIP_VISION_GRAPH): a package's int8 variant names onnx/vision_model.int8.onnx
   * (manifest `variants.int8.clipVision`, issue 27). Same inputs and outputs as the fp32 graph.
   */
  visionGraph?: string;
  /** onnxruntime's first-run settings for both CLIP sessions (default CLIP_SESSION): benchmarks compare them (bench/perf/clip-cold.ts). */
  session?: ClipSessionSettings;
}

/** The onnxruntime settings that decide what a fresh CLIP session's first runs cost. */
export interface ClipSessionSettings {
  enableMemPattern: boolean;
  enableCpuMemArena: boolean;
}

/**
 * onnxruntime's memory pattern off for CLIP (issue 27): with it on (the default) a fresh
 * session's second run allocates its planned block and is as slow as the first, and a one-shot
 * request at 128 candidates runs the vision tower twice (64 images a run). Measured paired and
 * alternating in one process (bench/perf/clip-cold.ts, int8 vision graph, first embedText +
 * embedImages of a fresh session, 8 rounds, AMD EPYC with AVX-512 VNNI, 2 threads, load 1.9,
 * 2026-12-05), CPU ms, medians: 128 images 719 -> 477 (memory pattern off), 32 images 200 -> 203
 * (one run: nothing to gain, nothing lost). The arena stays on: off as well, 128 images cost 717.
 * In whole one-shot requests (bench/perf/request-shares.ts, load 5.7–6.3) the CLIP stage at 128
 * candidates went 892 -> 478 ms wall with the direct pixels in both builds (docs/benchmarks.md).
 */
export const CLIP_SESSION: ClipSessionSettings = { enableMemPattern: false, enableCpuMemArena: true };

/** How images reach the vision tower: `auto` feeds pixels directly when the processor would not change their geometry (pixel-values.ts), `processor` always runs transformers.js's processor. */
export type ClipPreprocess = 'auto' | 'processor';

/** The tail of the CLIP loads in flight (ClipReranker.load). */
let loadQueue: Promise<unknown> = Promise.resolve();

/**
 * CLIP reranking (Radford et al. 2021): the cosine similarity of the prompt's text
 * embedding and each candidate's image embedding, through transformers.js so that a
 * real CLIP converted for transformers.js (clip-vit-base-patch32) drops in unchanged.
 */
export class ClipReranker {
  private constructor(
    private readonly tokenizer: PreTrainedTokenizer,
    private readonly processor: Processor,
    private readonly textModel: PreTrainedModel,
    private readonly visionModel: PreTrainedModel,
    /** The vision graph that runs, relative to the CLIP folder (ClipLoadOptions.visionGraph). */
    readonly visionGraph: string,
    /** Images per vision-model call. */
    private readonly batchSize = 64,
  ) {}

  /** directPixels per image size ("WxH"), null where the processor must run. */
  private readonly direct = new Map<string, DirectPixels | null>();

  /**
   * Loads run one at a time: transformers.js resolves files against its global
   * `env.localModelPath`, so two loads in flight (two packages whose CLIP folders are both
   * named `clip`) could each read the other's graphs.
   */
  static load(clipDir: string, device: Device, options: ClipLoadOptions = {}): Promise<ClipReranker> {
    const loaded = loadQueue.then(() => ClipReranker.loadAlone(clipDir, device, options.visionGraph ?? CLIP_VISION_GRAPH, options.session ?? CLIP_SESSION));
    loadQueue = loaded.catch(() => undefined);
    return loaded;
  }

  private static async loadAlone(clipDir: string, device: Device, visionGraph: string, session: ClipSessionSettings): Promise<ClipReranker> {
    // transformers.js reads onnx/<model_file_name>.onnx (fp32 adds no suffix): only a graph in onnx/ can be named.
    const visionName = /^onnx\/([^/]+)\.onnx$/.exec(visionGraph)?.[1];
    if (visionName === undefined) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `CLIP vision graph ${JSON.stringify(visionGraph)} must be onnx/<name>.onnx inside the CLIP folder ${clipDir}`);
    }
    if (!existsSync(path.join(clipDir, visionGraph))) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `CLIP folder ${clipDir} lacks its vision graph ${visionGraph}`);
    }
    // Never reach a hub: only the package's own folder is read.
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = path.dirname(path.resolve(clipDir));
    const id = path.basename(path.resolve(clipDir));
    const modelOptions = {
      dtype: 'fp32' as const,
      device,
      local_files_only: true,
      session_options: { ...kernelOptions(), ...session },
    };
    try {
      const [tokenizer, processor, textModel, visionModel] = await Promise.all([
        AutoTokenizer.from_pretrained(id, { local_files_only: true }),
        AutoProcessor.from_pretrained(id, { local_files_only: true }),
        CLIPTextModelWithProjection.from_pretrained(id, modelOptions),
        CLIPVisionModelWithProjection.from_pretrained(id, { ...modelOptions, model_file_name: visionName }),
      ]);
      return new ClipReranker(tokenizer, processor, textModel, visionModel, visionGraph);
    } catch (error) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot load CLIP from ${clipDir}: ${(error as Error).message}`, { cause: error });
    }
  }

  async embedText(texts: string[]): Promise<Float32Array[]> {
    const inputs = this.tokenizer(texts, { padding: true, truncation: true });
    const { text_embeds } = (await this.textModel(inputs)) as { text_embeds: Tensor };
    return rowsOf(text_embeds);
  }

  /** One embedding per image, in input order; `preprocess` picks how pixels reach the tower (the same tensor either way when `auto` takes the direct path). */
  async embedImages(images: readonly RgbImage[], preprocess: ClipPreprocess = 'auto'): Promise<Float32Array[]> {
    const embeddings: Float32Array[] = [];
    for (let start = 0; start < images.length; start += this.batchSize) {
      const batch = images.slice(start, start + this.batchSize);
      const direct = preprocess === 'auto' ? this.directFor(batch) : null;
      const inputs = direct === null ? await this.processor(batch.map(rawImage)) : { pixel_values: new Tensor('float32', pixelValues(batch, direct), [batch.length, 3, direct.height, direct.width]) }; // [N, 3, H, W]
      const { image_embeds } = (await this.visionModel(inputs)) as { image_embeds: Tensor };
      embeddings.push(...rowsOf(image_embeds));
    }
    return embeddings;
  }

  /** The direct path for a batch whose images all share one size, or null (the processor's path). */
  private directFor(batch: readonly RgbImage[]): DirectPixels | null {
    if (batch.length === 0) return null;
    const { width, height } = batch[0];
    if (batch.some((image) => image.width !== width || image.height !== height || image.data.length !== width * height * 3)) return null;
    const key = `${width}x${height}`;
    if (!this.direct.has(key)) this.direct.set(key, directPixels(this.processor, width, height));
    return this.direct.get(key) ?? null;
  }

  /** Cosine similarity of `prompt` with each image, in input order. */
  async score(prompt: string, images: readonly RgbImage[]): Promise<number[]> {
    return (await this.scoreWithEmbeddings(prompt, images)).scores;
  }

  /** The scores and the image embeddings they came from ([embed] each, in input order): search stores them, nothing is embedded twice. */
  async scoreWithEmbeddings(prompt: string, images: readonly RgbImage[]): Promise<{ scores: number[]; imageEmbeddings: Float32Array[] }> {
    return (await this.scoreMany([{ query: { prompt }, images }]))[0];
  }

  /** Cosine similarity of each image with `source` in CLIP's image space (variations rank by it), in input order. */
  async similarity(source: RgbImage, images: readonly RgbImage[]): Promise<number[]> {
    return (await this.similarityWithEmbeddings(source, images)).scores;
  }

  /** similarity() with the images' embeddings, as scoreWithEmbeddings gives them. */
  async similarityWithEmbeddings(source: RgbImage, images: readonly RgbImage[]): Promise<{ scores: number[]; imageEmbeddings: Float32Array[] }> {
    return (await this.scoreMany([{ query: { source }, images }]))[0];
  }

  /**
   * Scores several sets of images at once, each against its own query (a prompt, or a
   * source image for variations): every distinct prompt goes through the text tower in
   * one batch and every image (sources included) through the vision tower in one pass,
   * instead of one small run of each per set. The server finishes the requests that
   * complete on the same step this way (issue 12).
   */
  async scoreMany(sets: readonly { query: { prompt: string } | { source: RgbImage }; images: readonly RgbImage[] }[]): Promise<{ scores: number[]; imageEmbeddings: Float32Array[] }[]> {
    const prompts = [...new Set(sets.flatMap((set) => ('prompt' in set.query ? [set.query.prompt] : [])))];
    const texts = prompts.length === 0 ? [] : await this.embedText(prompts);
    const textOf = new Map(prompts.map((prompt, i) => [prompt, texts[i]]));
    const all: RgbImage[] = [];
    for (const set of sets) {
      if ('source' in set.query) all.push(set.query.source);
      all.push(...set.images);
    }
    const embedded = await this.embedImages(all);
    let next = 0;
    return sets.map((set) => {
      const query = 'source' in set.query ? embedded[next++] : (textOf.get(set.query.prompt) as Float32Array);
      const imageEmbeddings = embedded.slice(next, next + set.images.length);
      next += set.images.length;
      return { scores: imageEmbeddings.map((image) => cosine(query, image)), imageEmbeddings };
    });
  }

  async dispose(): Promise<void> {
    await Promise.all([this.textModel.dispose(), this.visionModel.dispose()]);
  }
}

function rawImage(image: RgbImage): RawImage {
  return new RawImage(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height, 3);
}

function rowsOf(tensor: Tensor): Float32Array[] {
  const [rows, width] = tensor.dims as number[]; // [rows, embed]
  const data = tensor.data as Float32Array;
  return Array.from({ length: rows }, (_, r) => data.slice(r * width, (r + 1) * width));
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / (Math.sqrt(na * nb) || 1);
}
