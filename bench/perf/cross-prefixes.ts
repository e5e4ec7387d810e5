/**
 * Cross keys/values per prefix against per row (issue 27: the rest of the step), at the graph
 * level: an encoder-decoder package's step graph as min_dalle.py exports it, and the same
 * graph rewritten by scripts/convert/cross_prefixes.py, run alternately in one process with
 * the app's session settings. The rows are a guided request's: R/2 rows of one text and R/2
 * of another (the empty text), so the original is fed [R, H, D, T] cross keys/values (each
 * text's copied to its rows, as Tessera fed them before) and the rewritten one [2, H, D, T].
 * Every self-attention slot is valid (mask 1), seeded normal values. Prints the median ms per
 * step of each, the ratio, the bytes of cross feeds, and the largest logit difference.
 *
 *   node --import tsx bench/perf/cross-prefixes.ts --rows-package out/mini/package \
 *     --prefixes-package out/s4/mini-x [--graph generator/step.int8.onnx] --rows 64 --slots 128 [--rounds 9]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readdirSync } from 'node:fs';
import { createSession, ort, sessionOptions } from '../../src/model/runtime.js';
import { logitAgreement, seededNormals } from './probe-feeds.js';
import { cpuFlagsLine, machineLine, median, table } from './machine.js';

const { values } = parseArgs({
  options: {
    'rows-package': { type: 'string' },
    'prefixes-package': { type: 'string' },
    graph: { type: 'string', default: 'generator/step.onnx' },
    rows: { type: 'string', default: '64' },
    slots: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '9' },
    /** Also profile both sessions (onnxruntime's per-node times) into this folder and print the top ops. */
    profile: { type: 'string' },
  },
});

const manifest = JSON.parse(readFileSync(join(values['rows-package']!, 'manifest.json'), 'utf8'));
const { layers, heads, headDim } = manifest.generator;
const textLength: number = manifest.text.length;
const rows = Number(values.rows);
const slots = Number(values.slots);
const rounds = Number(values.rounds);
const group = rows / 2;
const block = heads * headDim * textLength;

const common: Record<string, ort.Tensor> = {
  input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: rows }, (_, r) => BigInt((r * 7919) % 16384)), [rows, 1]),
  position_ids: new ort.Tensor('int64', new BigInt64Array(rows).fill(BigInt(slots)), [rows, 1]),
  attention_mask: new ort.Tensor('float32', new Float32Array(rows * slots).fill(1), [rows, slots]),
};
for (let l = 0; l < layers; l++) {
  common[`past_key_${l}`] = new ort.Tensor('float32', seededNormals(rows * heads * slots * headDim, 11 + l), [rows, heads, slots, headDim]);
  common[`past_value_${l}`] = new ort.Tensor('float32', seededNormals(rows * heads * slots * headDim, 101 + l), [rows, heads, slots, headDim]);
}
const masks = [new Float32Array(textLength).fill(1), Float32Array.from({ length: textLength }, (_, t) => (t < 2 ? 1 : 0))]; // prompt, empty text
const perPrefix: Record<string, ort.Tensor> = { text_mask: new ort.Tensor('float32', Float32Array.from([...masks[0], ...masks[1]]), [2, textLength]) };
const perRow: Record<string, ort.Tensor> = { text_mask: new ort.Tensor('float32', Float32Array.from({ length: rows * textLength }, (_, i) => masks[Math.floor(i / textLength) < group ? 0 : 1][i % textLength]), [rows, textLength]) };
for (let l = 0; l < layers; l++) {
  for (const [name, seed, dims] of [[`cross_key_${l}`, 1000 + l, [heads, headDim, textLength]], [`cross_value_${l}`, 2000 + l, [heads, textLength, headDim]]] as const) {
    const two = seededNormals(2 * block, seed); // [2, ...]
    perPrefix[name] = new ort.Tensor('float32', two, [2, ...dims]);
    const each = new Float32Array(rows * block); // [R, ...]
    for (let r = 0; r < rows; r++) each.set(two.subarray((r < group ? 0 : 1) * block, (r < group ? 1 : 2) * block), r * block);
    perRow[name] = new ort.Tensor('float32', each, [rows, ...dims]);
  }
}

