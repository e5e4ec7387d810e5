/**
 * An int8 KV cache, probed at the graph level (issue 27): a step graph and its variant from
 * scripts/perf/kv8_probe.py (cache inputs u8/s8 with a float scale per row, head and slot,
 * read by MatMulInteger), run alternately in one process on the same seeded feeds, with the
 * app's own session settings (src/model/runtime.ts). Prints per (rows, slots) the median ms
 * per step of each and the ratio. The logits' agreement on these random caches is printed too,
 * but it is not the fidelity figure: the int8 step graphs amplify any change to a random cache
 * (docs/benchmarks.md, the float16 probe); bench/perf/kv8-fidelity.ts measures on real prefixes.
 *
 * Feeds: every slot valid (mask 1: the whole cache is read), the float cache seeded normal
 * (std --std); the variant gets the same values quantized (kv8-quant.ts), each layer its own
 * int8 buffers. Float caches over --budget-mb are shared between layers (layer l reads buffer
 * l mod n; each stays far larger than the CPU's caches, so the step still streams it).
 *
 *   node --import tsx bench/perf/kv8-probe.ts --graph models/default/generator/step.int8.onnx \
 *     --variant out/kv8/shapes/step.int8.kv8.onnx --rows 64,256 --slots 64 [--rounds 9]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createSession, ort } from '../../src/model/runtime.js';
import { int8Feeds, type Int8KeyLayout, keyLayoutOf } from './kv8-quant.js';
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
  },
});

/** Busy CPU ms of the whole machine so far (/proc/stat, all cores; 0 where there is none). */
function machineBusyMs(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number); // user nice system idle iowait irq softirq steal
    const busy = fields.reduce((a, b) => a + b, 0) - fields[3] - fields[4];
    return (busy * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

const isPast = (name: string) => /^past_(key|value)_\d+$/.test(name);

/** The original's feeds (float cache) and the variant's (the same cache quantized, per layer). */
function buildFeeds(original: InputMeta[], int8: Set<string>, rows: number, slots: number, keys: Int8KeyLayout) {
  const pasts = original.filter((m) => isPast(m.name));
  const bytes = pasts.reduce((sum, m) => sum + 4 * feedDims(m.shape, rows, slots, m.name).reduce((x, y) => x * y, 1), 0);
  const shareEvery = Math.max(1, Math.ceil(bytes / (Number(values['budget-mb']) * 1e6)));
  const pool = new Map<string, Float32Array>();
  const a: Record<string, ort.Tensor> = {};
  const b: Record<string, ort.Tensor> = {};
  let seed = 1;
  for (const m of original) {
    const shape = feedDims(m.shape, rows, slots, m.name);
    const count = shape.reduce((x, y) => x * y, 1);
    if (m.type === 'int64') {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = BigInt(m.name === 'position_ids' ? slots - 1 : (i * 7919 + 13) % Number(values.ids)); // [rows, 1]
      a[m.name] = b[m.name] = new ort.Tensor('int64', data, shape);
      continue;
    }
    if (m.type !== 'float32') throw new Error(`input ${m.name}: type ${m.type} not handled`);
    if (!isPast(m.name)) {
      // Masks [rows, slots] / [rows, text]: all valid; cross keys/values (encoder-decoder) seeded normal, shared by both graphs.
      a[m.name] = b[m.name] = new ort.Tensor('float32', m.name.endsWith('mask') ? new Float32Array(count).fill(1) : seededNormals(count, 1000 + seed++, Number(values.std)), shape);
      if (int8.has(m.name)) Object.assign(b, int8Feeds(m.name, a[m.name], keys)); // cross keys/values, with --cross
      continue;
    }
    const [, kind, layer] = /^(past_\w+)_(\d+)$/.exec(m.name) ?? [];
    const layers = pasts.length / 2;
    const key = `${kind}:${Number(layer) % Math.ceil(layers / shareEvery)}`;
    let full = pool.get(key);
    if (!full) pool.set(key, (full = seededNormals(count, seed++, Number(values.std))));
    a[m.name] = new ort.Tensor('float32', full, shape); // [rows, heads, slots, headDim]
    if (int8.has(m.name)) Object.assign(b, int8Feeds(m.name, a[m.name], keys)); // s8 keys [R, H, D, S] (u8 [R, H, S, D] plain) / s8 values + scales [R, H, S]
    else b[m.name] = a[m.name]; // --only-cross: the self cache stays float
  }
  return { a, b, shareEvery, floatMB: Math.round(bytes / shareEvery / 1e6), int8MB: Math.round(bytes / 4 / 1e6) };
}

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(cpuFlagsLine());
  if (!values.graph || !values.variant) throw new Error('usage: --graph STEP.onnx --variant STEP.kv8.onnx [--rows 64,256] [--slots 64,128]');
  const original = await createSession(values.graph, 'cpu');
  const variant = await createSession(values.variant, 'cpu');
  console.log(`graph ${values.graph} | variant ${values.variant} (loads in onnxruntime-node; int8 keys ${keyLayoutOf(variant)})`);
  const lines: (string | number)[][] = [];
  for (const slots of values.slots.split(',').map(Number)) {
    for (const rows of values.rows.split(',').map(Number)) {
      const { a, b, shareEvery, floatMB, int8MB } = buildFeeds(inputMetadata(original), new Set(inputMetadata(variant).filter((m) => m.type === 'int8' || m.type === 'uint8').map((m) => m.name)), rows, slots, keyLayoutOf(variant));
      const runs = { a: [] as number[], b: [] as number[] };
      const cpu = { a: [] as number[], b: [] as number[] };
      // Process CPU time too (both onnxruntime threads): steadier than wall time when other work shares the cores.
      const once = async (which: 'a' | 'b') => {
        const start = process.hrtime.bigint();
        const used = process.cpuUsage();
        const out = await (which === 'a' ? original.run(a) : variant.run(b));
        const { user, system } = process.cpuUsage(used);
        return { ms: Number(process.hrtime.bigint() - start) / 1e6, cpuMs: (user + system) / 1e3, logits: out.logits };
      };
      for (let i = 0; i < Number(values.warmup); i++) {
        await once('a');
        await once('b');
      }
      const first = logitAgreement((await once('a')).logits, (await once('b')).logits);
      // What other processes ran meanwhile: the machine's busy CPU time less this process's, per wall second.
      const [busy0, own0, wall0] = [machineBusyMs(), process.cpuUsage(), performance.now()];
      for (let i = 0; i < Number(values.rounds); i++) {
        for (const which of (i % 2 === 0 ? ['a', 'b'] : ['b', 'a']) as ('a' | 'b')[]) {
          const { ms, cpuMs } = await once(which);
          runs[which].push(ms);
          cpu[which].push(cpuMs);
        }
      }
      const ownMs = (process.cpuUsage(own0).user + process.cpuUsage(own0).system) / 1e3;
      const others = Math.max(0, (machineBusyMs() - busy0 - ownMs) / (performance.now() - wall0));
      const [ma, mb, ca, cb] = [median(runs.a), median(runs.b), median(cpu.a), median(cpu.b)];
      lines.push([rows, slots, `${floatMB}${shareEvery > 1 ? ` (layers share 1/${shareEvery})` : ''}`, int8MB, ma.toFixed(2), mb.toFixed(2), `**${(ma / mb).toFixed(2)}x**`, `${ca.toFixed(1)} / ${cb.toFixed(1)} (${(ca / cb).toFixed(2)}x)`, others.toFixed(2), first.cosMin.toFixed(5), first.argmax]);
      console.log(`rows ${rows} slots ${slots}: float32 cache ${ma.toFixed(2)} ms, int8 cache ${mb.toFixed(2)} ms (${(ma / mb).toFixed(2)}x) | ${machineLine()}`);
    }
  }
  console.log(table(['rows', 'slots', 'f32 cache MB', 'int8 cache MB', 'f32 cache ms', 'int8 cache ms', 'ratio', 'CPU ms f32 / int8 (ratio)', 'other processes, cores busy', 'random-cache cos min', 'random-cache argmax'], lines));
  console.log(machineLine());
}

if (process.argv[1]?.endsWith('kv8-probe.ts')) await main();
