/**
 * A fused attention over an int8 KV cache, probed (issue 27): one layer's attention for one new
 * token per row, written four ways by scripts/perf/gqa_probe.py (the step graphs' own float form,
 * and onnxruntime's com.microsoft.GroupQueryAttention over a float32 cache and over an int8 one,
 * per tensor and per channel), run alternately in one process on the same seeded caches, with
 * the app's session settings (src/model/runtime.ts; a sampling lane runs one thread: --threads 1).
 *
 * Every row attends to `slots` cached entries: the float form reads exactly those, GroupQueryAttention
 * reads them from a cache of --max-slots (seqlens_k = slots - 1: slots - 1 cached, the new token
 * appended in place; its present outputs are bound to the past buffers, so no cache is copied).
 * The int8 caches hold the float cache quantized with one scale (per tensor) or one per channel, so
 * the contexts can be compared: the largest difference to the float form is printed beside the
 * times (int8 rounding only; a wrong reading of the layout would be of the order of the values).
 *
 *   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/gqa_probe.py --out out/gqa
 *   node --import tsx bench/perf/gqa-probe.ts --dir out/gqa --rows 64,256 --slots 48 --threads 1
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { collectOutputsNow } from '../../src/model/output-memory.js';
import { createSession, type ort } from '../../src/model/runtime.js';
import { feedsFor, FORMS, type Form, type Layer } from './gqa-feeds.js';
import { seededUniform } from './probe-feeds.js';
import { cpuFlagsLine, machineLine, median, table } from './machine.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: 'out/gqa' },
    rows: { type: 'string', default: '64,256' },
    slots: { type: 'string', default: '48' },
    'max-slots': { type: 'string', default: '80' },
    heads: { type: 'string', default: '8' },
    'head-dim': { type: 'string', default: '32' },
    threads: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '15' },
  },
});

async function main(): Promise<void> {
  const heads = Number(values.heads);
  const headDim = Number(values['head-dim']);
  const maxSlots = Number(values['max-slots']);
  const slots = Number(values.slots);
  const rounds = Number(values.rounds);
  const threads = Number(values.threads);
  console.log(machineLine());
  console.log(cpuFlagsLine());
  const sessions = new Map<Form, ort.InferenceSession>();
  for (const form of FORMS) sessions.set(form, await createSession(join(values.dir!, `${form}.onnx`), 'cpu', undefined, { intraOpNumThreads: threads }));
  const rows: (string | number)[][] = [];
  for (const rowCount of values.rows!.split(',').map(Number)) {
    const layer: Layer = { keys: seededUniform(rowCount * heads * slots * headDim, 1), values: seededUniform(rowCount * heads * slots * headDim, 2), query: seededUniform(rowCount * heads * headDim, 3).map((x) => x * 0.5) };
    const runs = new Map(FORMS.map((form) => [form, feedsFor(form, layer, rowCount, heads, slots, maxSlots, headDim)]));
    // The float form's context, [rows, heads, 1, headDim], is the reference (the same floats as [rows, 1, heads*headDim]).
    const reference = (await sessions.get('float')!.run(runs.get('float')!.feeds)).context.data as Float32Array;
    const times = new Map(FORMS.map((form) => [form, [] as number[]]));
    const differences = new Map<Form, number>();
    for (let round = 0; round < rounds + 2; round++) {
      for (const form of FORMS) {
        // GroupQueryAttention writes the new token into its cache in place: its feeds are rebuilt each round, so every run is alike.
        const run = round === 0 || form === 'float' ? runs.get(form)! : feedsFor(form, layer, rowCount, heads, slots, maxSlots, headDim);
        collectOutputsNow();
        const started = performance.now();
        const out = run.fetches ? await sessions.get(form)!.run(run.feeds, run.fetches) : await sessions.get(form)!.run(run.feeds);
        const ms = performance.now() - started;
        if (round >= 2) times.get(form)!.push(ms);
        const context = out.context.data as Float32Array;
        let largest = 0;
        for (let i = 0; i < reference.length; i++) largest = Math.max(largest, Math.abs(context[i] - reference[i]));
        differences.set(form, largest);
      }
    }
    const base = median(times.get('float')!);
    for (const form of FORMS) {
      const ms = median(times.get(form)!);
      rows.push([form, rowCount, slots, ms.toFixed(3), (base / ms).toFixed(2), differences.get(form)!.toExponential(1)]);
    }
  }
  console.log(`\none layer's attention, ${heads} heads of ${headDim}, one new token per row, ${threads} thread(s), medians of ${rounds} alternating rounds:`);
  console.log(table(['form', 'rows', 'slots', 'ms', 'speed vs float', 'max |context - float|'], rows));
  console.log(machineLine());
}

await main();
