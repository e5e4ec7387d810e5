/**
 * What the graph-level probes share (kv16-probe.ts, kv8-probe.ts, cross-prefixes.ts, gqa-probe.ts,
 * dw8-probe.ts): seeded feeds, the step graph's input metadata with its named dimensions
 * resolved, and how far two logit tensors agree.
 */
import { ort } from '../../src/model/runtime.js';

/** Seeded values in [-1, 1) (a linear congruential generator: the same caches on every run). */
export function seededUniform(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** Seeded normal values (mulberry32 + Box-Muller), so both graphs and every run see the same cache. */
export function seededNormals(count: number, seed: number, std = 1): Float32Array {
  const out = new Float32Array(count);
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < count; i += 2) {
    const r = std * Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = r * Math.sin(angle);
  }
  return out;
}

export type InputMeta = { name: string; type: string; shape: readonly (number | string)[] };

export const inputMetadata = (session: ort.InferenceSession): InputMeta[] =>
  session.inputMetadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: '?', shape: [] }));

/** An input's shape with its 'rows' and 'slots' dimensions given ('prefixes': one text prefix, a one-prompt request's). */
export function feedDims(shape: readonly (number | string)[], rows: number, slots: number, name: string): number[] {
  return shape.map((d) => {
    if (typeof d === 'number' && d > 0) return d;
    if (d === 'rows') return rows;
    if (d === 'slots') return slots;
    if (d === 'prefixes') return 1;
    throw new Error(`input ${name}: dimension ${JSON.stringify(d)} is not rows, slots, prefixes or a number`);
  });
}

/**
 * A step graph's synthetic feeds: `rows` rows of ids from the upper half of a `vocab`-entry
 * embedding, `slots` valid cached entries per row (masks all 1), every float input (caches, a
 * text prefix) seeded in [-1, 1).
 */
export function stepFeeds(meta: readonly InputMeta[], rows: number, slots: number, vocab: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  let seed = 1;
  for (const m of meta) {
    const dims = feedDims(m.shape, rows, slots, m.name);
    const count = dims.reduce((a, b) => a * b, 1);
    if (m.type === 'int64') {
      feeds[m.name] = new ort.Tensor('int64', BigInt64Array.from({ length: count }, (_, i) => BigInt(m.name === 'position_ids' ? slots : vocab - 1 - ((i * 7919) % Math.ceil(vocab / 2)))), dims);
    } else if (/mask/.test(m.name)) {
      feeds[m.name] = new ort.Tensor('float32', new Float32Array(count).fill(1), dims); // every slot valid
    } else {
      feeds[m.name] = new ort.Tensor('float32', seededUniform(count, seed++), dims);
    }
  }
  return feeds;
}

/** Per row of two [rows, vocab] logit tensors: the least and mean cosine, and on how many rows the argmax agrees. */
export function logitAgreement(x: ort.Tensor, y: ort.Tensor): { cosMin: number; cosMean: number; argmax: string } {
  const [rows, vocab] = x.dims as number[];
  const p = x.data as Float32Array; // [rows, vocab]
  const q = y.data as Float32Array; // [rows, vocab]
  let cosMin = 1;
  let cosSum = 0;
  let agree = 0;
  for (let r = 0; r < rows; r++) {
    let [dot, pp, qq, ia, ib] = [0, 0, 0, 0, 0];
    for (let v = 0; v < vocab; v++) {
      const s = p[r * vocab + v];
      const t = q[r * vocab + v];
      dot += s * t;
      pp += s * s;
      qq += t * t;
      if (s > p[r * vocab + ia]) ia = v;
      if (t > q[r * vocab + ib]) ib = v;
    }
    const cos = dot / Math.sqrt(pp * qq);
    cosMin = Math.min(cosMin, cos);
    cosSum += cos;
    if (ia === ib) agree++;
  }
  return { cosMin, cosMean: cosSum / rows, argmax: `${agree}/${rows}` };
}
