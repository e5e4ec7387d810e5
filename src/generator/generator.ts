/**
 * The generator seam: the autoregressive transformer that turns a text prefix into
 * next-image-token logits, one image position at a time, over fixed per-row cache slots.
 *
 * The samplers (src/sampler) own rows, guidance, logits processors and random streams;
 * they never see graph feed names, vocabulary offsets, text positions or cache layouts.
 * Everything architecture-specific lives behind this interface, its arithmetic included:
 * the decoder-only graphs (src/generator/decoder-only) and the encoder-decoder ones
 * (src/generator/encoder-decoder) implement it, each with the count of its own FLOPs, and
 * src/generator/architectures.ts picks one from `manifest.architecture`. The KV slots both
 * use are src/generator/kv-slots.ts. Vocabulary in one word: an *image
 * position* j is the index of an image token in the grid (0 .. imageTokens-1, row-major).
 */
import type { ModelManifest } from '../model/manifest.js';
import type { OnnxGraph } from '../model/onnx-graph.js';
import type { SessionTuning } from '../model/runtime.js';
import type { Device, PhaseBytes } from '../types.js';

/**
 * Next-token logits over the image vocabulary for a set of rows, as a view into the
 * graph's own output buffer (no copy): row r's logits are
 * `data.subarray(r * stride + offset, r * stride + offset + imageVocab)`.
 */
export interface ImageLogits {
  rows: number;
  data: Float32Array;
  stride: number;
  offset: number;
}

/** Row r of an ImageLogits view. */
export function logitsRow(logits: ImageLogits, row: number, imageVocab: number): Float32Array {
  const start = row * logits.stride + logits.offset;
  return logits.data.subarray(start, start + imageVocab); // [imageVocab]
}

/** The distinct text prefixes of a batch after the prefill phase. */
export interface PrefixBatch {
  count: number;
  /** Logits for image position 0 of each prefix. */
  logits: ImageLogits;
}

/** Fixed per-row cache slots, allocated once per batch; rows are the outermost dimension. */
export interface RowCache {
  readonly rows: number;
  /** Copies `count` whole rows of `source` (a cache of the same generator) from `fromRow` into this cache at `toRow`. */
  copyRows(source: RowCache, fromRow: number, toRow: number, count: number): void;
  /** Sampling with this cache is over: its memory may serve the next cache (kv-buffers.ts); using it afterwards throws. */
  release?(): void;
}

export interface GeneratorStats {
  /** Prefix rows run through the prefill phase. */
  prefillRows: number;
  prefillMs: number;
  stepCalls: number;
  /** Rows of the last step call. */
  stepRows: number;
  decodeMs: number;
}

export interface ImageTokenGenerator<Cache extends RowCache = RowCache> {
  /** manifest.architecture of the implementation. */
  readonly architecture: string;
  /** Ids per text prefix (texts are padded/truncated to this length before they get here). */
  readonly textLength: number;
  /** Size of the image codebook: logits are over [0, imageVocab). */
  readonly imageVocab: number;
  /** Image positions per sequence (grid height x width). */
  readonly imageTokens: number;
  readonly stats: GeneratorStats;

  /** Runs each distinct text prefix once; the result fills any number of rows. */
  prefill(prefixes: readonly (readonly number[])[]): Promise<PrefixBatch>;
  /** Allocates fixed slots for `rows` rows (all zero, nothing valid). */
  allocate(rows: number): Cache;
  /** Fills `row` of `cache` with prefix `prefix` of `batch`, so the row's next step is image position 0's successor. */
  writePrefix(cache: Cache, row: number, batch: PrefixBatch, prefix: number): void;
  /**
   * One step over every row of `cache`: row r is fed image code `codes[r]` at image
   * position `positions[r]` (rows may sit at different positions) and its cache slot for
   * that position is written. Returns the logits for image position `positions[r] + 1`.
   */
  step(cache: Cache, codes: Int32Array, positions: Int32Array): Promise<ImageLogits>;
  /**
   * Optional cache-free path: the logits for image position `codes[r].length` of each row,
   * computed by rerunning the whole sequence (text prefix + codes so far). Used by the
   * naive sampler, the benchmark's baseline and cross-check.
   */
  forwardFull?(prefixes: readonly (readonly number[])[], codes: readonly Int32Array[]): Promise<ImageLogits>;
}

/** Rows one generation ran through the generator's graphs. */
export interface GeneratorWork {
  /** Rows through the prefill graph (distinct text prefixes: two with guidance's unconditional text). */
  prefillRows: number;
  /** Rows of every decode step (candidates, and their unconditional twins under guidance). */
  stepRows: number;
}

/** FLOPs (2 per multiply-add) of the generator's two phases. */
export interface GeneratorFlops {
  prefill: number;
  decode: number;
}

/** Bytes the generator's two phases move (src/types.ts PhaseBytes: weights, KV read and written, activations). */
export interface GeneratorBytes {
  prefill: PhaseBytes;
  decode: PhaseBytes;
}

/**
 * An architecture's costs, read once from its package's graphs: the footprint asks it
 * for the FLOPs and the bytes of what ran and knows nothing of text encoders, cache
 * layouts or slots. Both are pure functions of the work mix.
 */
export interface GeneratorCost {
  flops(work: GeneratorWork): GeneratorFlops;
  bytes(work: GeneratorWork): GeneratorBytes;
}

/** One architecture behind the seam: its generator, and the count of its cost. */
/** A loaded generator and how to let its sessions go (a precision probe releases the one it did not keep). */
export interface OpenedGenerator {
  generator: ImageTokenGenerator;
  release(): Promise<void>;
}

/** The prefill and step graphs to load (the package's own, or a precision variant's: same feeds, other files). */
export interface GeneratorGraphs {
  prefill: string;
  step: string;
}

export interface GeneratorArchitecture {
  /** Loads the generator on `graphs`; `file` resolves a path of the package; `tuning` applies to every session (a lane's one thread). */
  load(manifest: ModelManifest, file: (relative: string) => string, device: Device, graphs: GeneratorGraphs, tuning?: SessionTuning): Promise<OpenedGenerator>;
  /**
   * Counts its phases from its graphs; `graph` reads one, by its path in the package;
   * `graphs` are the prefill and step graphs that run (a precision variant's weights count
   * their own bytes; default the package's own).
   */
  cost(manifest: ModelManifest, graph: (relative: string) => OnnxGraph, graphs?: GeneratorGraphs): GeneratorCost;
  /**
   * The shape of the per-row KvSlots its generators' `allocate` makes, so a loader can map
   * that cache's memory ahead (architectures.ts' warmFirstCache); absent where the cache is
   * the architecture's own.
   */
  rowSlots?(manifest: ModelManifest): { layers: number; heads: number; slots: number; headDim: number }; // kv-slots.ts' CacheShape (not imported: kv-slots imports this module)
}

export function emptyStats(): GeneratorStats {
  return { prefillRows: 0, prefillMs: 0, stepCalls: 0, stepRows: 0, decodeMs: 0 };
}

/** A float32 graph output's data (onnxruntime-node has already copied it into a JS buffer). */
export function tensorData(value: { data: unknown }): Float32Array {
  return value.data as Float32Array;
}
