/**
 * Tessera's library API: `import { Tessera } from 'tessera'`.
 *
 * Layers, from high to low: Tessera (generate / generateMany -> ranked results),
 * generation events (per-step progress and progressive previews), and the stages it
 * drives — TextTokenizer, a generator behind ImageTokenGenerator (decoder-only or
 * encoder-decoder), BatchSampler (prefill, decodeStep, decodeSteps, generate),
 * VqCodec and ClipReranker — each usable alone. docs/architecture.md has the layers.
 */
export { Tessera, fillPartialGrid } from './pipeline/tessera.js';
export type * from './types.js';
export { DEVICES } from './types.js';
export { LIMITS, resolveRequest, checkPrompt } from './pipeline/settings.js';
export { loadModel, DEFAULT_MODEL_DIR, type LoadedModel, type LoadOptions } from './pipeline/loader.js';
export { readManifest, parseManifest, type ModelManifest } from './model/manifest.js';
export { verifyPackageFiles } from './model/verified-files.js';
export { TextTokenizer, type EncodedPrompt } from './text/tokenizer.js';
export type { ImageTokenGenerator, ImageLogits, PrefixBatch, RowCache, GeneratorStats } from './generator/generator.js';
export { DecoderOnlyGenerator } from './generator/decoder-only/generator.js';
export { EncoderDecoderGenerator } from './generator/encoder-decoder/generator.js';
export { GenerationRun } from './pipeline/run.js';
export { FREE, forcedPrefix, forcedOutsideMask } from './sampler/conditioning.js';
export { BatchSampler, type SequenceSpec, type BatchState, type SamplerStats } from './sampler/sampler.js';
export { NaiveSampler } from './sampler/naive-sampler.js';
export * as logitsProcessors from './sampler/logits-processors.js';
export { CandidateStream, MAX_SEED } from './sampler/rng.js';
export { VqCodec } from './vq/vq-codec.js';
/** The VQ codec's earlier name, kept for library users (issue 30: "decoder" now names only the decoder-only architecture). */
export { VqCodec as TokenDecoder } from './vq/vq-codec.js';
export { ClipReranker } from './rerank/clip-reranker.js';
export { encodePng, encodeImage, readImageMetadata, composeGrid, describeImage, type ImageMetadata } from './image/index.js';
export { TesseraError, ErrorCodes, isTesseraError, type ErrorCode } from './errors.js';
