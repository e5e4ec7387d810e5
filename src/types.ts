/** Public types of the generation pipeline (the library's `import … from 'tessera'`). */

export type Device = 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['cpu', 'cuda', 'webgpu'];

/** An 8-bit RGB image, pixels interleaved row-major: data.length === width * height * 3. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Sampling settings after defaults from the manifest were applied. */
export interface SamplingSettings {
  candidates: number;
  keep: number;
  temperature: number;
  /** Keep the k most likely image tokens; k <= 0 or k >= vocabulary is a no-op. */
  topK: number;
  /** Nucleus mass in (0, 1]; 1 is a no-op. */
  topP: number;
  /** Classifier-free guidance scale; 1 means no guidance (no unconditional rows). */
  guidanceScale: number;
  /** Decode a preview of the partial grids every this many steps; 0 disables previews. */
  previewEvery: number;
}

export interface GenerateRequest extends Partial<SamplingSettings> {
  prompt: string;
  /** Replaces the unconditional text of classifier-free guidance. */
  negativePrompt?: string;
  /** Base seed; candidate i draws from its own stream derived from (seed, i). Random when omitted. */
  seed?: number;
  /** Score candidates with CLIP and rank them (default true when the model has CLIP). */
  rerank?: boolean;
  /** Generate only these candidate indices (reproduce candidate i of a larger run alone). */
  candidateIndices?: number[];
  /** Decode previews of only the first this many candidates (default all): faces that show 16 decode 16. */
  previewCandidates?: number;
  /** An image prompt: complete the top rows of an image, edit inside a mask, or vary an image. */
  image?: ImagePromptInput;
}

export type ImagePromptMode = 'complete' | 'edit' | 'vary';
export const IMAGE_PROMPT_MODES: readonly ImagePromptMode[] = ['complete', 'edit', 'vary'];

/**
 * The image half of a request, plain JSON (it crosses to the server's inference child):
 * the source at the model's size and what to keep of its codes. Built from files by
 * src/pipeline/image-prompt.ts (imagePromptFromBytes).
 */
export interface ImagePromptInput {
  mode: ImagePromptMode;
  /** The source's RGB pixels at the model's size (size * size * 3 bytes), base64. */
  pixels: string;
  /** complete: rows of codes kept from the top (1 .. grid height - 1). */
  keepRows?: number;
  /** edit: one entry per grid cell, 1 where the code is resampled (inside the mask), 0 where it is kept. */
  resample?: number[];
  /** vary: share of the source's codes kept, at positions drawn per candidate (0 keeps none; below 1). */
  keepShare?: number;
  /** What was done to the source to fit the model (resize, crop, format), reported as a warning; null when nothing. */
  adjusted?: string | null;
}

export type GenerationEvent =
  /** steps: image tokens, times the row groups when a row cap splits the run (GenerateCallbacks.maxRows); rows: the most sampled at once. */
  | { type: 'start'; candidates: number; steps: number; rows: number }
  /** rows: rows of the graph run that sampled this token (other requests' rows included when they share steps). step counts over the whole run, row groups one after another. */
  | { type: 'step'; step: number; steps: number; tokensPerSecond: number; rows?: number }
  | { type: 'preview'; step: number; steps: number; images: RgbImage[] }
  | { type: 'stage'; stage: StageName; ms: number };

export type StageName = 'tokenize' | 'prefill' | 'decode' | 'imageDecode' | 'rerank';

export interface GenerateCallbacks {
  onEvent?: (event: GenerationEvent) => void;
  signal?: AbortSignal;
  /**
   * The most graph rows sampled at once (`--max-batch-rows`; two per guided candidate): a
   * batch with more samples its sequences in row groups, one group after another, with
   * the same codes, less KV-cache memory and more time. Default: no cap (one batch).
   */
  maxRows?: number;
}

export interface Candidate {
  /** Candidate index i within the request: (seed, i) reproduces it. */
  index: number;
  /** Image codes, row-major over the grid, in [0, image.vocabSize). */
  tokens: Int32Array;
  image: RgbImage;
  /** CLIP cosine similarity with the prompt; null when reranking is off. */
  score: number | null;
  /** 1-based rank after reranking (by index when reranking is off). */
  rank: number;
  /** CLIP image embedding computed for reranking ([embed], as CLIP returned it); absent when reranking is off. */
  embedding?: Float32Array;
}

export interface StageTimings {
  tokenize: number;
  prefill: number;
  decode: number;
  imageDecode: number;
  rerank: number;
  total: number;
}

