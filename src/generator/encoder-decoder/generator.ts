/**
 * The encoder-decoder generator (DALL·E Mini and Mega: a BART text encoder and an image
 * decoder, docs/model-package.md "Encoder-decoder packages"). The text encoder and the
 * prefill graph run once per distinct text and give per-layer cross-attention keys and
 * values; the step graph advances every row by one image token over fixed self-attention
 * slots, reading its row's cross keys/values and text mask.
 *
 * Positions: the start token is fed at decoder position 0 and image code j at position
 * j + 1, so the logits at position j predict image position j. The prefill phase runs the
 * start token itself (one step over the prefixes), so to the samplers this generator looks
 * like the decoder-only one: prefill gives image position 0's logits, each step feeds
 * image position j's code and gives j + 1's. After min-dalle's DalleBartDecoder.
 */
import { TesseraError } from '../../errors.js';
import { DEFAULT_STEP_CACHE, type ModelManifest, type StepCacheLayout } from '../../model/manifest.js';
import { runCollected } from '../../model/output-memory.js';
import { hostBytes, ort } from '../../model/runtime.js';
import { emptyTransfer, type DeviceKv, type TransferStats } from '../device-kv.js';
import { KvSlots, type CacheShape } from '../kv-slots.js';
import { selfPastFeeds, slotsFor, type SelfSlots } from '../self-slots.js';
import { CrossRows, crossEntries, type CrossEntry } from './cross-feeds.js';
import { emptyStats, tensorData, type GeneratorStats, type ImageLogits, type ImageTokenGenerator, type PrefixBatch, type RowCache } from '../generator.js';

interface Dims {
  layers: number;
  heads: number;
  headDim: number;
  /** Self-attention slots (image tokens). */
  slots: number;
  textLength: number;
  cache: StepCacheLayout;
  /** Float slots, or int8 ones when the step graph reads an int8 cache (kv-slots-int8.ts). */
  newSlots: (shape: CacheShape, rows: number, layout: StepCacheLayout, initialSlots: number) => SelfSlots;
}

/** The self-attention KvSlots' shape (EncoderDecoderCache.self). */
export function selfSlotsShape(manifest: ModelManifest): CacheShape {
  const { layers, heads, headDim, maxLength } = manifest.generator;
  return { layers, heads, slots: maxLength, headDim };
}

/** Self-attention slots plus the cross-attention entry (keys/values and text mask) each row reads; rows outermost everywhere. */
export class EncoderDecoderCache implements RowCache {
  readonly self: SelfSlots;
  readonly cross: CrossRows;

  constructor(
    dims: Dims,
    readonly rows: number,
  ) {
    const { layers, heads, headDim, slots } = dims;
    // The start token's entry and the first step's are the first writes.
    this.self = dims.newSlots({ layers, heads, slots, headDim }, rows, dims.cache, 2);
    this.cross = new CrossRows(dims, rows);
  }

  release(): void {
    this.self.release();
  }

  copyRows(from: RowCache, fromRow: number, toRow: number, count: number): void {
    if (!(from instanceof EncoderDecoderCache)) throw new TypeError('copyRows needs another EncoderDecoderCache');
    this.self.copyRows(from.self, fromRow, toRow, count);
    const entries = from.cross.entries.slice(fromRow, fromRow + count); // read first: from may be this cache
    entries.forEach((entry, i) => this.cross.set(toRow + i, entry));
  }
}

/** What a prefix contributes to each row that uses it. */
interface EncoderDecoderPrefixes extends PrefixBatch {
  /** Each prefix's cross keys/values and text mask (views of the prefill's outputs). */
  cross: CrossEntry[];
  /** The start token's self-attention entries (slot 0) per prefix: [L, P, H, 1, D]. */
  startKeys: Float32Array;
  startValues: Float32Array;
}

export class EncoderDecoderGenerator implements ImageTokenGenerator<EncoderDecoderCache> {
  readonly architecture = 'encoder-decoder';
  readonly textLength: number;
  readonly imageVocab: number;
  readonly imageTokens: number;
  readonly stats: GeneratorStats = emptyStats();
  /** Bytes the step phase handed between JavaScript and the sessions (the WebGPU bench's "what crosses the bus"). */
  readonly transfer: TransferStats;
  private readonly dims: Dims;
  private readonly width: number;
  private readonly startToken: number;
  private readonly padId: number;
  /** The step graph takes cross keys/values once per prefix of equal row groups (manifest encoderDecoder.cross). */
  private readonly crossPerPrefix: boolean;

  constructor(
    manifest: ModelManifest,
    private readonly textEncoder: ort.InferenceSession,
    private readonly prefillSession: ort.InferenceSession,
    private readonly stepSession: ort.InferenceSession,
    /** The self-attention cache's device copy, with the rows' cross keys/values and text mask (src/generator/device-kv.ts); null: host only. */
    private readonly deviceKv: DeviceKv | null = null,
    transfer: TransferStats = emptyTransfer(),
  ) {
    this.transfer = transfer;
    const config = manifest.encoderDecoder;
    if (config === undefined) throw new TesseraError('TESSERA_ERR_MANIFEST', 'an encoder-decoder package needs manifest.encoderDecoder');
    const { text, image, generator } = manifest;
    this.textLength = text.length;
    this.imageVocab = image.vocabSize;
    this.imageTokens = image.grid.height * image.grid.width;
    this.width = config.width;
    this.startToken = config.imageStartToken;
    this.padId = text.padId;
    this.crossPerPrefix = config.cross === 'prefixes';
    this.dims = { layers: generator.layers, heads: generator.heads, headDim: generator.headDim, slots: generator.maxLength, textLength: text.length, cache: generator.cache ?? DEFAULT_STEP_CACHE, newSlots: slotsFor(stepSession, deviceKv !== null) };
  }

