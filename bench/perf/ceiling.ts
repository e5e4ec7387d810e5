/**
 * The hardware ceiling of one decode step, built from the model's own matrix shapes
 * (issue 12), beside what Tessera achieves in the same run:
 *  - compute: every weight GEMM of the step graph (scripts/perf/gemm_graphs.py) timed alone
 *    in onnxruntime at the step's row count; their summed time is the fastest this runtime
 *    does the step's matrix work (attention's own products are added at the measured rate);
 *  - memory: the bytes a step must read (the weights once, and the filled part of the KV
 *    cache: on average text + half the image slots) at the measured copy bandwidth.
 * Ceiling time = max(compute, memory); ratio = ceiling time / achieved step time.
 *
 * Per precision (issue 27): with the package's int8 variant, the same rounds also time the
 * products as the variant runs them (gemm_graphs.py --precision int8: DynamicQuantizeLinear +
 * MatMulInteger + scale, at the same shapes) and Tessera's int8 step; the int8 ceiling is
 * built from that measured int8 rate and a quarter of the product weights' bytes. Achieved
 * rates count the same operations for both ("GOP/s": multiply-adds x 2, float or integer).
 *
 * A product's time is its kernels' time in onnxruntime's own profile, not the wall time of
 * its run: run alone, each product also paid what onnxruntime-node spends around a run
 * (its input and output copied between JavaScript and onnxruntime: 0.14-0.19 ms a run at
 * 512 rows, ~30% of the int8 products' wall time, about half at 64 rows), which a
 * step pays once for all its products, not once per product (2026-12-06; until then the
 * ceiling held 25 such overheads, one per product, and was too easy: docs/benchmarks.md, "The ceiling's
 * products by their kernels"). The runs' wall time, profiler on, is still printed ('GEMM run ms').
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectOutputsNow } from '../../src/model/output-memory.js';
import { ort, sessionOptions } from '../../src/model/runtime.js';
import { laneParts } from '../../src/pipeline/lanes.js';
import type { Tessera } from '../../src/pipeline/tessera.js';
import type { Device } from '../../src/types.js';
import { median, runPython, table } from './machine.js';

interface GemmList {
  weightBytes: number;
  gatheredBytesPerRow: number;
  gemms: { file: string; k: number; n: number; count: number }[];
}

/** Runs timeRun makes untimed, then timed, per call. */
const WARM_RUNS = 3;
const TIMED_RUNS = 5;

/**
 * Median wall and process CPU time of one run (CPU time: what other jobs on the machine disturb
 * least). A minor collection before every run, untimed: onnxruntime-node copies each output into
 * a new ArrayBuffer, and a lone product's 2 MB output at 512 rows, in memory never touched
 * before, cost 513 page faults and 6.5 ms a run on this project's VMs against 0.5 ms for the
 * product itself (2026-12-06; the generator's steps collect every MiB of outputs:
 * src/model/output-memory.ts). The first runs after a collection still fault until freed
 * blocks are reused, hence three runs untimed.
 */
async function timeRun(run: () => Promise<unknown>, repeats: number): Promise<{ wall: number; cpu: number }> {
  for (let i = 0; i < WARM_RUNS; i++) {
    collectOutputsNow();
    await run();
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    collectOutputsNow();
    const started = performance.now();
    const usage = process.cpuUsage();
    await run();
    const used = process.cpuUsage(usage);
    wall.push(performance.now() - started);
    cpu.push((used.user + used.system) / 1000);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
}

/**
 * Per run of a profiled session, in order: its nodes' kernel time in ms (onnxruntime's
 * profile: each `model_run` event, and the `*_kernel_time` node events inside its span).
 */
export function kernelMsPerRun(session: ort.InferenceSession, dir: string, prefix: string): number[] {
  session.endProfiling();
  const name = readdirSync(dir).find((file) => file.startsWith(`${prefix}_`) && file.endsWith('.json'));
  if (name === undefined) throw new Error(`onnxruntime wrote no profile ${prefix}_*.json in ${dir}`);
  const events = JSON.parse(readFileSync(join(dir, name), 'utf8')) as ProfileEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  return runs.map((run) => kernels.filter((k) => k.ts >= run.ts && k.ts + k.dur <= run.ts + run.dur).reduce((sum, k) => sum + k.dur, 0) / 1000);
}

/** Copy bandwidth (bytes read + written per second) of a buffer far larger than the caches. */
export function memoryBandwidth(): number {
  const size = 64 * 1024 * 1024; // floats: 256 MiB
  const from = new Float32Array(size).fill(1);
  const to = new Float32Array(size);
  to.set(from); // fault the pages in
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    to.set(from);
    times.push(performance.now() - started);
  }
  return (2 * size * 4) / (median(times) / 1000);
}

