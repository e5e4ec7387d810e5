/**
 * The decoder-only generator (DALL·E's single transformer over one stream
 * `[text tokens | image tokens]`, docs/model-package.md): a prefill graph runs each
 * distinct text once, and a step graph advances every row by one token over fixed
 * per-row KV slots (KvSlots). This file is the only place that knows the graphs' feed
 * names, the combined-vocabulary offset of image codes and where image positions sit
 * after the text. With manifest generator.cache.text = 'prefixes' the text's keys/values
 * are fed once per text and each row's slots hold its image entries only (text-slots.ts).
 */
import { TesseraError } from '../../errors.js';
import { DEFAULT_STEP_CACHE, type ModelManifest, type StepCacheLayout } from '../../model/manifest.js';
import { runCollected } from '../../model/output-memory.js';
import { hostBytes, ort } from '../../model/runtime.js';
import { emptyStats, tensorData, type GeneratorStats, type ImageLogits, type ImageTokenGenerator, type PrefixBatch } from '../generator.js';
import { emptyTransfer, type DeviceKv, type TransferStats } from '../device-kv.js';
import { KvSlots, type CacheShape } from '../kv-slots.js';
import { readsInt8Cache, selfPastFeeds, slotsFor, type SelfSlots } from '../self-slots.js';
import { TextPrefixedSlots, textEntries, type TextEntry } from './text-slots.js';

/** A prefill result: the image logits of each prefix plus its text keys/values ([L, P, H, T, D]), and per text their views. */
interface DecoderOnlyPrefixes extends PrefixBatch {
  keys: Float32Array;
  values: Float32Array;
  texts: TextEntry[];
}

/** The per-row KvSlots' shape: every slot, or with the text once per text ('prefixes') the image's slots only (text-slots.ts). */
export function rowSlotsShape(manifest: ModelManifest): CacheShape {
  const { layers, heads, headDim, maxLength } = manifest.generator;
  const shape = { layers, heads, slots: maxLength, headDim };
  return (manifest.generator.cache ?? DEFAULT_STEP_CACHE).text === 'prefixes' ? imageSlotsShape(shape, manifest.text.length) : shape;
}

/** A cache shape without its text's slots. */
const imageSlotsShape = (shape: CacheShape, textLength: number): CacheShape => ({ ...shape, slots: shape.slots - textLength });

/** The text in every row's slots ('rows'), or once per text beside per-row image slots ('prefixes'). */
export type DecoderOnlyCache = SelfSlots | TextPrefixedSlots;

export class DecoderOnlyGenerator implements ImageTokenGenerator<DecoderOnlyCache> {
  readonly architecture = 'decoder-only';
  readonly textLength: number;
  readonly imageVocab: number;
  readonly imageTokens: number;
  readonly stats: GeneratorStats = emptyStats();
  /** Bytes the step phase handed between JavaScript and the sessions (the WebGPU bench's "what crosses the bus"). */
  readonly transfer: TransferStats;
  /** Text vocabulary size: image code k is id textVocab + k of the combined vocabulary. */
  private readonly textVocab: number;
  private readonly vocab: number;
  private readonly layers: number;
  private readonly heads: number;
  private readonly headDim: number;
  private readonly slots: number;
  private readonly cacheLayout: StepCacheLayout;
  /** The step graph takes the text once per text (manifest generator.cache.text = 'prefixes'). */
  private readonly textPrefixes: boolean;
  /** Per cache, the row each prefix of the last batch written into it was first written to. */
  private readonly prefixRows = new WeakMap<SelfSlots, { batch: PrefixBatch; rows: Map<number, number> }>();
  /** Float slots, or int8 ones when the step graph reads an int8 cache (kv-slots-int8.ts). */
  private readonly newSlots: (shape: CacheShape, rows: number, layout: StepCacheLayout, initialSlots: number) => SelfSlots;