  async prefill(prefixes: readonly (readonly number[])[]): Promise<EncoderDecoderPrefixes> {
    const { textLength, width } = this;
    const count = prefixes.length;
    const ids = new BigInt64Array(count * textLength); // [P, T]
    const textMask = new Float32Array(count * textLength); // [P, T]
    prefixes.forEach((prefix, p) => {
      if (prefix.length !== textLength) throw new TesseraError('TESSERA_ERR_INFERENCE', `every text must hold exactly ${textLength} ids`);
      prefix.forEach((id, t) => {
        ids[p * textLength + t] = BigInt(id);
        textMask[p * textLength + t] = id === this.padId ? 0 : 1;
      });
    });
    const started = performance.now();
    const encoded = await this.textEncoder.run({ input_ids: new ort.Tensor('int64', ids, [count, textLength]) });
    const cross = await this.prefillSession.run({ encoder_state: new ort.Tensor('float32', tensorData(encoded.encoder_state), [count, textLength, width]) });
    const entries = crossEntries(this.dims, tensorData(cross.cross_keys), tensorData(cross.cross_values), textMask, count); // keys [L, P, H, D, T], values [L, P, H, T, D]
    // The start token at position 0, one row per prefix: its logits are image position 0's.
    const start = this.allocate(count);
    entries.forEach((entry, p) => start.cross.set(p, entry));
    const out = await this.run(start, new BigInt64Array(count).fill(BigInt(this.startToken)), new Int32Array(count));
    this.stats.prefillMs += performance.now() - started;
    this.stats.prefillRows += count;
    return { count, logits: this.imageLogits(out.logits, count), cross: entries, startKeys: out.newKeys, startValues: out.newValues };
  }

  allocate(rows: number): EncoderDecoderCache {
    return new EncoderDecoderCache(this.dims, rows);
  }

  writePrefix(cache: EncoderDecoderCache, row: number, batch: PrefixBatch, prefix: number): void {
    const b = batch as EncoderDecoderPrefixes;
    cache.cross.set(row, b.cross[prefix]);
    cache.self.writeEntry(row, b.startKeys, b.startValues, b.count, prefix, 0, true);
  }

  async step(cache: EncoderDecoderCache, codes: Int32Array, positions: Int32Array): Promise<ImageLogits> {
    const started = performance.now();
    // Image code j is fed at decoder position j + 1 (position 0 is the start token).
    const decoderPositions = Int32Array.from(positions, (j) => j + 1);
    const out = await this.run(cache, BigInt64Array.from(codes, (code) => BigInt(code)), decoderPositions, this.deviceKv, true);
    this.stats.decodeMs += performance.now() - started;
    this.stats.stepCalls += 1;
    this.stats.stepRows = cache.rows;
    cache.self.writeStep(out.newKeys, out.newValues, decoderPositions);
    if (cache.self instanceof KvSlots) this.deviceKv?.settle(cache.self); // an int8 cache has no device copy (slotsFor)
    return this.imageLogits(out.logits, cache.rows);
  }

  /** One run of the step graph over every row of `cache` (nothing written back). */
  /**
   * One run of the step graph over every row of `cache`. With `deviceKv` (steps only) the
   * self-attention cache, cross keys/values and text mask come from their device copy when
   * it is current, and the step's new entries are written into it; the host cache is the
   * caller's to update. `step`: a decode step (its bytes are counted in `transfer`), not the prefill's start token.
   */
  private async run(cache: EncoderDecoderCache, inputIds: BigInt64Array, decoderPositions: Int32Array, deviceKv: DeviceKv | null = null, step = false) {
    const rows = cache.rows;
    const self = cache.self;
    self.reserve(Math.max(...decoderPositions) + 1); // room for every row's new entry
    const host = cache.cross.feeds(this.crossPerPrefix); // text_mask, cross_key_l, cross_value_l: [R or P, ...]
    const before = { up: this.transfer.upBytes, deviceSteps: this.transfer.deviceSteps };
    const float = self instanceof KvSlots ? self : null;
    const past = deviceKv === null || float === null ? { ...selfPastFeeds(self), ...host } : deviceKv.pastFeeds(float, host);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [rows, 1]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(decoderPositions, (p) => BigInt(p)), [rows, 1]),
      ...past,
    };
    if (step) this.transfer.upBytes += hostBytes(Object.values(feeds));
    const out = await runCollected(this.stepSession, feeds);
    if (step) this.transfer.downBytes += hostBytes([out.logits, out.new_keys, out.new_values] as ort.Tensor[]);
    // With the cache on the device the new entries stayed there: the write graph (a step) or a download (the prefill's start token) brings them back.
    const newKeys = out.new_keys as ort.Tensor;
    const newValues = out.new_values as ort.Tensor;
    const entries = deviceKv && float ? await deviceKv.absorb(float, past, newKeys, newValues, decoderPositions) : newKeys.location === 'gpu-buffer' ? await this.deviceKv?.download(newKeys, newValues) : null;
    if (this.transfer.deviceSteps > before.deviceSteps) this.transfer.deviceStepUpBytes += this.transfer.upBytes - before.up;
    return { logits: tensorData(out.logits), newKeys: entries?.keys ?? tensorData(newKeys), newValues: entries?.values ?? tensorData(newValues) };
  }

  private imageLogits(data: Float32Array, rows: number): ImageLogits {
    if (data.length !== rows * this.imageVocab) {
      throw new TesseraError('TESSERA_ERR_INFERENCE', `step graph returned ${data.length} logits, expected ${rows}x${this.imageVocab}`);
    }
    return { rows, data, stride: this.imageVocab, offset: 0 };
  }
}