export interface GenerationResult {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  settings: SamplingSettings;
  model: string;
  /** All candidates, best first. */
  candidates: Candidate[];
  /** The first `keep` of `candidates`. */
  kept: Candidate[];
  timings: StageTimings;
  /** Human-readable warnings (truncated prompt, unknown words). */
  warnings: string[];
  unknownWords: string[];
  promptTruncated: boolean;
  /** Set by the server's inference child: how this request's steps were shared with others. */
  batching?: { maxRowsPerStep: number; sharedSteps: number };
  /** OpenAI's Images `usage` for this request, from what actually ran (src/footprint/usage.ts). */
  usage?: ImagesUsage;
  /** What this request cost (src/footprint/): FLOPs, time, energy, gCO2e. */
  footprint?: Footprint;
  /** What an image prompt kept of its source; absent for text alone. */
  imagePrompt?: ImagePromptSummary;
  /** Which precision of the package's graphs ran, and why (src/model/precision.ts). */
  precision?: PrecisionReport;
}

/** What a user may ask for (`--precision`): a precision by name, or auto (measured on this machine). */
export type PrecisionChoice = 'auto' | 'fp32' | 'int8';
/** What runs: the package's own graphs (fp32) or its int8 variant. */
export type Precision = 'fp32' | 'int8';
/**
 * Why a precision ran: `forced` (asked for by name), `no-variant` (auto on a package without
 * an int8 variant), `measured` (auto, probed now), `cached` (auto, an earlier probe on this machine).
 */
export type PrecisionReason = 'forced' | 'no-variant' | 'device' | 'measured' | 'cached';

/** What `--json`, batch records and API responses say about the precision that ran. */
export interface PrecisionReport {
  requested: PrecisionChoice;
  precision: Precision;
  reason: PrecisionReason;
  /** One line for people: the reason with its figures. */
  detail: string;
  /** For measured and cached decisions: the probe's row bucket and median step times. */
  probe?: ProbeResult;
}

/** auto's probe: median step times of each precision at `rows` rows. */
export interface ProbeResult {
  /** Rows of the probed step (the run's rows, rounded up to a power of two). */
  rows: number;
  fp32Ms: number;
  int8Ms: number;
  /** Upper median over the pairs of int8 time / fp32 time (the decision's figure; src/model/precision.ts). */
  ratio: number;
  pairs: number;
}

/** What an image's metadata and records say of the image prompt it came from. */
export interface ImagePromptSummary {
  mode: ImagePromptMode;
  /** complete: rows of codes kept from the top. */
  keepRows?: number;
  /** edit: grid cells resampled (inside the mask), of `cells`. */
  resampledCells?: number;
  cells?: number;
  /** vary: share of the source's codes kept. */
  keepShare?: number;
  /** SHA-256 of the source's pixels at the model's size (RGB): which image this was made from. */
  sourceSha256: string;
}

/**
 * The OpenAI Images API `usage` object: input = text tokens fed to the generator (plus
 * input image tokens, none today), output = image tokens sampled over all candidates.
 */
export interface ImagesUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_details: { text_tokens: number; image_tokens: number };
}

/** FLOPs per stage of one generation (one multiply-add = 2 FLOPs; src/footprint/flops.ts). */
export interface StageFlops {
  prefill: number;
  decode: number;
  vqDecode: number;
  clipText: number;
  clipVision: number;
  total: number;
}

/**
 * Bytes one phase of the generator moves through its graph calls (src/generator/<architecture>/cost.ts):
 * the weights each call reads, the KV cache it reads (the slots laid out) and writes (its new entries),
 * and its other inputs and outputs (ids, positions, masks, logits, encoder states).
 */
export interface PhaseBytes {
  weights: number;
  kvRead: number;
  kvWritten: number;
  activations: number;
  total: number;
}

/** Bytes of the generator's two phases of one generation, beside its FLOPs (docs/footprint.md). */
export interface StageBytes {
  prefill: PhaseBytes;
  decode: PhaseBytes;
  total: number;
}

export type EnergyMethod = 'rapl' | 'cpu-time';

/**
 * The footprint of one generation (or a sum of them): FLOPs per stage, wall and CPU
 * time, energy with its method, gCO2e at the grid intensity of when it ran.
 */
export interface Footprint {
  /** Counted from the package's graphs (both architectures); null only in sums that include an uncounted run. */
  flops: StageFlops | null;
  wallSeconds: number;
  cpuSeconds: number;
  energyJoules: number;
  energyMethod: EnergyMethod;
  energyNote: string;
  gridGPerKWh: number;
  gridSource: string;
  co2eGrams: number;
  /** The generator's bytes per phase, counted as its FLOPs are; absent where not counted (a sum with an uncounted part). */
  bytes?: StageBytes;
}
