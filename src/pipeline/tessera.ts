import { loadModel, type LoadedModel, type LoadOptions } from './loader.js';
import { fillPartialGrid, GenerationRun } from './run.js';
import type { PreparedRequest } from './prepared.js';
import { resolveRequest, type ResolvedRequest } from './settings.js';
import { generationBytes, generationFlops, modelCost, type GenerationWork, type ModelCost } from '../footprint/flops.js';
import { graphsFor } from '../model/precision.js';
import { DEFAULT_GRID, type FootprintSettings } from '../footprint/report.js';
import { usageFor } from '../footprint/usage.js';
import { forcedFor, sourceImage, summaryOf } from './image-prompt.js';
import { FREE } from '../sampler/conditioning.js';
import { checkMaxRows } from '../sampler/row-groups.js';
import { sampleInGroups } from './sample-groups.js';
import type { Candidate, GenerateCallbacks, GenerateRequest, GenerationEvent, GenerationResult, RgbImage, StageBytes, StageFlops } from '../types.js';

export { fillPartialGrid };

/** Tessera.load's options: the package's stages, and how footprints are measured. */
export interface TesseraOptions extends LoadOptions {
  /** Grid intensity and energy method for every generation's footprint (default: DEFAULT_GRID, CPU time or RAPL). */
  footprint?: FootprintSettings;
}

function isResolved(request: GenerateRequest | ResolvedRequest): request is ResolvedRequest {
  return 'settings' in request && 'candidateIndices' in request;
}

function isPrepared(request: GenerateRequest | PreparedRequest): request is PreparedRequest {
  return 'sequences' in request && 'resolved' in request;
}

/**
 * The thin orchestrator over the pipeline's stages (after min-dalle's one class that
 * drives tokenizer, encoder, decoder and detokenizer): text tokenizer -> batched
 * sampler -> VQ codec -> CLIP reranker.
 */
export class Tessera {
  readonly model: LoadedModel;
  /** How each generation's footprint is measured (grid intensity, watts). */
  footprintSettings: FootprintSettings;
  private cost: ModelCost | null | undefined;

  private constructor(model: LoadedModel, footprint: FootprintSettings) {
    this.model = model;
    this.footprintSettings = footprint;
  }

  static async load(options: TesseraOptions = {}): Promise<Tessera> {
    return new Tessera(await loadModel(options), options.footprint ?? { grid: DEFAULT_GRID });
  }

  /**
   * The graphs' cost, read from the package's ONNX files once (~0.4 s for the shipped
   * model; a few seconds for Mini's external-data graphs, whose payloads are not read).
   */
  private modelCost(): ModelCost | null {
    if (this.cost === undefined) {
      const { manifest, dir } = this.model;
      // The bytes count the weights of the generator graphs that run (an int8 variant's at their size).
      this.cost = modelCost(dir, manifest, graphsFor(manifest, this.model.precision.precision));
    }
    return this.cost;
  }

  /** What one prepared request ran: its rows (in row groups, when `groups`), its previews, its reranking. */
  private workOf(p: PreparedRequest, previewImages: number, groups?: readonly number[]): GenerationWork {
    const guidance = p.resolved.settings.guidanceScale !== 1;
    return {
      candidates: p.sequences.length,
      guidance,
      prefillRows: guidance ? 2 : 1,
      previewImages,
      rerank: p.resolved.rerank && this.model.reranker !== null,
      ...(groups === undefined ? {} : { groups }),
    };
  }

  /** FLOPs of one prepared request as run: its rows, its previews, its reranking. */
  flopsOf(p: PreparedRequest, previewImages: number, groups?: readonly number[]): StageFlops | null {
    const cost = this.modelCost();
    return cost === null ? null : generationFlops(cost, this.workOf(p, previewImages, groups));
  }

  /** Bytes the generator moved for one prepared request, per phase (its rows; previews and reranking move none of its). */
  bytesOf(p: PreparedRequest, groups?: readonly number[]): StageBytes | null {
    const cost = this.modelCost();
    return cost === null ? null : generationBytes(cost, this.workOf(p, 0, groups));
  }

  get manifest() {
    return this.model.manifest;
  }

