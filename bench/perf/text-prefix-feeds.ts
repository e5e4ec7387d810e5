/**
 * Feeds for a decoder-only step graph in both forms (issue 27, scripts/convert/text_prefixes.py):
 * the original, whose per-row cache holds each row's text in slots 0..T-1 and its image entries
 * after, and the rewritten one, fed the text once per prefix (text_key_l / text_value_l
 * [P, H, T, D], text_mask [P, T]) and a per-row cache of the image slots only. Both describe
 * the same attention, so the two graphs must agree; used by bench/perf/text-prefixes.ts and
 * test/generator/text-prefixes.test.ts.
 */
import { ort } from '../../src/model/runtime.js';
import { seededNormals } from './probe-feeds.js';

export interface TextPrefixCase {
  layers: number;
  heads: number;
  headDim: number;
  textLength: number;
  /** Rows of the step; rows / texts rows per text, contiguous. */
  rows: number;
  /** Distinct texts (P); must divide rows. */
  texts: number;
  /** Image slots laid out per row (the rewritten cache's capacity). */
  imageSlots: number;
  /** Image slots each row has filled (mask 1), at most imageSlots; the row steps at this image position. */
  filled: number;
  /** Vocabulary of input_ids (the combined vocabulary). */
  vocab: number;
  /** Image codes among them (the last imageVocab ids; default 1024, the shapes model's). */
  imageVocab?: number;
  /** Feed the text per row to the rewritten graph (P = R) instead of per prefix. */
  perRow?: boolean;
}

export interface TextPrefixFeeds {
  original: Record<string, ort.Tensor>;
  rewritten: Record<string, ort.Tensor>;
}

export function textPrefixFeeds(c: TextPrefixCase, seed = 1): TextPrefixFeeds {
  const { layers, heads, headDim, textLength: T, rows, texts, imageSlots, filled } = c;
  if (rows % texts !== 0) throw new RangeError(`${texts} texts do not divide ${rows} rows`);
  const group = rows / texts;
  const slots = T + imageSlots;
  const ids = BigInt64Array.from({ length: rows }, (_, r) => BigInt(c.vocab - 1 - ((r * 7919) % (c.imageVocab ?? 1024)))); // image codes (the last imageVocab ids)
  const positions = new BigInt64Array(rows).fill(BigInt(T + filled)); // stream position of image position `filled`
  const common = { input_ids: new ort.Tensor('int64', ids, [rows, 1]), position_ids: new ort.Tensor('int64', positions, [rows, 1]) };
  const mask = new Float32Array(rows * slots); // [R, T + S]
  const imageMask = new Float32Array(rows * imageSlots); // [R, S]
  for (let r = 0; r < rows; r++) {
    mask.fill(1, r * slots, r * slots + T + filled);
    imageMask.fill(1, r * imageSlots, r * imageSlots + filled);
  }
  const original: Record<string, ort.Tensor> = { ...common, attention_mask: new ort.Tensor('float32', mask, [rows, slots]) };
  const fedTexts = c.perRow ? rows : texts;
  const rewritten: Record<string, ort.Tensor> = {
    ...common,
    attention_mask: new ort.Tensor('float32', imageMask, [rows, imageSlots]),
    text_mask: new ort.Tensor('float32', new Float32Array(fedTexts * T).fill(1), [fedTexts, T]),
  };
  const block = T * headDim; // one head's text entries
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value'] as const) {
      const text = seededNormals(texts * heads * block, seed * 1000 + l * 2 + (kind === 'key' ? 0 : 1)); // [P, H, T, D]
      const image = seededNormals(rows * heads * imageSlots * headDim, seed * 2000 + l * 2 + (kind === 'key' ? 0 : 1)); // [R, H, S, D]
      const full = new Float32Array(rows * heads * slots * headDim); // [R, H, T + S, D]
      const perRowText = new Float32Array(rows * heads * block); // [R, H, T, D]
      for (let r = 0; r < rows; r++) {
        const p = Math.floor(r / group);
        for (let h = 0; h < heads; h++) {
          const from = (p * heads + h) * block;
          const to = (r * heads + h) * slots * headDim;
          full.set(text.subarray(from, from + block), to);
          full.set(image.subarray((r * heads + h) * imageSlots * headDim, (r * heads + h + 1) * imageSlots * headDim), to + block);
          perRowText.set(text.subarray(from, from + block), (r * heads + h) * block);
        }
      }
      original[`past_${kind}_${l}`] = new ort.Tensor('float32', full, [rows, heads, slots, headDim]);
      rewritten[`past_${kind}_${l}`] = new ort.Tensor('float32', image, [rows, heads, imageSlots, headDim]);
      rewritten[`text_${kind}_${l}`] = c.perRow ? new ort.Tensor('float32', perRowText, [rows, heads, T, headDim]) : new ort.Tensor('float32', text, [texts, heads, T, headDim]);
    }
  }
  return { original, rewritten };
}

/** The largest absolute difference between two float tensors of one size. */
export function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  const [x, y] = [a.data as Float32Array, b.data as Float32Array];
  if (x.length !== y.length) return Infinity;
  let most = 0;
  for (let i = 0; i < x.length; i++) most = Math.max(most, Math.abs(x[i] - y[i]));
  return most;
}
