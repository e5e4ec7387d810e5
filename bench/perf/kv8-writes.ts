/**
 * What writing a step's new entries costs, float cache against int8 cache (issue 27,
 * docs/benchmarks.md "An int8 KV cache"): KvSlots.writeStep (a copy) against
 * Int8KvSlots.writeStep (quantizing each entry in JavaScript), interleaved, median ms, at a
 * Mini-shaped cache (12 layers, 16 heads, head size 64) by default.
 *
 *   node --import tsx bench/perf/kv8-writes.ts [--rows 32,64] [--layers 12] [--heads 16] [--head-dim 64]
 */
import { parseArgs } from 'node:util';
import { Int8KvSlots } from '../../src/generator/kv-slots-int8.js';
import { KvSlots } from '../../src/generator/kv-slots.js';
import { cpuFlagsLine, machineLine, median, table } from './machine.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '32,64' },
    layers: { type: 'string', default: '12' },
    heads: { type: 'string', default: '16' },
    'head-dim': { type: 'string', default: '64' },
    rounds: { type: 'string', default: '41' },
  },
});

console.log(machineLine());
console.log(cpuFlagsLine());
const shape = { layers: Number(values.layers), heads: Number(values.heads), slots: 256, headDim: Number(values['head-dim']) };
const lines: string[][] = [];
for (const rows of values.rows.split(',').map(Number)) {
  const layout = { keys: 'plain' as const, slots: 'filled' as const };
  const [float, int8] = [new KvSlots(shape, rows, layout, 128), new Int8KvSlots(shape, rows, layout, 128)];
  const entries = Float32Array.from({ length: shape.layers * rows * shape.heads * shape.headDim }, (_, i) => Math.sin(i * 0.37)); // [L, R, H, 1, D]
  const times = { float: [] as number[], int8: [] as number[] };
  for (let i = 0; i < Number(values.rounds); i++) {
    const positions = new Int32Array(rows).fill(60 + (i % 60)); // [R]
    let start = performance.now();
    float.writeStep(entries, entries, positions);
    if (i >= 5) times.float.push(performance.now() - start);
    start = performance.now();
    int8.writeStep(entries, entries, positions);
    if (i >= 5) times.int8.push(performance.now() - start);
  }
  const [f, q] = [median(times.float), median(times.int8)];
  lines.push([String(rows), f.toFixed(2), q.toFixed(2), `+${(q - f).toFixed(2)}`]);
}
console.log(table(['rows', 'KvSlots.writeStep ms (copy)', 'Int8KvSlots.writeStep ms (quantize)', 'difference ms'], lines));
console.log(machineLine());