const session = (dir: string, prefix: string) =>
  values.profile === undefined ? createSession(join(dir, values.graph!), 'cpu') : ort.InferenceSession.create(join(dir, values.graph!), { ...sessionOptions('cpu'), enableProfiling: true, profileFilePrefix: join(values.profile, prefix) });
const original = await session(values['rows-package']!, 'per-row');
const rewritten = await session(values['prefixes-package']!, 'per-prefix');
const runs = { original: [] as number[], rewritten: [] as number[], originalCpu: [] as number[], rewrittenCpu: [] as number[] };
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};
let maxDiff = 0;
let agreement = { cosMin: 1, cosMean: 1, argmax: '' };
for (let round = -1; round < rounds; round++) {
  const [t0, c0] = [performance.now(), process.cpuUsage()];
  const a = await original.run({ ...common, ...perRow });
  const [t1, c1] = [performance.now(), process.cpuUsage()];
  const b = await rewritten.run({ ...common, ...perPrefix });
  const t2 = performance.now();
  const [cpuA, cpuB] = [(c1.user + c1.system - c0.user - c0.system) / 1000, cpuMs(c1)];
  if (round < 0) {
    const [x, y] = [a.logits.data as Float32Array, b.logits.data as Float32Array]; // [R, V]
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
    agreement = logitAgreement(a.logits, b.logits);
    continue; // the first round warms both up
  }
  runs.original.push(t1 - t0);
  runs.rewritten.push(t2 - t1);
  runs.originalCpu.push(cpuA);
  runs.rewrittenCpu.push(cpuB);
}
const [o, w] = [median(runs.original), median(runs.rewritten)];
const [oc, wc] = [median(runs.originalCpu), median(runs.rewrittenCpu)];
console.log(machineLine());
console.log(cpuFlagsLine());
console.log(`${values.graph}, ${rows} rows (2 texts) x ${slots} slots, ${rounds} alternating rounds, median wall and CPU ms per step:`);
console.log(
  table(
    ['cross fed', 'cross MB a step', 'wall ms', 'speed-up', 'CPU ms', 'CPU speed-up', 'max |logit diff|', 'argmax agrees', 'cosine min'],
    [
      ['per row', ((2 * layers * rows * block * 4) / 1e6).toFixed(1), o.toFixed(2), '1.00x', oc.toFixed(1), '1.00x', '-', '-', '-'],
      ['per prefix', ((2 * layers * 2 * block * 4) / 1e6).toFixed(1), w.toFixed(2), `${(o / w).toFixed(2)}x`, wc.toFixed(1), `${(oc / wc).toFixed(2)}x`, maxDiff.toExponential(2), agreement.argmax, agreement.cosMin.toFixed(6)],
    ],
  ),
);

/** The top operators of a profile, in ms per run. */
function topOps(prefix: string, runsCounted: number): string {
  const file = readdirSync(values.profile!).filter((n) => n.startsWith(`${prefix}_`) && n.endsWith('.json')).sort().pop()!;
  const events = JSON.parse(readFileSync(join(values.profile!, file), 'utf8')) as { cat: string; name: string; dur: number; args: { op_name?: string } }[];
  const byOp = new Map<string, number>();
  for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) byOp.set(e.args.op_name!, (byOp.get(e.args.op_name!) ?? 0) + e.dur);
  return [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([op, us]) => `  ${op.padEnd(28)} ${(us / runsCounted / 1000).toFixed(2)} ms`).join('\n');
}
if (values.profile !== undefined) {
  original.endProfiling();
  rewritten.endProfiling();
  console.log(`per row, onnxruntime profile:\n${topOps('per-row', rounds + 1)}\nper prefix:\n${topOps('per-prefix', rounds + 1)}`);
}
