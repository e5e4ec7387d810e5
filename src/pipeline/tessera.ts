import { loadModel, type LoadedModel, type LoadOptions } from '../model/loader.js';
import type { SequenceSpec } from '../sampler/sampler.js';
import { resolveRequest, type ResolvedRequest } from './settings.js';
import type {
  Candidate,
  GenerateCallbacks,
  GenerateRequest,
  GenerationEvent,
  GenerationResult,
  RgbImage,
  StageTimings,
} from './types.js';

/**
 * Fills the unsampled tail of a partial grid so it can be decoded as a preview. The
 * most frequent code sampled so far is usually the background, so the preview shows
 * the finished rows over a plain continuation rather than noise.
 */
export function fillPartialGrid(codes: Int32Array, done: number): Int32Array {
  const grid = Int32Array.from(codes);
  if (done === 0 || done >= grid.length) return grid;
  const counts = new Map<number, number>();
  let mode = grid[0];
  for (let i = 0; i < done; i++) {
    const c = (counts.get(grid[i]) ?? 0) + 1;
    counts.set(grid[i], c);
    if (c > (counts.get(mode) ?? 0)) mode = grid[i];
  }
  grid.fill(mode, done);
  return grid;
}

/** A request after settings resolution and tokenization: what the sampler needs, and what ranking needs after. */
export interface PreparedRequest {
  resolved: ResolvedRequest;
  warnings: string[];
  unknownWords: string[];
  promptTruncated: boolean;
  sequences: SequenceSpec[];
}

/**
 * The thin orchestrator over the pipeline's stages (after min-dalle's one class that
 * drives tokenizer, encoder, decoder and detokenizer): text tokenizer -> batched
 * sampler -> token decoder -> CLIP reranker.
 */
export class Tessera {
  readonly model: LoadedModel;

  private constructor(model: LoadedModel) {
    this.model = model;
  }

  static async load(options: LoadOptions = {}): Promise<Tessera> {
    return new Tessera(await loadModel(options));
  }

  get manifest() {
    return this.model.manifest;
  }

  /** Resolves settings and tokenizes; throws a TesseraError on bad input, before any inference. */
  prepare(request: GenerateRequest): PreparedRequest {
    const { manifest, tokenizer } = this.model;
    const resolved = resolveRequest(request, manifest);
    const text = tokenizer.encode(resolved.prompt);
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
    const unconditionalIds = guided ? (negative?.ids ?? manifest.text.unconditionalIds) : null;
    const sequences = resolved.candidateIndices.map((candidateIndex) => ({
      textIds: text.ids,
      unconditionalIds,
      guidanceScale: settings.guidanceScale,
      seed: resolved.seed,
      candidateIndex,
      processors: { temperature: settings.temperature, topK: settings.topK, topP: settings.topP },
    }));
    return { resolved, warnings, unknownWords, promptTruncated: text.truncated, sequences };
  }

  async generate(request: GenerateRequest, callbacks: GenerateCallbacks = {}): Promise<GenerationResult> {
    const [result] = await this.generateMany([request], callbacks);
    return result;
  }

