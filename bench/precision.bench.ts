/**
 * What `--precision auto` costs and whether its probe picks the faster precision (issue 27).
 *
 *   node --import tsx bench/precision.bench.ts --model DIR [--rows 8,64,512] [--pairs 20]
 *
 * DIR must hold a package with `variants.int8`. Per row count: the load time at fp32
 * (no probe), at auto with an empty cache (the probe runs: both generators load and a
 * few paired steps are timed), and at auto again (the cached decision); then a longer
 * paired A/B of the same step (`--pairs` alternating pairs, the decision figure's
 * ground truth) and whether the probe chose the precision the long run found faster. The
 * probe is "wrong at a cost" when it chose a precision the long run measured more than 3%
 * slower (issue 27's bound for a CPU without VNNI). Prints the CPU model and its VNNI/AMX
 * flags first.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/pipeline/loader.js';
import { probeSteps } from '../src/pipeline/precision.js';
import { measurePrecisions } from '../src/model/precision.js';
import { cpuFlagsLine, machineLine, table } from './perf/machine.js';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'tessera-precision-bench-'));

const { values } = parseArgs({ options: { model: { type: 'string' }, rows: { type: 'string', default: '8,64,512' }, pairs: { type: 'string', default: '20' } } });
if (values.model === undefined) throw new Error('--model DIR (a package with variants.int8) is required');
const model = values.model;
const rowCounts = values.rows.split(',').map(Number);
const longPairs = Number(values.pairs);

console.log(machineLine());
console.log(cpuFlagsLine());

/** Wall and CPU time (all threads of the process: on a loaded machine CPU time says more than wall time). */
async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const value = await run();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000, value };
}

const rows: (string | number)[][] = [];
for (const count of rowCounts) {
  const cache = tempDir();
  const fp32 = await timed(() => loadModel({ model, rerank: false, precision: 'fp32', verify: false }));
  const measured = await timed(() => loadModel({ model, rerank: false, precisionRows: count, verify: false, probe: { cacheDir: cache } }));
  const cached = await timed(() => loadModel({ model, rerank: false, precisionRows: count, verify: false, probe: { cacheDir: cache } }));
  const int8 = await loadModel({ model, rerank: false, precision: 'int8', verify: false });
  const report = measured.value.precision;
  if (report.probe === undefined) throw new Error(`auto did not measure: ${report.detail}`);
  const bucket = report.probe.rows;
  const ids = fp32.value.manifest.text.unconditionalIds;
  const long = await measurePrecisions((await probeSteps({ fp32: fp32.value.generator, int8: int8.generator }, ids, bucket)).steps, bucket, undefined, longPairs, Infinity);
  const faster = long.ratio < 1 ? 'int8' : 'fp32';
  // What choosing `report.precision` costs against the faster one, by the long run's median paired ratio.
  const loss = report.precision === 'int8' ? Math.max(0, long.ratio - 1) : Math.max(0, 1 / long.ratio - 1);
  rows.push([
    count,
    bucket,
    fp32.ms.toFixed(0),
    measured.ms.toFixed(0),
    `${(measured.ms - fp32.ms).toFixed(0)} (cpu ${(measured.cpuMs - fp32.cpuMs).toFixed(0)})`,
    cached.ms.toFixed(0),
    `${report.precision} (${report.probe.ratio.toFixed(3)})`,
    `${long.fp32Ms.toFixed(2)} / ${long.int8Ms.toFixed(2)} (${long.ratio.toFixed(3)})`,
    faster,
    `${(loss * 100).toFixed(1)}%${loss > 0.03 ? ' WRONG' : ''}`,
  ]);
}
console.log(
  table(
    ['rows', 'bucket', 'load fp32 ms', 'load auto (probe) ms', 'probe cost ms (cpu ms)', 'load auto (cached) ms', 'auto chose (probe ratio)', `long run fp32 / int8 ms (${longPairs} pairs)`, 'faster', 'cost of choice'],
    rows,
  ),
);