  constructor(
    manifest: ModelManifest,
    private readonly prefillSession: ort.InferenceSession,
    private readonly stepSession: ort.InferenceSession,
    /** The cache's device copy (src/generator/device-kv.ts), on a GPU device; null keeps it on the host only. */
    private readonly deviceKv: DeviceKv | null = null,
    transfer: TransferStats = emptyTransfer(),
  ) {
    this.transfer = transfer;
    const { text, image, generator } = manifest;
    this.textLength = text.length;
    this.textVocab = text.vocabSize;
    this.imageVocab = image.vocabSize;
    this.vocab = text.vocabSize + image.vocabSize;
    this.imageTokens = image.grid.height * image.grid.width;
    this.layers = generator.layers;
    this.heads = generator.heads;
    this.headDim = generator.headDim;
    this.slots = generator.maxLength;
    this.cacheLayout = generator.cache ?? DEFAULT_STEP_CACHE;
    this.newSlots = slotsFor(stepSession, deviceKv !== null);
    this.textPrefixes = this.cacheLayout.text === 'prefixes';
    if (stepSession.inputNames.includes('text_key_0') !== this.textPrefixes) {
      const [says, takes] = this.textPrefixes ? ['"prefixes"', 'no text_key_l inputs'] : ['"rows" (the default)', 'text_key_l inputs'];
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `the manifest's generator.cache.text is ${says} but the step graph has ${takes}: rewrite the package with scripts/convert/text_prefixes.py, or restore its step graphs`, { param: 'model' });
    }
    if (this.textPrefixes && readsInt8Cache(stepSession)) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', 'this step graph reads an int8 KV cache and takes the text once per text: no cache of that form exists; use a float-cache step graph', { param: 'model' });
    }
  }

  /** Image logits inside combined-vocabulary logits ([rows, V]): the image range starts at textVocab. */
  private imageLogits(data: Float32Array, rows: number): ImageLogits {
    if (data.length !== rows * this.vocab) {
      throw new TesseraError('TESSERA_ERR_INFERENCE', `generator returned ${data.length} logits, expected ${rows}x${this.vocab}`);
    }
    return { rows, data, stride: this.vocab, offset: this.textVocab };
  }

  private textIds(prefixes: readonly (readonly number[])[], length: number, codes?: readonly Int32Array[]): BigInt64Array {
    const { textLength, textVocab } = this;
    const ids = new BigInt64Array(prefixes.length * length); // [P, length]
    prefixes.forEach((prefix, p) => {
      if (prefix.length !== textLength) throw new TesseraError('TESSERA_ERR_INFERENCE', `every text must hold exactly ${textLength} ids`);
      prefix.forEach((id, t) => (ids[p * length + t] = BigInt(id)));
      const row = codes?.[p];
      if (row) for (let k = 0; k < length - textLength; k++) ids[p * length + textLength + k] = BigInt(textVocab + row[k]);
    });
    return ids;
  }

  async prefill(prefixes: readonly (readonly number[])[]): Promise<DecoderOnlyPrefixes> {
    const { textLength } = this;
    const ids = this.textIds(prefixes, textLength); // [P, T]
    const started = performance.now();
    const out = await this.prefillSession.run({ input_ids: new ort.Tensor('int64', ids, [prefixes.length, textLength]) });
    this.stats.prefillMs += performance.now() - started;
    this.stats.prefillRows += prefixes.length;
    const keys = tensorData(out.present_keys); // [L, P, H, T, D]
    const values = tensorData(out.present_values);
    return {
      count: prefixes.length,
      logits: this.imageLogits(tensorData(out.logits), prefixes.length), // [P, V] at the last text position
      keys,
      values,
      texts: this.textPrefixes ? textEntries(this.dims, keys, values, prefixes.length) : [],
    };
  }

  private get dims() {
    return { layers: this.layers, heads: this.heads, headDim: this.headDim, textLength: this.textLength };
  }

  allocate(rows: number): DecoderOnlyCache {
    const shape = { layers: this.layers, heads: this.heads, slots: this.slots, headDim: this.headDim };
    // Image slots only: image position j in slot j.
    if (this.textPrefixes) return new TextPrefixedSlots(this.dims, imageSlotsShape(shape, this.textLength), rows, this.cacheLayout);
    // The text prefix and the first step's key are the first writes.
    return this.newSlots(shape, rows, this.cacheLayout, this.textLength + 1);
  }

  /**
   * The first row of `cache` that gets a prefix has it scattered in (keys transposed); every
   * later row with the same prefix copies that row whole (one contiguous copy per layer
   * buffer), which measured several times faster at 128 rows (docs/benchmarks.md, "Levers").
   */
  writePrefix(cache: DecoderOnlyCache, row: number, batch: PrefixBatch, prefix: number): void {
    if (cache instanceof TextPrefixedSlots) return cache.writeText(row, (batch as DecoderOnlyPrefixes).texts[prefix]);
    let written = this.prefixRows.get(cache);
    if (written === undefined || written.batch !== batch) {
      written = { batch, rows: new Map() };
      this.prefixRows.set(cache, written);
    }
    const source = written.rows.get(prefix);
    for (const [p, r] of written.rows) if (r === row) written.rows.delete(p); // this row no longer holds p
    if (source !== undefined && source !== row) {
      cache.copyRows(cache, source, row, 1);
      return;
    }
    const { keys, values } = batch as DecoderOnlyPrefixes;
    cache.writePrefix(row, keys, values, batch.count, prefix, this.textLength);
    written.rows.set(prefix, row);
  }

  async step(cache: DecoderOnlyCache, codes: Int32Array, positions: Int32Array): Promise<ImageLogits> {
    const { textLength, textVocab } = this;
    const rows = cache.rows;
    const inputIds = BigInt64Array.from(codes, (code) => BigInt(textVocab + code)); // [R, 1]
    // Image position j sits at stream position T + j.
    const streamPositions = Int32Array.from(positions, (j) => textLength + j); // [R]
    // Its slot: the stream position, or j where the text is fed once per text (the slots hold image entries only).
    const prefixed = cache instanceof TextPrefixedSlots ? cache : null;
    const self = prefixed?.image ?? (cache as SelfSlots);
    const slots = prefixed ? positions : streamPositions; // [R]
    // Room for every row's new entry; the graph attends over the slots laid out so far.
    self.reserve(Math.max(...slots) + 1);
    // The cache: its device copy when that is current, else the host buffers (src/generator/device-kv.ts).
    const before = { up: this.transfer.upBytes, deviceSteps: this.transfer.deviceSteps };
    // (An int8 cache has no device copy: slotsFor refused that pairing, so deviceKv is null with one.)
    const float = self instanceof KvSlots ? self : null;
    // The text's keys/values ([P or R, H, T, D]) travel with the cache's device copy, as the encoder-decoder's cross ones do.
    const text = prefixed?.text.feeds();
    const past = (float && this.deviceKv?.pastFeeds(float, text)) ?? { ...selfPastFeeds(self), ...text };
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [rows, 1]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(streamPositions, (p) => BigInt(p)), [rows, 1]),
      ...past,
    };
    this.prefixRows.delete(self); // a stepped row holds more than its prefix: never copy it as one
    const started = performance.now();
    this.transfer.upBytes += hostBytes(Object.values(feeds));
    const out = await runCollected(this.stepSession, feeds);
    this.transfer.downBytes += hostBytes([out.logits, out.new_keys, out.new_values] as ort.Tensor[]);
    // With the cache on the device the step's new entries stayed there too; the write graph hands them back.
    const entries = this.deviceKv && float ? await this.deviceKv.absorb(float, past, out.new_keys as ort.Tensor, out.new_values as ort.Tensor, slots) : null;
    this.stats.decodeMs += performance.now() - started;
    self.writeStep(entries?.keys ?? tensorData(out.new_keys), entries?.values ?? tensorData(out.new_values), slots);
    if (this.transfer.deviceSteps > before.deviceSteps) this.transfer.deviceStepUpBytes += this.transfer.upBytes - before.up;
    if (float) this.deviceKv?.settle(float);
    this.stats.stepCalls += 1;
    this.stats.stepRows = rows;
    return this.imageLogits(tensorData(out.logits), rows); // [R, V]
  }

  /** The prefill graph's text axis is dynamic, so it also runs text + the codes so far in one pass. */
  async forwardFull(prefixes: readonly (readonly number[])[], codes: readonly Int32Array[]): Promise<ImageLogits> {
    const done = codes[0]?.length ?? 0;
    if (codes.some((c) => c.length !== done)) throw new TesseraError('TESSERA_ERR_INFERENCE', 'forwardFull needs rows of one length');
    const length = this.textLength + done;
    const ids = this.textIds(prefixes, length, codes); // [P, T + done]
    const out = await this.prefillSession.run({ input_ids: new ort.Tensor('int64', ids, [prefixes.length, length]) });
    return this.imageLogits(tensorData(out.logits), prefixes.length);
  }
}
