/**
 * A float16 KV cache, probed at the graph level (issue 27): a step graph and its variant from
 * scripts/perf/kv16_probe.py (cache inputs float16, the attention products reading them
 * directly), run alternately in one process on the same synthetic feeds, with the app's own
 * session settings (src/model/runtime.ts). Prints per (rows, slots): the median ms per step of
 * each, the ratio, and the fidelity on those feeds (logits cosine per row, argmax agreement).
 *
 * Feeds: every cache slot valid (mask 1: the step's whole cache is read, as at the grid's end),
 * the cache filled with seeded normal values (std --std); the variant gets the same values
 * rounded to float16 (toHalf below: round to nearest even), everything else identical.
 * Caches over --budget-mb are shared between layers (layer l reads buffer l mod n): each
 * buffer stays larger than the CPU's caches, so the step still streams them from memory.
 *
 *   node --import tsx bench/perf/kv16-probe.ts --graph models/default/generator/step.int8.onnx \
 *     --variant out/kv16/shapes/step.int8.kv16.onnx --rows 64,256 --slots 64 [--rounds 9]
 *     [--dump-optimized out/kv16/optimized.onnx]   (counts the Casts onnxruntime inserted)
 *   node --import tsx bench/perf/kv16-probe.ts --micro out/kv16/micro   (one layer's products alone)
 *
 * Found with it (docs/benchmarks.md, 2026-12-05): onnxruntime-node 1.30's CPU provider has no
 * float16 MatMul (nor Softmax, MultiHeadAttention) on x86: it inserts Cast(float16 -> float32)
 * of the whole cache before each product, so the variant reads the cache and writes it again.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createSession, ort } from '../../src/model/runtime.js';
import { feedDims, inputMetadata, logitAgreement, seededNormals, type InputMeta } from './probe-feeds.js';
import { cpuFlagsLine, machineLine, median, table } from './machine.js';

const { values } = parseArgs({
  options: {
    graph: { type: 'string' },
    variant: { type: 'string' },
    rows: { type: 'string', default: '64' },
    slots: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '2' },
    std: { type: 'string', default: '1' },
    ids: { type: 'string', default: '1000' },
    'budget-mb': { type: 'string', default: '1300' },
    'dump-optimized': { type: 'string' },
    micro: { type: 'string' },
  },
});

const bits = new Float32Array(1);
const word = new Uint32Array(bits.buffer);
/** float32 -> float16 bits, round to nearest even (normals, subnormals, overflow to infinity, NaN kept). */
export function toHalf(x: number): number {
  bits[0] = x;
  const b = word[0];
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  const mantissa = b & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 112; // half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    const shift = 14 - e; // float16 subnormal: (mantissa | 1 << 23) / 2^shift units of 2^-24
    if (shift > 24) return sign;
    const full = mantissa | 0x800000;
    let h = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is right
  return sign | h;
}

/** float16 bits -> the number (exact). */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return mantissa !== 0 ? NaN : sign * Infinity;
  return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

const isCache = (name: string) => /^(past|cross)_(key|value)_\d+$/.test(name);

