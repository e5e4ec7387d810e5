/**
 * The Janus generator (DeepSeek's Janus / Janus-Pro, as onnx-community exports it and
 * transformers.js runs it: docs/janus.md): a text prefix goes through
 * `prepare_inputs_embeds` and the `language_model`, each image code through
 * `gen_img_embeds` and the `language_model` over the cache, and `gen_head` turns the last
 * hidden state into logits over the image codebook. The language model takes embeddings,
 * not ids, and returns its whole grown cache (`present.{i}.key/value`); this file adapts
 * that to the generator seam, so the samplers see the same rows, steps and logits views as
 * for the other architectures.
 *
 * Rows lay out as in the decoder-only cache (KvSlots, plain keys, filled slots): a text
 * of n ids in slots 0..n-1, slots n..T-1 masked, image position j in slot T + j at
 * position id n + j. Texts arrive right-padded to T; a text ends at its last
 * `<begin_of_image>` (the prompt format's last id). Each step the new entry is the last
 * slot of `present` and is written into the row's own slot.
 */
import { TesseraError } from '../../errors.js';
import type { ModelManifest, StepCacheLayout } from '../../model/manifest.js';
import { runCollected } from '../../model/output-memory.js';
import { ort } from '../../model/runtime.js';
import { emptyStats, tensorData, type GeneratorStats, type ImageLogits, type ImageTokenGenerator, type PrefixBatch } from '../generator.js';
import { KvSlots } from '../kv-slots.js';
import type { NewEntryOutputs } from '../../model/new-entry-outputs.js';

/** The language model's cache: [B, H, S, D] keys and values, a dynamic slot axis. */
export const JANUS_CACHE: StepCacheLayout = { keys: 'plain', slots: 'filled' };

export interface JanusSessions {
  prepareInputsEmbeds: ort.InferenceSession;
  languageModel: ort.InferenceSession;
  genImgEmbeds: ort.InferenceSession;
  genHead: ort.InferenceSession;
  /** Set when the language model was rewritten to return only each step's new cache entries (src/model/new-entry-outputs.ts). */
  newEntries?: NewEntryOutputs;
}

/** One prefix's cache entries ([L, 1, H, n, D]) and its length n. */
interface JanusPrefix {
  keys: Float32Array;
  values: Float32Array;
  length: number;
}

interface JanusPrefixes extends PrefixBatch {
  prefixes: JanusPrefix[];
}

/** A step's new entries for one layer ([R, H, 1, D]), checked against the cache's size. */
function entries(tensor: ort.Tensor, size: number): Float32Array {
  const data = tensorData(tensor);
  if (data.length !== size) throw new TesseraError('TESSERA_ERR_INFERENCE', `the language model returned ${data.length} new cache values for a layer, expected ${size}`);
  return data;
}

const ids64 = (values: ArrayLike<number>): BigInt64Array => BigInt64Array.from(Array.from(values, (v) => BigInt(v)));

export class JanusGenerator implements ImageTokenGenerator<KvSlots> {
  readonly architecture = 'janus';
  readonly textLength: number;
  readonly imageVocab: number;
  readonly imageTokens: number;
  readonly stats: GeneratorStats = emptyStats();
  private readonly layers: number;
  private readonly heads: number;
  private readonly headDim: number;
  private readonly slots: number;
  private readonly hidden: number;
  private readonly imageSize: number;
  private readonly imageStartId: number;
  /** The language model's hidden-state output and the head's input (transformers.js picks the head's feed by name). */
  private readonly hiddenOutput: string;
  private readonly headInput: string;
  private readonly positionIds: boolean;

