/**
 * The feeds of bench/perf/gqa-probe.ts's four attention forms (scripts/perf/gqa_probe.py): one
 * cache, laid out as each form reads it, so their contexts can be compared (and are, in
 * test/perf/attention-probes.test.ts).
 */
import { ort } from '../../src/model/runtime.js';

export const FORMS = ['float', 'gqa-float', 'gqa-int8', 'gqa-int8-channel'] as const;
export type Form = (typeof FORMS)[number];

export interface Layer {
  /** [rows, heads, slots, headDim]: what every form attends to, the last slot the new token's. */
  keys: Float32Array;
  values: Float32Array;
  query: Float32Array; // [rows, heads, headDim]
}

/** One form's run: its feeds, and for GroupQueryAttention the fetches binding its present outputs to its past inputs. */
export interface FormRun {
  feeds: Record<string, ort.Tensor>;
  fetches: Record<string, ort.Tensor | null> | undefined;
}

/**
 * The same cache as one form's feeds (and the fetches that keep GroupQueryAttention's present in
 * place): `slots` entries per row and head, the last one the new token's.
 */
export function feedsFor(form: Form, layer: Layer, rows: number, heads: number, slots: number, maxSlots: number, headDim: number): FormRun {
  const { keys, values, query } = layer;
  if (form === 'float') {
    // The step graphs scale q by 1/sqrt(headDim) before the score product; GroupQueryAttention scales the scores by the same.
    const scaled = query.map((x) => x / Math.sqrt(headDim));
    const mask = new Float32Array(rows * slots); // every slot valid
    return {
      feeds: {
        q: new ort.Tensor('float32', scaled, [rows, heads, headDim, 1]),
        past_key: new ort.Tensor('float32', keys, [rows, heads, slots, headDim]),
        past_value: new ort.Tensor('float32', values, [rows, heads, slots, headDim]),
        mask: new ort.Tensor('float32', mask, [rows, 1, 1, slots]),
      },
      fetches: undefined,
    };
  }
  // GroupQueryAttention: query/key/value [rows, 1, heads*headDim]; the cache [rows, heads, maxSlots, headDim] holds slots - 1 entries.
  const newKey = new Float32Array(rows * heads * headDim); // [rows, heads, headDim]
  const newValue = new Float32Array(rows * heads * headDim);
  const cacheKeys = new Float32Array(rows * heads * maxSlots * headDim);
  const cacheValues = new Float32Array(rows * heads * maxSlots * headDim);
  for (let rh = 0; rh < rows * heads; rh++) {
    for (let s = 0; s < slots; s++) {
      const from = (rh * slots + s) * headDim;
      if (s === slots - 1) {
        newKey.set(keys.subarray(from, from + headDim), rh * headDim);
        newValue.set(values.subarray(from, from + headDim), rh * headDim);
      } else {
        cacheKeys.set(keys.subarray(from, from + headDim), (rh * maxSlots + s) * headDim);
        cacheValues.set(values.subarray(from, from + headDim), (rh * maxSlots + s) * headDim);
      }
    }
  }
  const perChannel = form === 'gqa-int8-channel';
  // Element i of a [rows, heads, maxSlots, headDim] cache: its scale's index (head * headDim + d per channel, else 0).
  const channelOf = (i: number) => (perChannel ? (Math.floor(i / (maxSlots * headDim)) % heads) * headDim + (i % headDim) : 0);
  const scaleOf = (x: Float32Array) => {
    const scale = new Float32Array(perChannel ? heads * headDim : 1); // [1, heads, 1, headDim] or [1]
    for (let i = 0; i < x.length; i++) scale[channelOf(i)] = Math.max(scale[channelOf(i)], Math.abs(x[i]) / 127);
    return scale.map((v) => v || 1);
  };
  const cacheTensor = (x: Float32Array, scale: Float32Array): ort.Tensor => {
    if (form === 'gqa-float') return new ort.Tensor('float32', x, [rows, heads, maxSlots, headDim]);
    const q = new Int8Array(x.length);
    for (let i = 0; i < x.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(x[i] / scale[channelOf(i)])));
    return new ort.Tensor('int8', q, [rows, heads, maxSlots, headDim]);
  };
  const keyScale = scaleOf(cacheKeys);
  const valueScale = scaleOf(cacheValues);
  const pastKey = cacheTensor(cacheKeys, keyScale);
  const pastValue = cacheTensor(cacheValues, valueScale);
  const hidden = heads * headDim;
  const feeds: Record<string, ort.Tensor> = {
    query: new ort.Tensor('float32', query, [rows, 1, hidden]),
    key: new ort.Tensor('float32', newKey, [rows, 1, hidden]),
    value: new ort.Tensor('float32', newValue, [rows, 1, hidden]),
    past_key: pastKey,
    past_value: pastValue,
    seqlens_k: new ort.Tensor('int32', new Int32Array(rows).fill(slots - 1), [rows]),
    total_sequence_length: new ort.Tensor('int32', new Int32Array([slots]), []),
  };
  if (form !== 'gqa-float') {
    const dims = perChannel ? [1, heads, 1, headDim] : [1];
    feeds.k_scale = new ort.Tensor('float32', keyScale, dims);
    feeds.v_scale = new ort.Tensor('float32', valueScale, dims);
  }
  return { feeds, fetches: { context: null, present_key: pastKey, present_value: pastValue } };
}