  /**
   * Generates several requests in ONE sampler batch: every candidate of every request
   * shares each step's graph run. Results come back in request order.
   */
  async generateMany(requests: readonly GenerateRequest[], callbacks: GenerateCallbacks = {}): Promise<GenerationResult[]> {
    const { sampler, decoder, manifest } = this.model;
    const emit = (event: GenerationEvent) => callbacks.onEvent?.(event);
    const started = performance.now();
    const prepared = requests.map((r) => this.prepare(r));
    const tokenizeMs = performance.now() - started;
    emit({ type: 'stage', stage: 'tokenize', ms: tokenizeMs });

    const sequences = prepared.flatMap((p) => p.sequences);
    const steps = manifest.image.grid.height * manifest.image.grid.width;
    const prefillBefore = sampler.stats.prefillMs;
    const state = await sampler.prefill(sequences);
    emit({ type: 'start', candidates: sequences.length, steps, rows: state.rows });
    const previewEvery = Math.min(...prepared.map((p) => p.resolved.settings.previewEvery));
    let lastTick = performance.now();
    let previewMs = 0;
    await sampler.decodeSteps(state, steps, {
      signal: callbacks.signal,
      onStep: async ({ tokensDone, tokensTotal, codes }) => {
        const now = performance.now();
        emit({ type: 'step', step: tokensDone, steps: tokensTotal, tokensPerSecond: sequences.length / Math.max((now - lastTick) / 1000, 1e-9) });
        lastTick = now;
        if (callbacks.onEvent && previewEvery > 0 && tokensDone % previewEvery === 0 && tokensDone < tokensTotal) {
          const previewStarted = performance.now();
          const images = await this.previewImages(codes, tokensDone);
          previewMs += performance.now() - previewStarted;
          emit({ type: 'preview', step: tokensDone, steps: tokensTotal, images });
        }
      },
    });
    const prefillMs = sampler.stats.prefillMs - prefillBefore;
    const decodeMs = performance.now() - started - tokenizeMs - prefillMs - previewMs;
    emit({ type: 'stage', stage: 'prefill', ms: prefillMs });
    emit({ type: 'stage', stage: 'decode', ms: decodeMs });

    const imageStarted = performance.now();
    const images = await decoder.decode(state.codes);
    const imageDecodeMs = performance.now() - imageStarted;
    emit({ type: 'stage', stage: 'imageDecode', ms: imageDecodeMs });

    const results: GenerationResult[] = [];
    let offset = 0;
    let rerankMs = 0;
    for (const p of prepared) {
      const count = p.sequences.length;
      const ranked = await this.scoreAndRank(p, images.slice(offset, offset + count), state.codes.slice(offset, offset + count));
      offset += count;
      rerankMs += ranked.rerankMs;
      results.push(ranked.result);
    }
    emit({ type: 'stage', stage: 'rerank', ms: rerankMs });
    const timings: StageTimings = {
      tokenize: tokenizeMs,
      prefill: prefillMs,
      decode: decodeMs,
      imageDecode: imageDecodeMs,
      rerank: rerankMs,
      total: performance.now() - started,
    };
    for (const r of results) r.timings = timings;
    return results;
  }

  /**
   * Finishes one request from its sampled codes (one grid per sequence of `p`): decodes
   * the images, reranks with CLIP when asked and ranks. Timings are left for the caller.
   */
  async complete(p: PreparedRequest, codes: Int32Array[]): Promise<{ result: GenerationResult; imageDecodeMs: number; rerankMs: number }> {
    const started = performance.now();
    const images = await this.model.decoder.decode(codes);
    const imageDecodeMs = performance.now() - started;
    const { result, rerankMs } = await this.scoreAndRank(p, images, codes);
    return { result, imageDecodeMs, rerankMs };
  }

  /** Decodes partial grids (the first `done` codes of each) as preview images. */
  async previewImages(codes: Int32Array[], done: number): Promise<RgbImage[]> {
    return this.model.decoder.decode(codes.map((c) => fillPartialGrid(c, done)));
  }

  private async scoreAndRank(p: PreparedRequest, images: RgbImage[], codes: Int32Array[]): Promise<{ result: GenerationResult; rerankMs: number }> {
    const { reranker } = this.model;
    const started = performance.now();
    const scores = p.resolved.rerank && reranker !== null ? await reranker.score(p.resolved.prompt, images) : null;
    const rerankMs = performance.now() - started;
    return { result: this.rank(p, images, codes, scores), rerankMs };
  }

  private rank(p: PreparedRequest, images: RgbImage[], codes: Int32Array[], scores: number[] | null): GenerationResult {
    const { resolved } = p;
    const candidates: Candidate[] = images.map((image, i) => ({
      index: resolved.candidateIndices[i],
      tokens: codes[i],
      image,
      score: scores === null ? null : scores[i],
      rank: 0,
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
    };
  }

  async dispose(): Promise<void> {
    await this.model.reranker?.dispose();
  }
}
