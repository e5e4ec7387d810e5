/**
 * The int8 KV cache's entry quantization (issue 27, scripts/perf/kv8_probe.py's variant
 * inputs): each entry (one row, head and slot: headDim floats) gets its own scale,
 * max |x| / 127, and is stored as round(x / scale), symmetric: as s8 for values, as u8 with
 * 128 added for keys (the variant reads keys with zero point 128: see the script's docstring).
 * The generators' own int8 cache is src/generator/kv-slots-int8.ts (the same rounding); this
 * file quantizes the probe's synthetic feeds, including the --cross variant's cross keys/values.
 */
import { ort } from '../../src/model/runtime.js';

/** Quantizes `entries` runs of `headDim` floats of `source` into `target` (+ `offset`) and `scales`. */
export function quantizeEntries(source: Float32Array, headDim: number, target: Int8Array | Uint8Array, scales: Float32Array, offset: 0 | 128): void {
  const entries = source.length / headDim;
  for (let e = 0; e < entries; e++) {
    const at = e * headDim;
    let max = 0;
    for (let d = 0; d < headDim; d++) max = Math.max(max, Math.abs(source[at + d]));
    const scale = max / 127;
    scales[e] = scale; // an all-zero entry (an empty slot) has scale 0 and reads as 0
    const inverse = scale > 0 ? 1 / scale : 0;
    for (let d = 0; d < headDim; d++) target[at + d] = Math.round(source[at + d] * inverse) + offset;
  }
}

/** Keys into the transposed layout: [blocks, slots, D] floats -> [blocks, D, slots] s8, scales [blocks, slots]. */
export function quantizeTransposed(source: Float32Array, slots: number, headDim: number, target: Int8Array, scales: Float32Array): void {
  const blocks = source.length / (slots * headDim);
  for (let b = 0; b < blocks; b++) {
    for (let t = 0; t < slots; t++) {
      const at = (b * slots + t) * headDim;
      let max = 0;
      for (let d = 0; d < headDim; d++) max = Math.max(max, Math.abs(source[at + d]));
      const scale = max / 127;
      scales[b * slots + t] = scale;
      const inverse = scale > 0 ? 1 / scale : 0;
      const base = b * headDim * slots + t;
      for (let d = 0; d < headDim; d++) target[base + d * slots] = Math.round(source[at + d] * inverse);
    }
  }
}

/** Keys already transposed ([blocks, D, T] floats, an encoder-decoder's cross keys) -> s8 in place order, scales [blocks, T] per column. */
export function quantizeColumns(source: Float32Array, columns: number, headDim: number, target: Int8Array, scales: Float32Array): void {
  const blocks = source.length / (columns * headDim);
  for (let b = 0; b < blocks; b++) {
    const base = b * headDim * columns;
    for (let t = 0; t < columns; t++) {
      let max = 0;
      for (let d = 0; d < headDim; d++) max = Math.max(max, Math.abs(source[base + d * columns + t]));
      const scale = max / 127;
      scales[b * columns + t] = scale;
      const inverse = scale > 0 ? 1 / scale : 0;
      for (let d = 0; d < headDim; d++) target[base + d * columns + t] = Math.round(source[base + d * columns + t] * inverse);
    }
  }
}

/** What the variant's key inputs are: s8 [R, H, D, S] ('transposed', the default) or u8 + 128 [R, H, S, D] ('plain'). */
export type Int8KeyLayout = 'transposed' | 'plain';

/** The variant's feeds for one float cache input: past_* [R, H, S, D], cross_key_* [R, H, D, T], cross_value_* [R, H, T, D]. */
export function int8Feeds(name: string, tensor: ort.Tensor, keys: Int8KeyLayout = 'transposed'): Record<string, ort.Tensor> {
  const dims = tensor.dims as number[];
  const data = tensor.data as Float32Array;
  const [, group, kind, layer] = /^(past|cross)_(key|value)_(\d+)$/.exec(name) ?? [];
  const isKey = kind === 'key';
  const scaleName = `${group}_${kind}_scale_${layer}`;
  if (group === 'cross' && isKey) {
    const [headDim, columns] = [dims[2], dims[3]];
    const [target, scales] = [new Int8Array(data.length), new Float32Array(data.length / headDim)]; // [R, H, D, T], [R, H, T]
    quantizeColumns(data, columns, headDim, target, scales);
    return { [name]: new ort.Tensor('int8', target, dims), [scaleName]: new ort.Tensor('float32', scales, [dims[0], dims[1], columns]) };
  }
  const headDim = dims[3];
  const scales = new Float32Array(data.length / headDim); // [R, H, S]
  const scaleTensor = new ort.Tensor('float32', scales, dims.slice(0, 3));
  if (isKey && keys === 'transposed') {
    const target = new Int8Array(data.length);
    quantizeTransposed(data, dims[2], headDim, target, scales);
    return { [name]: new ort.Tensor('int8', target, [dims[0], dims[1], headDim, dims[2]]), [scaleName]: scaleTensor };
  }
  const target = isKey ? new Uint8Array(data.length) : new Int8Array(data.length);
  quantizeEntries(data, headDim, target, scales, isKey ? 128 : 0);
  return { [name]: new ort.Tensor(isKey ? 'uint8' : 'int8', target, dims), [scaleName]: scaleTensor };
}

/** The key layout a variant's inputs declare (its past_key_0 is int8 when transposed, uint8 when plain). */
export function keyLayoutOf(variant: ort.InferenceSession): Int8KeyLayout {
  const meta = variant.inputMetadata.find((m) => m.name === 'past_key_0');
  return meta?.isTensor && meta.type === 'uint8' ? 'plain' : 'transposed';
}