  /**
   * Resolves settings and tokenizes; throws a TesseraError on bad input, before any inference.
   * A request with an image prompt must have its codes encoded already: use prepareRequest.
   */
  prepare(request: GenerateRequest | ResolvedRequest): PreparedRequest {
    const { manifest, tokenizer } = this.model;
    // A request resolved elsewhere (the HTTP process validates before it queues) is not resolved again.
    const resolved = isResolved(request) ? request : resolveRequest(request, manifest);
    const { image } = resolved;
    // An uncaptioned variation is conditioned on the unconditional text (the model's "no caption").
    const uncaptioned = image?.mode === 'vary' && resolved.prompt === '';
    const text = uncaptioned ? { ids: manifest.text.unconditionalIds, unknownWords: [], truncated: false, tokenCount: 0 } : tokenizer.encode(resolved.prompt);
    const negative = resolved.negativePrompt === null ? null : tokenizer.encode(resolved.negativePrompt);
    const warnings: string[] = [];
    const unknownWords = [...text.unknownWords, ...(negative?.unknownWords ?? []).filter((w) => !text.unknownWords.includes(w))];
    if (text.truncated) {
      warnings.push(`prompt has ${text.tokenCount} tokens; only the first ${manifest.text.length} are used (the model's text length)`);
    }
    if (negative?.truncated) {
      warnings.push(`negative prompt has ${negative.tokenCount} tokens; only the first ${manifest.text.length} are used`);
    }
    if (unknownWords.length > 0) {
      warnings.push(`words not understood by the model (ignored): ${unknownWords.map((w) => JSON.stringify(w)).join(', ')}`);
    }
    const { settings } = resolved;
    const guided = settings.guidanceScale !== 1;
    if (negative !== null && !guided) {
      warnings.push('the negative prompt has no effect without guidance (guidance scale 1): set a guidance scale above 1 to use it');
    }
    // Guidance mixes the text's logits with the unconditional ones: with no text they are the same, so no twin rows.
    const unconditionalIds = guided && !uncaptioned ? (negative?.ids ?? tokenizer.unconditionalFor(text)) : null;
    if (uncaptioned && negative !== null) warnings.push('a variation without a caption has no text to guide: the negative prompt has no effect (add a caption)');
    if (image?.adjusted) warnings.push(`input image ${image.adjusted}`);
    const sequences = resolved.candidateIndices.map((candidateIndex) => ({
      textIds: text.ids,
      unconditionalIds,
      guidanceScale: settings.guidanceScale,
      seed: resolved.seed,
      candidateIndex,
      processors: { temperature: settings.temperature, topK: settings.topK, topP: settings.topP },
      forced: image === null ? null : forcedFor(image, resolved.seed, candidateIndex, manifest.image.grid),
    }));
    const textTokens = { prompt: { tokenCount: text.tokenCount, truncated: text.truncated }, negative: negative === null ? null : { tokenCount: negative.tokenCount, truncated: negative.truncated } };
    return { resolved, warnings, unknownWords, promptTruncated: text.truncated, sequences, textTokens };
  }

  /** Resolves, encodes an image prompt's source to codes (the VQ encoder), and prepares. */
  async prepareRequest(request: GenerateRequest | ResolvedRequest): Promise<PreparedRequest> {
    const resolved = isResolved(request) ? request : resolveRequest(request, this.model.manifest);
    if (resolved.image === null || resolved.image.codes !== null) return this.prepare(resolved);
    const [codes] = await this.model.vq.toCodes([sourceImage(resolved.image, this.model.manifest.image.size)]);
    return this.prepare({ ...resolved, image: { ...resolved.image, codes: Array.from(codes) } });
  }

  async generate(request: GenerateRequest, callbacks: GenerateCallbacks = {}): Promise<GenerationResult> {
    const [result] = await this.generateMany([request], callbacks);
    return result;
  }

  /**
   * Generates several requests in ONE sampler batch: every candidate of every request
   * shares each step's graph run. Results come back in request order. Requests may be
   * given already prepared (the batch runner and CLI prepare once, to plan and report).
   * With `callbacks.maxRows`, a batch of more rows samples in row groups of at most that
   * many rows, one after another (sample-groups.ts): the same codes, less memory, more time.
   */
  async generateMany(requests: readonly (GenerateRequest | PreparedRequest)[], callbacks: GenerateCallbacks = {}): Promise<GenerationResult[]> {
    const { sampler } = this.model;
    const maxRows = checkMaxRows(callbacks.maxRows);
    const started = performance.now();
    let prepared = await Promise.all(requests.map((r) => (isPrepared(r) ? r : this.prepareRequest(r))));
    // Without a listener there is no one to show previews to: decode none.
    if (callbacks.onEvent === undefined) prepared = prepared.map((p) => ({ ...p, resolved: { ...p.resolved, previewCandidates: 0 } }));
    const run = this.startRun(prepared, (event) => callbacks.onEvent?.(event), started);
    return run.finish(await sampleInGroups(sampler, run, { maxRows, lanes: this.model.lanes, signal: callbacks.signal }));
  }