/** The original's feeds and the variant's (float16 where the variant's input is float16). */
function buildFeeds(original: InputMeta[], variant: InputMeta[], rows: number, slots: number) {
  const std = Number(values.std);
  const idRange = Number(values.ids);
  const caches = original.filter((m) => isCache(m.name));
  const elements = caches.map((m) => feedDims(m.shape, rows, slots, m.name).reduce((x, y) => x * y, 1));
  const halfNames = new Set(variant.filter((m) => m.type === 'float16').map((m) => m.name));
  const bytes = elements.reduce((sum, n, i) => sum + n * (halfNames.has(caches[i].name) ? 6 : 4), 0);
  const shareEvery = Math.max(1, Math.ceil(bytes / (Number(values['budget-mb']) * 1e6)));
  const pool = new Map<string, { full: Float32Array; half?: Uint16Array }>();
  const a: Record<string, ort.Tensor> = {};
  const b: Record<string, ort.Tensor> = {};
  for (const m of original) {
    const shape = feedDims(m.shape, rows, slots, m.name);
    const count = shape.reduce((x, y) => x * y, 1);
    if (m.type === 'int64') {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = BigInt(m.name === 'position_ids' ? slots - 1 : (i * 7919 + 13) % idRange); // [rows, 1]
      a[m.name] = b[m.name] = new ort.Tensor('int64', data, shape);
      continue;
    }
    if (m.type !== 'float32') throw new Error(`input ${m.name}: type ${m.type} not handled`);
    if (!isCache(m.name)) {
      a[m.name] = b[m.name] = new ort.Tensor('float32', new Float32Array(count).fill(1), shape); // masks [rows, slots] / [rows, text]: all valid
      continue;
    }
    const [, kind, layer] = /^(\w+_\w+)_(\d+)$/.exec(m.name) ?? [];
    const layers = caches.filter((c) => c.name.startsWith(`${kind}_`)).length;
    const key = `${kind}:${Number(layer) % Math.ceil(layers / shareEvery)}:${shape.join('x')}`;
    let entry = pool.get(key);
    if (!entry) {
      entry = { full: seededNormals(count, 1 + pool.size, std) };
      pool.set(key, entry);
    }
    a[m.name] = new ort.Tensor('float32', entry.full, shape); // [rows, heads, slots, headDim]
    if (halfNames.has(m.name)) {
      if (!entry.half) {
        entry.half = new Uint16Array(count);
        for (let i = 0; i < count; i++) entry.half[i] = toHalf(entry.full[i]);
      }
      b[m.name] = new ort.Tensor('float16', entry.half, shape); // same values, rounded to float16
    } else b[m.name] = a[m.name];
  }
  /** Overwrites the float32 caches with their float16-rounded values (in place: no second copy). */
  const roundInPlace = () => {
    for (const entry of pool.values()) if (entry.half) for (let i = 0; i < entry.half.length; i++) entry.full[i] = fromHalf(entry.half[i]);
  };
  return { a, b, roundInPlace, shareEvery, halfInputs: halfNames.size, cacheMB: Math.round(bytes / shareEvery / 1e6) };
}