/** One precision measured by the ceiling: Tessera loaded on its graphs, and how its products run. */
export interface CeilingEntry {
  precision: 'fp32' | 'int8';
  tessera: Tessera;
  /**
   * The same graphs loaded with lanes as `tessera generate` runs them (lanes.ts: one lane
   * per intra-op thread, one-thread sessions), when the package gets lanes: its step time
   * (wall per step of the whole decode, every lane together) is the `lanes step` column.
   */
  laned?: Tessera;
}

export async function ceiling(entries: readonly CeilingEntry[], device: Device, graph: string, counts: readonly number[], rounds: number): Promise<Record<string, unknown>[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ceiling-'));
  const measured = [];
  for (const entry of entries) {
    const list = runPython<GemmList>(['scripts/perf/gemm_graphs.py', '--graph', graph, '--out', dir, '--precision', entry.precision]);
    const prefix = `${entry.precision}_`;
    const sessions = await Promise.all(list.gemms.map((g, i) => ort.InferenceSession.create(g.file, { ...sessionOptions(device), enableProfiling: true, profileFilePrefix: join(dir, `${prefix}${i}`) })));
    // int8 products read a quarter of their float weights' bytes.
    const productBytes = list.gemms.reduce((sum, g) => sum + g.count * g.k * g.n * 4, 0);
    const weightBytes = entry.precision === 'int8' ? list.weightBytes - productBytes * 0.75 : list.weightBytes;
    measured.push({ ...entry, list, sessions, prefix, weightBytes });
  }
  const bandwidth = memoryBandwidth();
  const { manifest } = entries[0].tessera;
  const { layers, heads, headDim, maxLength } = manifest.generator;
  const imageTokens = manifest.image.grid.height * manifest.image.grid.width;
  const meanFilled = maxLength - imageTokens / 2; // text + half the image, on average over a grid
  // Per count, its series; each product run's kernel time is read from the profiles once every run is over.
  const perCount = [];
  const runsSoFar = measured.map((m) => m.sessions.map(() => 0)); // [entry][product]: runs each session has made
  for (const count of counts) {
    const guided = manifest.sampling.guidanceScale !== 1 ? 2 : 1;
    const r = count * guided;
    // Alternating rounds: per precision, the GEMMs alone, then Tessera's decode at the same rows (medians).
    // firstTimed[round][product]: the index of the first timed run of that product in that round.
    const series = measured.map(() => ({ gemmWall: [] as number[], firstTimed: [] as number[][], step: [] as number[], stepCpu: [] as number[], graph: [] as number[], lanes: [] as number[], lanesCpu: [] as number[] }));
    for (let round = 0; round < rounds; round++) {
      for (const [e, entry] of measured.entries()) {
        let gemmMs = 0;
        const firstTimed: number[] = [];
        for (const [i, g] of entry.list.gemms.entries()) {
          const x = new ort.Tensor('float32', new Float32Array(r * g.k).map((_, j) => Math.sin(j)), [r, g.k]); // [rows, K]
          firstTimed.push(runsSoFar[e][i] + WARM_RUNS);
          const t = await timeRun(() => entry.sessions[i].run({ x }), TIMED_RUNS);
          runsSoFar[e][i] += WARM_RUNS + TIMED_RUNS;
          gemmMs += g.count * t.wall;
        }
        series[e].gemmWall.push(gemmMs);
        series[e].firstTimed.push(firstTimed);
        const { sampler, generator } = entry.tessera.model;
        const prepared = entry.tessera.prepare({ prompt: 'a small red star left of a large blue circle', seed: 3 + round, candidates: count });
        const state = await sampler.prefill(prepared.sequences);
        const before = { ms: generator.stats.decodeMs, calls: generator.stats.stepCalls };
        const started = performance.now();
        const usage = process.cpuUsage();
        await sampler.decodeSteps(state, imageTokens);
        const used = process.cpuUsage(usage);
        series[e].step.push((performance.now() - started) / (imageTokens - 1));
        series[e].stepCpu.push((used.user + used.system) / 1000 / (imageTokens - 1));
        series[e].graph.push((generator.stats.decodeMs - before.ms) / (generator.stats.stepCalls - before.calls));
        const laned = entry.laned?.model;
        if (laned?.lanes) {
          // The whole sampling through the lanes, less lane 0's prefill: the decode's wall per step, all lanes at once.
          const request = entry.laned!.prepare({ prompt: 'a small red star left of a large blue circle', seed: 3 + round, candidates: count });
          const laneStarted = performance.now();
          const laneUsage = process.cpuUsage();
          const result = await laned.lanes.sample(laned.sampler, laneParts(request.sequences, laned.lanes.count));
          const laneUsed = process.cpuUsage(laneUsage);
          const wallMs = performance.now() - laneStarted;
          series[e].lanes.push((wallMs - result.prefillMs) / (imageTokens - 1));
          series[e].lanesCpu.push((laneUsed.user + laneUsed.system) / 1000 / (imageTokens - 1)); // lane 0's prefill CPU included
        }
      }
    }
    perCount.push({ count, r, series });
  }
  const kernelMs = measured.map((m) => m.sessions.map((session, i) => kernelMsPerRun(session, dir, `${m.prefix}${i}`))); // [entry][product][run]
  const rows = [];
  for (const { count, r, series } of perCount) {
    const list = measured[0].list;
    const gemmFlops = list.gemms.reduce((sum, g) => sum + g.count * 2 * r * g.k * g.n, 0);
    const attentionFlops = layers * 2 * 2 * r * heads * headDim * meanFilled; // scores + weighted sum
    const flops = gemmFlops + attentionFlops;
    for (const [e, entry] of measured.entries()) {
      // Per round, the products' kernel time: each product's median over its timed runs, times its count.
      const gemmKernel = series[e].firstTimed.map((firstTimed) =>
        entry.list.gemms.reduce((sum, g, i) => sum + g.count * median(kernelMs[e][i].slice(firstTimed[i], firstTimed[i] + TIMED_RUNS)), 0),
      );
      const bytes = entry.weightBytes + r * list.gatheredBytesPerRow + layers * 2 * r * heads * headDim * meanFilled * 4;
      const gemmMs = median(gemmKernel);
      const gemmRunMs = median(series[e].gemmWall);
      const computeMs = gemmMs * (1 + attentionFlops / gemmFlops);
      const memoryMs = (bytes / bandwidth) * 1000;
      const ceilingMs = Math.max(computeMs, memoryMs);
      const stepMs = median(series[e].step);
      const graphMs = median(series[e].graph);
      const stepCpuMs = median(series[e].stepCpu);
      const lanesMs = series[e].lanes.length > 0 ? median(series[e].lanes) : NaN;
      const lanesCpuMs = series[e].lanesCpu.length > 0 ? median(series[e].lanesCpu) : NaN;
      rows.push({ precision: entry.precision, candidates: count, rows: r, flops, bytes, gemmGops: gemmFlops / gemmMs / 1e6, gemmMs, gemmRunMs, bandwidthGBs: bandwidth / 1e9, computeMs, memoryMs, ceilingMs, stepMs, graphMs, achievedGops: flops / stepMs / 1e6, ratio: ceilingMs / stepMs, graphRatio: ceilingMs / graphMs, stepCpuMs, lanesMs, lanesRatio: ceilingMs / lanesMs, lanesCpuMs });
    }
  }
  await Promise.all(measured.flatMap((m) => m.sessions.map((s) => s.release())));
  rmSync(dir, { recursive: true, force: true });
  console.log(`\nhardware ceiling of one decode step, per precision (medians of ${rounds} alternating rounds; the products' kernel time in onnxruntime's profile at the model's shapes, fp32 MatMul or int8 DynamicQuantizeLinear+MatMulInteger, their runs' wall time beside it; copy bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s):`);
  console.log(
    table(
      ['precision', 'candidates', 'MOP/step', 'MB/step', 'GEMM kernel ms', 'GEMM run ms', 'GEMM GOP/s', 'compute ms', 'memory ms', 'ceiling ms', 'Tessera step ms', 'achieved GOP/s', 'of ceiling', 'graph only', 'step CPU ms', 'lanes step ms', 'lanes: of ceiling', 'lanes CPU ms'],
      rows.map((x) => [x.precision, x.candidates, (x.flops / 1e6).toFixed(0), (x.bytes / 1e6).toFixed(1), x.gemmMs.toFixed(2), x.gemmRunMs.toFixed(2), x.gemmGops.toFixed(1), x.computeMs.toFixed(2), x.memoryMs.toFixed(2), x.ceilingMs.toFixed(2), x.stepMs.toFixed(2), x.achievedGops.toFixed(1), `${(100 * x.ratio).toFixed(0)}%`, `${(100 * x.graphRatio).toFixed(0)}%`, x.stepCpuMs.toFixed(2), Number.isNaN(x.lanesMs) ? '-' : x.lanesMs.toFixed(2), Number.isNaN(x.lanesMs) ? '-' : `${(100 * x.lanesRatio).toFixed(0)}%`, Number.isNaN(x.lanesCpuMs) ? '-' : x.lanesCpuMs.toFixed(2)]),
    ),
  );
  return rows;
}
