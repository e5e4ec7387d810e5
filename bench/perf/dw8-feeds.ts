/**
 * Feeds for scripts/perf/dw8_probe.py's variants (bench/perf/dw8-probe.ts, and
 * test/perf/attention-probes.test.ts): the original step graph's synthetic feeds (probe-feeds.ts'
 * stepFeeds) with the cache as the variant reads it (int8, channels-last) with its static scales taken from the
 * original's calibration copy run on those feeds.
 */
import { ort } from '../../src/model/runtime.js';

/** [rows, heads, slots, headDim] floats -> int8 [1, slots, headDim, rows*heads] with one scale (max |x| / 127). */
export function channelsLast(cache: ort.Tensor): { codes: ort.Tensor; scale: number } {
  const [rows, heads, slots, headDim] = cache.dims as number[];
  const x = cache.data as Float32Array;
  let largest = 0;
  for (const v of x) largest = Math.max(largest, Math.abs(v));
  const scale = largest / 127 || 1;
  const channels = rows * heads;
  const codes = new Int8Array(x.length);
  for (let c = 0; c < channels; c++) {
    for (let t = 0; t < slots; t++) {
      for (let d = 0; d < headDim; d++) codes[(t * headDim + d) * channels + c] = Math.round(x[(c * slots + t) * headDim + d] / scale);
    }
  }
  return { codes: new ort.Tensor('int8', codes, [1, slots, headDim, channels]), scale };
}

const largestOf = (t: ort.Tensor) => (t.data as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * The variant's feeds: the original's, with each layer's float cache replaced by its int8
 * channels-last codes and the four static scales. `probe`: the calibration copy's outputs on the
 * original's feeds; `added`: its extra outputs in order (each layer's scores, then each layer's
 * image context: dw8_probe.py's calibration_outputs).
 */
export function variantFeeds(original: Record<string, ort.Tensor>, probe: Record<string, ort.Tensor>, added: readonly string[], layers: number): Record<string, ort.Tensor> {
  const b: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(original)) if (!/^past_(key|value)_\d+$/.test(name)) b[name] = tensor;
  const scalar = (v: number) => new ort.Tensor('float32', new Float32Array([v || 1]), []);
  for (let l = 0; l < layers; l++) {
    const key = channelsLast(original[`past_key_${l}`]);
    const value = channelsLast(original[`past_value_${l}`]);
    b[`past_key8_${l}`] = key.codes;
    b[`past_value8_${l}`] = value.codes;
    b[`k_scale_${l}`] = scalar(key.scale);
    b[`v_scale_${l}`] = scalar(value.scale);
    b[`score_scale_${l}`] = scalar(largestOf(probe[added[l]]) / 127);
    b[`context_scale_${l}`] = scalar(largestOf(probe[added[layers + l]]) / 127);
  }
  return b;
}
