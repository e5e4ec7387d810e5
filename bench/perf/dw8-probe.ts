/**
 * An int8 KV cache read by depthwise convolutions, probed (issue 27): a decoder-only int8 step
 * graph and its variant from scripts/perf/dw8_probe.py (the self-attention cache int8,
 * channels-last [1, slots, headDim, rows*heads], read by com.microsoft.QLinearConv), run
 * alternately in one process on the same cache, with the app's session settings
 * (src/model/runtime.ts; a sampling lane runs one thread: TESSERA_THREADS=1).
 *
 * The variant's static scales come from the original on the same feeds (its calibration copy
 * reports each layer's score and image-context products): each cache's max |x| / 127, each
 * product's max |y| / 127. Printed per row count: the median ms per step of each, the ratio, and
 * the logits' agreement (argmax, cosine) on these synthetic caches; an int8 step graph amplifies
 * any change on random caches (docs/benchmarks.md, the float16 probe), so agreement here is a
 * sanity check, not the fidelity figure.
 *
 *   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/dw8_probe.py models/default/generator/step.int8.onnx \
 *     out/dw8/step.dw8.r64.onnx --rows 64 --calibration out/dw8/step.calib.onnx
 *   TESSERA_THREADS=1 node --import tsx bench/perf/dw8-probe.ts --graph models/default/generator/step.int8.onnx \
 *     --calibration out/dw8/step.calib.onnx --variant 64:out/dw8/step.dw8.r64.onnx --slots 48 --rounds 15
 */
import { parseArgs } from 'node:util';
import { createSession } from '../../src/model/runtime.js';
import { variantFeeds } from './dw8-feeds.js';
import { inputMetadata, logitAgreement, stepFeeds } from './probe-feeds.js';
import { cpuFlagsLine, machineLine, median, table } from './machine.js';

const { values } = parseArgs({
  options: {
    graph: { type: 'string' },
    calibration: { type: 'string' },
    variant: { type: 'string', multiple: true }, // ROWS:FILE
    slots: { type: 'string', default: '48' },
    vocab: { type: 'string', default: '1100' }, // the step graph's embedding rows (the shapes model: 76 text + 1,024 image)
    rounds: { type: 'string', default: '15' },
  },
});

async function main(): Promise<void> {
  const slots = Number(values.slots);
  const rounds = Number(values.rounds);
  console.log(machineLine());
  console.log(cpuFlagsLine());
  const original = await createSession(values.graph!, 'cpu');
  const calibration = await createSession(values.calibration!, 'cpu');
  const meta = inputMetadata(original);
  const layers = meta.filter((m) => /^past_key_\d+$/.test(m.name)).length;
  const rows: (string | number)[][] = [];
  for (const spec of values.variant ?? []) {
    const [rowText, file] = spec.split(':');
    const rowCount = Number(rowText);
    const variant = await createSession(file, 'cpu');
    const a = stepFeeds(meta, rowCount, slots, Number(values.vocab));
    // Static scales from the original on the same feeds: its score and image-context products, per layer.
    const added = calibration.outputNames.filter((n) => !original.outputNames.includes(n));
    const b = variantFeeds(a, await calibration.run(a), added, layers);
    const [outA, outB] = [await original.run(a), await variant.run(b)];
    const agreement = logitAgreement(outA.logits, outB.logits);
    const times = { a: [] as number[], b: [] as number[] };
    for (let round = 0; round < rounds + 2; round++) {
      for (const [session, feeds, list] of [[original, a, times.a], [variant, b, times.b]] as const) {
        const started = performance.now();
        await session.run(feeds);
        if (round >= 2) list.push(performance.now() - started);
      }
    }
    const [ma, mb] = [median(times.a), median(times.b)];
    rows.push([rowCount, slots, ma.toFixed(2), mb.toFixed(2), `**${(ma / mb).toFixed(2)}x**`, agreement.cosMin.toFixed(5), agreement.cosMean.toFixed(5), agreement.argmax]);
  }
  console.log(`\nthe int8 step on a float cache against the same step reading an int8 channels-last cache through depthwise QLinearConv (${layers} layers, medians of ${rounds} alternating rounds):`);
  console.log(table(['rows', 'slots', 'float cache ms', 'depthwise int8 cache ms', 'speed', 'logits cosine min', 'cosine mean', 'argmax agree'], rows));
  console.log(machineLine());
}

await main();