  constructor(
    manifest: ModelManifest,
    private readonly sessions: JanusSessions,
  ) {
    const { text, image, generator, janus } = manifest;
    if (janus === undefined) throw new TesseraError('TESSERA_ERR_MANIFEST', 'a Janus package needs manifest.janus');
    this.textLength = text.length;
    this.imageVocab = image.vocabSize;
    this.imageTokens = image.grid.height * image.grid.width;
    this.imageSize = image.size;
    this.layers = generator.layers;
    this.heads = generator.heads;
    this.headDim = generator.headDim;
    this.slots = generator.maxLength;
    this.hidden = janus.hiddenSize;
    this.imageStartId = janus.imageStartId;
    const hidden = sessions.languageModel.outputNames.find((name) => !name.startsWith('present'));
    if (hidden === undefined) throw new TesseraError('TESSERA_ERR_MODEL_FILE', 'the Janus language model has no hidden-state output');
    this.hiddenOutput = hidden;
    this.headInput = sessions.genHead.inputNames[0] ?? hidden;
    this.positionIds = sessions.languageModel.inputNames.includes('position_ids');
  }

  /** Ids of a text up to and including its last <begin_of_image> (the rest is Tessera's padding). */
  private prefixLength(ids: readonly number[]): number {
    const end = ids.lastIndexOf(this.imageStartId);
    return end < 0 ? ids.length : end + 1;
  }

  /** The output holding layer l's cache entries: the new ones (a rewritten graph), else the whole grown cache. */
  private entryOutput(l: number, kind: 'key' | 'value'): string {
    const entries = this.sessions.newEntries;
    return entries === undefined ? `present.${l}.${kind}` : kind === 'key' ? entries.keys[l]! : entries.values[l]!;
  }

  /** gen_head over hidden states [rows, 1, hidden] -> logits [rows, 1, V]. */
  private async head(hidden: Float32Array, rows: number): Promise<Float32Array> {
    const out = await this.sessions.genHead.run({ [this.headInput]: new ort.Tensor('float32', hidden, [rows, 1, this.hidden]) });
    const logits = tensorData(out.logits ?? Object.values(out)[0]!); // [rows, 1, V]
    if (logits.length !== rows * this.imageVocab) throw new TesseraError('TESSERA_ERR_INFERENCE', `gen_head returned ${logits.length} logits, expected ${rows}x${this.imageVocab}`);
    return logits;
  }

  /**
   * Per cache, buffers for `present.*` ([R, H, maxLength + 1, D] per layer, viewed at
   * [R, H, C + 1, D]), for a graph the new-entry rewrite cannot handle: onnxruntime-node
   * fills preallocated outputs instead of copying each into a new JS buffer. It still
   * allocates them inside (515,000 page faults a step at 8 rows of the 1B shape, with or
   * without these buffers, measured 2026-12-05): the rewrite is what avoids that.
   */
  private readonly presentBuffers = new WeakMap<KvSlots, { keys: Float32Array[]; values: Float32Array[] }>();

  private presentFetches(cache: KvSlots, total: number): Record<string, ort.Tensor | null> {
    const { layers, heads, headDim } = this;
    let buffers = this.presentBuffers.get(cache);
    if (buffers === undefined) {
      const size = cache.rows * heads * (this.slots + 1) * headDim;
      buffers = { keys: Array.from({ length: layers }, () => new Float32Array(size)), values: Array.from({ length: layers }, () => new Float32Array(size)) };
      this.presentBuffers.set(cache, buffers);
    }
    const used = cache.rows * heads * total * headDim;
    const fetches: Record<string, ort.Tensor | null> = { [this.hiddenOutput]: null };
    for (let l = 0; l < layers; l++) {
      fetches[`present.${l}.key`] = new ort.Tensor('float32', buffers.keys[l]!.subarray(0, used), [cache.rows, heads, total, headDim]); // [R, H, C + 1, D]
      fetches[`present.${l}.value`] = new ort.Tensor('float32', buffers.values[l]!.subarray(0, used), [cache.rows, heads, total, headDim]);
    }
    return fetches;
  }