/** --micro DIR: one layer's products alone (scripts/perf/kv16_probe.py --micro), interleaved, median ms. */
async function micro(folder: string): Promise<void> {
  const names = ['keys_f32', 'keys_f16', 'keys_i8', 'values_f32', 'values_f16', 'values_i8'];
  const sessions = await Promise.all(names.map((n) => createSession(`${folder}/${n}.onnx`, 'cpu')));
  const feeds = sessions.map((session) => {
    const feed: Record<string, ort.Tensor> = {};
    for (const m of inputMetadata(session)) {
      const shape = m.shape.map(Number);
      const n = shape.reduce((x, y) => x * y, 1);
      const ramp = (i: number) => ((i * 37) % 251) - 125;
      if (m.type === 'float32') feed[m.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => ramp(i) / 250), shape);
      else if (m.type === 'float16') feed[m.name] = new ort.Tensor('float16', Uint16Array.from({ length: n }, (_, i) => toHalf(ramp(i) / 250)), shape);
      else if (m.type === 'uint8') feed[m.name] = new ort.Tensor('uint8', Uint8Array.from({ length: n }, (_, i) => ramp(i) + 125), shape);
      else feed[m.name] = new ort.Tensor('int8', Int8Array.from({ length: n }, (_, i) => ramp(i)), shape);
    }
    return feed;
  });
  const times = names.map(() => [] as number[]);
  for (let round = 0; round < 5 + Number(values.rounds) * 3; round++) {
    for (let k = 0; k < names.length; k++) {
      const start = process.hrtime.bigint();
      await sessions[k].run(feeds[k]);
      if (round >= 5) times[k].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  const ms = times.map((t) => median(t));
  const shape = inputMetadata(sessions[0]).find((m) => m.name === 'cache')?.shape.join('x');
  console.log(table(['product (cache ' + shape + ')', 'f32 ms', 'f16 ms', 'int8 ms', 'f32 / f16', 'f32 / int8'], [0, 3].map((k) => [names[k].split('_')[0], ms[k].toFixed(3), ms[k + 1].toFixed(3), ms[k + 2].toFixed(3), (ms[k] / ms[k + 1]).toFixed(2), (ms[k] / ms[k + 2]).toFixed(2)])));
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(cpuFlagsLine());
  if (values.micro) return micro(values.micro);
  if (!values.graph || !values.variant) throw new Error('usage: --graph STEP.onnx --variant STEP.kv16.onnx [--rows 64,256] [--slots 64,128]');
  const original = await createSession(values.graph!, 'cpu');
  const variant = await createSession(values.variant!, 'cpu');
  console.log(`graph ${values.graph} | variant ${values.variant} (loads in onnxruntime-node)`);
  if (values['dump-optimized']) {
    // What onnxruntime made of the variant: a node without a float16 kernel on this execution
    // provider gets Cast nodes around it (InsertCastTransformer's InsertedPrecisionFreeCast_*),
    // i.e. the float16 cache is converted to float32 inside the graph after all.
    const file = values['dump-optimized'];
    await ort.InferenceSession.create(values.variant, { intraOpNumThreads: 1, graphOptimizationLevel: 'all', optimizedModelFilePath: file });
    const casts = new Set(readFileSync(file).toString('latin1').match(/InsertedPrecisionFreeCast_[\w./]+/g) ?? []);
    const onCache = [...casts].filter((name) => isCache(name.replace('InsertedPrecisionFreeCast_', '')));
    console.log(`optimized variant (${file}): ${casts.size} casts inserted by onnxruntime, ${onCache.length} of them on float16 cache inputs (${onCache.slice(0, 3).join(', ')}${onCache.length > 3 ? ', ...' : ''})`);
  }
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  const lines: (string | number)[][] = [];
  for (const slots of values.slots.split(',').map(Number)) {
    for (const rows of values.rows.split(',').map(Number)) {
      const { a, b, roundInPlace, shareEvery, halfInputs, cacheMB } = buildFeeds(inputMetadata(original), inputMetadata(variant), rows, slots);
      const runs = { a: [] as number[], b: [] as number[] };
      const once = async (which: 'a' | 'b') => {
        const start = process.hrtime.bigint();
        const out = await (which === 'a' ? original.run(a) : variant.run(b));
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        return { ms, logits: out.logits };
      };
      for (let i = 0; i < warmup; i++) {
        await once('a');
        await once('b');
      }
      const first = { a: (await once('a')).logits, b: (await once('b')).logits };
      for (let i = 0; i < rounds; i++) {
        for (const which of (i % 2 === 0 ? ['a', 'b'] : ['b', 'a']) as ('a' | 'b')[]) runs[which].push((await once(which)).ms);
      }
      const f = logitAgreement(first.a, first.b);
      // Which part of the difference is the storage (the cache's values rounded) and which the
      // float16 products: the original graph once more, on the rounded values.
      roundInPlace();
      const rounded = (await once('a')).logits;
      const storage = logitAgreement(first.a, rounded);
      const arithmetic = logitAgreement(rounded, first.b);
      const ma = median(runs.a);
      const mb = median(runs.b);
      lines.push([rows, slots, halfInputs, `${cacheMB}${shareEvery > 1 ? ` (layers share 1/${shareEvery})` : ''}`, ma.toFixed(2), mb.toFixed(2), `**${(ma / mb).toFixed(2)}x**`, f.cosMin.toFixed(6), f.cosMean.toFixed(6), f.argmax, `${storage.cosMin.toFixed(6)} / ${storage.argmax}`, `${arithmetic.cosMin.toFixed(6)} / ${arithmetic.argmax}`]);
      console.log(`rows ${rows} slots ${slots}: float32 cache ${ma.toFixed(2)} ms, float16 cache ${mb.toFixed(2)} ms (${(ma / mb).toFixed(2)}x), cosine min ${f.cosMin.toFixed(6)}, argmax ${f.argmax} | ${machineLine()}`);
    }
  }
  console.log(table(['rows', 'slots', 'f16 inputs', 'cache MB in memory', 'f32 cache ms', 'f16 cache ms', 'ratio', 'logits cosine min', 'cosine mean', 'argmax agree', 'rounding only: cos min / argmax', 'f16 products only: cos min / argmax'], lines));
  console.log(machineLine());
}

if (process.argv[1]?.endsWith('kv16-probe.ts')) await main();
