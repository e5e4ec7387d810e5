/**
 * The int8 KV cache's fidelity on real prefixes (issue 27; the int8 step graphs amplify any
 * change to their cache, so random caches say little: docs/benchmarks.md, the float16 probe).
 * scripts/perf/int8-gate.ts's comparison, three times, on the same prefixes (prompts of the
 * frozen eval set through the package's tokenizer, and the unconditional prefix), rows, steps
 * and seed: each generator keeps its own cache, so differences accumulate as they would in use.
 *   fp32 vs int8   the package's int8 variant against fp32 (its own gate, reproduced)
 *   fp32 vs kv8    the int8 variant on an int8 cache (scripts/perf/kv8_probe.py) against fp32: the gate it must pass
 *   int8 vs kv8    what the int8 cache alone changes
 * The kv8 generator is the package's own generator class on the int8 prefill and the variant
 * step graph, which it sees reads an int8 cache: it keeps Int8KvSlots (src/generator/kv-slots-int8.ts),
 * each entry quantized once when it is written.
 *
 *   node --import tsx bench/perf/kv8-fidelity.ts --package out/mini/package --variant out/kv8/mini/step.int8.kv8.onnx \
 *     [--rows 8] [--prefixes 4] [--steps 24] [--seed 27] [--pairs fp32-int8,fp32-kv8,int8-kv8]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ImageTokenGenerator } from '../../src/generator/generator.js';
import { readManifest } from '../../src/model/manifest.js';
import { compareGenerators, gatePrefixes, loadGenerator, type GateResult } from '../../scripts/perf/int8-gate.js';
import { cpuFlagsLine, machineLine, table } from './machine.js';

const { values } = parseArgs({
  options: {
    package: { type: 'string' },
    variant: { type: 'string' },
    rows: { type: 'string', default: '8' },
    prefixes: { type: 'string', default: '4' },
    steps: { type: 'string', default: '24' },
    seed: { type: 'string', default: '27' },
    pairs: { type: 'string', default: 'fp32-int8,fp32-kv8,int8-kv8' },
  },
});

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(cpuFlagsLine());
  if (!values.package || !values.variant) throw new Error('usage: --package DIR --variant STEP.kv8.onnx [--rows 8] [--prefixes 4] [--steps 24]');
  const dir = path.resolve(values.package);
  const manifest = readManifest(dir);
  const int8Files = manifest.variants?.int8?.generator;
  if (!int8Files) throw new Error(`${dir}: the manifest declares no int8 variant`);
  // Built on first use and kept: one Mini-shaped generator holds ~1-1.5 GB, so --pairs runs fewer at a time.
  const built = new Map<string, Promise<ImageTokenGenerator>>();
  // The kv8 generator is the package's own generator on the int8 prefill and the variant: it keeps Int8KvSlots (kv-slots-int8.ts).
  const build = async (name: string): Promise<ImageTokenGenerator> =>
    loadGenerator(dir, manifest, name === 'fp32' ? undefined : name === 'int8' ? int8Files : { prefill: int8Files.prefill, step: path.relative(dir, path.resolve(values.variant!)) });
  const generator = (name: string) => {
    if (!built.has(name)) built.set(name, build(name));
    return built.get(name)!;
  };
  const prefixes = gatePrefixes(dir, manifest, Number(values.prefixes));
  const options = { rows: Number(values.rows), steps: Number(values.steps), seed: Number(values.seed) };
  const results: [string, GateResult][] = [];
  for (const pair of values.pairs.split(',')) {
    const [first, second] = pair.split('-');
    const [a, b] = [await generator(first), await generator(second)];
    const name = `${first} vs ${second}`;
    const started = performance.now();
    const result = await compareGenerators(a, b, prefixes, options);
    results.push([name, result]);
    console.log(`${name} (${((performance.now() - started) / 1000).toFixed(1)} s): ${JSON.stringify(result)}`);
  }
  const f = (x: number, digits = 4) => x.toFixed(digits);
  console.log(`${manifest.architecture} package ${dir}, variant ${values.variant}; ${options.rows} rows over ${prefixes.length} prefixes, ${results[0][1].steps} steps, seed ${options.seed}`);
  console.log(
    table(
      ['pair', 'prefill top-1', 'step top-1', 'first tenth', 'last tenth', 'step cosine mean', 'step cosine min', 'max rel. diff'],
      results.map(([name, r]) => [name, f(r.prefillTop1, 3), `**${f(r.stepTop1, 3)}**`, f(r.firstStepTop1, 3), f(r.lastStepTop1, 3), `**${f(r.stepCosineMean, 5)}**`, f(r.stepCosineMin, 5), f(r.maxRelativeDifference, 4)]),
    ),
  );
  console.log(machineLine());
}

await main();