  /** The language model over `embeds` [rows, n, hidden] after `past` (one [rows, H, C, D] pair per layer). */
  private async languageModel(
    embeds: ort.Tensor,
    mask: BigInt64Array,
    positions: BigInt64Array,
    rows: number,
    n: number,
    past: (l: number) => [Float32Array, Float32Array],
    pastSlots: number,
    fetches?: Record<string, ort.Tensor | null>,
  ) {
    const { heads, headDim } = this;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: embeds,
      attention_mask: new ort.Tensor('int64', mask, [rows, pastSlots + n]),
    };
    if (this.positionIds) feeds.position_ids = new ort.Tensor('int64', positions, [rows, n]);
    for (let l = 0; l < this.layers; l++) {
      const [keys, values] = past(l);
      feeds[`past_key_values.${l}.key`] = new ort.Tensor('float32', keys, [rows, heads, pastSlots, headDim]); // [R, H, C, D]
      feeds[`past_key_values.${l}.value`] = new ort.Tensor('float32', values, [rows, heads, pastSlots, headDim]);
    }
    return runCollected(this.sessions.languageModel, feeds, fetches);
  }

  /** Prefixes of one length run together; each keeps its own entries, so writePrefix copies one row's. */
  async prefill(prefixes: readonly (readonly number[])[]): Promise<JanusPrefixes> {
    const { layers, heads, headDim, hidden, imageVocab } = this;
    const groups = new Map<number, number[]>();
    prefixes.forEach((prefix, p) => {
      if (prefix.length !== this.textLength) throw new TesseraError('TESSERA_ERR_INFERENCE', `every text must hold exactly ${this.textLength} ids`);
      const n = this.prefixLength(prefix);
      groups.set(n, [...(groups.get(n) ?? []), p]);
    });
    const logits = new Float32Array(prefixes.length * imageVocab); // [P, V]
    const entries: JanusPrefix[] = new Array(prefixes.length);
    const started = performance.now();
    for (const [n, members] of groups) {
      const g = members.length;
      const ids = ids64(members.flatMap((p) => prefixes[p]!.slice(0, n))); // [g, n]
      const prepared = await this.sessions.prepareInputsEmbeds.run({
        input_ids: new ort.Tensor('int64', ids, [g, n]),
        pixel_values: new ort.Tensor('float32', new Float32Array(0), [g, 0, 3, this.imageSize, this.imageSize]), // text only: no images
        images_seq_mask: new ort.Tensor('bool', new Uint8Array(g * n), [g, n]),
        images_emb_mask: new ort.Tensor('bool', new Uint8Array(0), [g, 0, this.imageTokens]),
      });
      const embeds = Object.values(prepared)[0]!; // [g, n, hidden]
      const positions = ids64(Array.from({ length: g * n }, (_, i) => i % n)); // [g, n]
      const empty = new Float32Array(0);
      const out = await this.languageModel(embeds as ort.Tensor, new BigInt64Array(g * n).fill(1n), positions, g, n, () => [empty, empty], 0);
      const states = tensorData(out[this.hiddenOutput]!); // [g, n, hidden]
      const last = new Float32Array(g * hidden); // [g, 1, hidden]
      for (let k = 0; k < g; k++) last.set(states.subarray(((k + 1) * n - 1) * hidden, (k + 1) * n * hidden), k * hidden);
      const rowLogits = await this.head(last, g);
      const block = heads * n * headDim;
      members.forEach((p, k) => {
        logits.set(rowLogits.subarray(k * imageVocab, (k + 1) * imageVocab), p * imageVocab);
        const keys = new Float32Array(layers * block); // [L, 1, H, n, D]
        const values = new Float32Array(layers * block);
        for (let l = 0; l < layers; l++) {
          keys.set(tensorData(out[this.entryOutput(l, 'key')]!).subarray(k * block, (k + 1) * block), l * block);
          values.set(tensorData(out[this.entryOutput(l, 'value')]!).subarray(k * block, (k + 1) * block), l * block);
        }
        entries[p] = { keys, values, length: n };
      });
    }
    this.stats.prefillMs += performance.now() - started;
    this.stats.prefillRows += prefixes.length;
    return { count: prefixes.length, logits: { rows: prefixes.length, data: logits, stride: imageVocab, offset: 0 }, prefixes: entries };
  }

  allocate(rows: number): KvSlots {
    return new KvSlots({ layers: this.layers, heads: this.heads, slots: this.slots, headDim: this.headDim }, rows, JANUS_CACHE, this.textLength + 1);
  }

  writePrefix(cache: KvSlots, row: number, batch: PrefixBatch, prefix: number): void {
    const entry = (batch as JanusPrefixes).prefixes[prefix]!;
    cache.writePrefix(row, entry.keys, entry.values, 1, 0, entry.length);
  }

  async step(cache: KvSlots, codes: Int32Array, positions: Int32Array): Promise<ImageLogits> {
    const { layers, heads, headDim, textLength } = this;
    const rows = cache.rows;
    const slots = Int32Array.from(positions, (j) => textLength + j); // [R]: image position j sits in slot T + j
    cache.reserve(Math.max(...slots) + 1);
    const capacity = cache.capacity;
    const total = capacity + 1;
    // The graph appends the new entry after the C slots it is given; the mask marks which of those a row holds.
    const mask = new BigInt64Array(rows * total); // [R, C + 1]
    const positionIds = new BigInt64Array(rows); // [R, 1]
    for (let r = 0; r < rows; r++) {
      let text = 0;
      for (let s = 0; s < capacity; s++) {
        const valid = cache.mask[r * capacity + s]! > 0;
        if (valid) mask[r * total + s] = 1n;
        if (valid && s < textLength) text += 1;
      }
      mask[r * total + capacity] = 1n;
      positionIds[r] = BigInt(text + positions[r]!); // a row's text length is read back from its mask: copyRows carries it
    }
    const started = performance.now();
    const embedded = await this.sessions.genImgEmbeds.run({ image_ids: new ort.Tensor('int64', ids64(codes), [rows, 1]) });
    const fetches = this.sessions.newEntries === undefined ? this.presentFetches(cache, total) : undefined;
    const out = await this.languageModel(Object.values(embedded)[0] as ort.Tensor, mask, positionIds, rows, 1, (l) => [cache.keys[l]!, cache.values[l]!], capacity, fetches);
    const newKeys = new Float32Array(layers * rows * heads * headDim); // [L, R, H, 1, D]
    const newValues = new Float32Array(newKeys.length);
    const block = rows * heads * headDim;
    for (let l = 0; l < layers; l++) {
      if (fetches === undefined) {
        newKeys.set(entries(out[this.entryOutput(l, 'key')]!, block), l * block); // [R, H, 1, D]
        newValues.set(entries(out[this.entryOutput(l, 'value')]!, block), l * block);
        continue;
      }
      // The whole grown cache came back: each row-head's new entry is its last slot.
      const keys = fetches[`present.${l}.key`]!.data as Float32Array; // [R, H, C + 1, D], filled in place
      const values = fetches[`present.${l}.value`]!.data as Float32Array;
      for (let rh = 0; rh < rows * heads; rh++) {
        const from = (rh * total + capacity) * headDim;
        newKeys.set(keys.subarray(from, from + headDim), (l * rows * heads + rh) * headDim);
        newValues.set(values.subarray(from, from + headDim), (l * rows * heads + rh) * headDim);
      }
    }
    cache.writeStep(newKeys, newValues, slots);
    const logits = await this.head(tensorData(out[this.hiddenOutput]!), rows); // [R, 1, V]
    this.stats.decodeMs += performance.now() - started;
    this.stats.stepCalls += 1;
    this.stats.stepRows = rows;
    return { rows, data: logits, stride: this.imageVocab, offset: 0 };
  }
}