  /** A run over prepared requests whose preparation began at `started` (the driver samples; the run reports and finishes). */
  startRun(prepared: readonly PreparedRequest[], emit: (event: GenerationEvent) => void, started = performance.now()): GenerationRun {
    return new GenerationRun(this, prepared, emit, { started, tokenizeMs: performance.now() - started });
  }

  /** Decodes partial grids (the first `done` codes of each) as preview images. */
  async previewImages(codes: Int32Array[], done: number): Promise<RgbImage[]> {
    return this.model.vq.toPixels(codes.map((c) => fillPartialGrid(c, done)));
  }

  /**
   * Scores each request's candidates with CLIP (all requests in one pass of each tower,
   * ClipReranker.scoreMany) and ranks them. A variation is ranked by likeness to its
   * source (CLIP image-image cosine), not by its caption.
   */
  async scoreAndRankAll(requests: readonly { p: PreparedRequest; images: RgbImage[]; codes: Int32Array[] }[]): Promise<{ results: GenerationResult[]; rerankMs: number }> {
    const { reranker } = this.model;
    const started = performance.now();
    const ranked = requests.map(({ p }) => p.resolved.rerank && reranker !== null);
    const sets = requests.flatMap(({ p, images }, i) => {
      if (!ranked[i]) return [];
      const { image } = p.resolved;
      return [{ query: image?.mode === 'vary' ? { source: sourceImage(image, this.model.manifest.image.size) } : { prompt: p.resolved.prompt }, images }];
    });
    const scored = sets.length === 0 || reranker === null ? [] : await reranker.scoreMany(sets);
    const rerankMs = performance.now() - started;
    let next = 0;
    const results = requests.map(({ p, images, codes }, i) => this.rank(p, images, codes, ranked[i] ? scored[next++] : null));
    return { results, rerankMs };
  }

  private rank(p: PreparedRequest, images: RgbImage[], codes: Int32Array[], scored: { scores: number[]; imageEmbeddings: Float32Array[] } | null): GenerationResult {
    const { resolved } = p;
    const candidates: Candidate[] = images.map((image, i) => ({
      index: resolved.candidateIndices[i],
      tokens: codes[i],
      image,
      score: scored === null ? null : scored.scores[i],
      rank: 0,
      ...(scored === null ? {} : { embedding: scored.imageEmbeddings[i] }),
    }));
    // Best score first; equal scores (or no reranking) keep candidate order.
    candidates.sort((a, b) => (b.score ?? 0) - (a.score ?? 0) || a.index - b.index);
    candidates.forEach((c, i) => (c.rank = i + 1));
    return {
      prompt: resolved.prompt,
      negativePrompt: resolved.negativePrompt,
      seed: resolved.seed,
      settings: resolved.settings,
      model: this.model.manifest.name,
      candidates,
      kept: candidates.slice(0, resolved.settings.keep),
      timings: { tokenize: 0, prefill: 0, decode: 0, imageDecode: 0, rerank: 0, total: 0 },
      warnings: p.warnings,
      unknownWords: p.unknownWords,
      promptTruncated: p.promptTruncated,
      // Every image token of every candidate was sampled (a stopped run has no result).
      usage: usageFor(this.model.manifest, { ...p.textTokens, guidanceScale: resolved.settings.guidanceScale, candidates: candidates.length, forcedImageTokens: forcedCount(p) }),
      ...(resolved.image === null ? {} : { imagePrompt: summaryOf(resolved.image) }),
      precision: this.model.precision,
    };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.model.reranker?.dispose(), this.model.lanes?.close(), this.model.vq.close()]);
  }
}

/** Image positions an image prompt fixed from its source (the same in every sequence of a request). */
function forcedCount(p: PreparedRequest): number {
  const forced = p.sequences[0]?.forced;
  return forced === undefined || forced === null ? 0 : forced.reduce((n, code) => n + (code === FREE ? 0 : 1), 0);
}
