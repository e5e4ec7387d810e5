/**
 * The hardware ceiling of one decode step, built from the model's own matrix shapes
 * (issue 12), beside what Tessera achieves in the same run:
 *  - compute: every weight GEMM of the step graph (scripts/perf/gemm_graphs.py) timed alone
 *    in onnxruntime at the step's row count; their summed time is the fastest this runtime
 *    does the step's matrix work (attention's own products are added at the measured rate);
 *  - memory: the bytes a step must read (the weights once, and the filled part of the KV
 *    cache: on average text + half the image slots) at the measured copy bandwidth.
 * Ceiling time = max(compute, memory); ratio = ceiling time / achieved step time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ort, sessionOptions } from '../../src/model/runtime.js';
import type { Tessera } from '../../src/pipeline/tessera.js';
import type { Device } from '../../src/types.js';
import { median, runPython, table } from './machine.js';

interface GemmList {
  weightBytes: number;
  gatheredBytesPerRow: number;
  gemms: { file: string; k: number; n: number; count: number }[];
}

/** Median wall and process CPU time of one run (CPU time: what other jobs on the machine disturb least). */
async function timeRun(run: () => Promise<unknown>, repeats: number): Promise<{ wall: number; cpu: number }> {
  await run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    const usage = process.cpuUsage();
    await run();
    const used = process.cpuUsage(usage);
    wall.push(performance.now() - started);
    cpu.push((used.user + used.system) / 1000);
  }
  return { wall: median(wall), cpu: median(cpu) };
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

export async function ceiling(tessera: Tessera, device: Device, graph: string, counts: readonly number[], rounds: number): Promise<Record<string, unknown>[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ceiling-'));
  const list = runPython<GemmList>(['scripts/perf/gemm_graphs.py', '--graph', graph, '--out', dir]);
  const sessions = await Promise.all(list.gemms.map((g) => ort.InferenceSession.create(g.file, sessionOptions(device))));
  const bandwidth = memoryBandwidth();
  const { manifest } = tessera;
  const { layers, heads, headDim, maxLength } = manifest.generator;
  const imageTokens = manifest.image.grid.height * manifest.image.grid.width;
  const meanFilled = maxLength - imageTokens / 2; // text + half the image, on average over a grid
  const rows = [];
  for (const count of counts) {
    const guided = manifest.sampling.guidanceScale !== 1 ? 2 : 1;
    const r = count * guided;
    const gemmFlops = list.gemms.reduce((sum, g) => sum + g.count * 2 * r * g.k * g.n, 0);
    const attentionFlops = layers * 2 * 2 * r * heads * headDim * meanFilled; // scores + weighted sum
    const flops = gemmFlops + attentionFlops;
    const bytes = list.weightBytes + r * list.gatheredBytesPerRow + layers * 2 * r * heads * headDim * meanFilled * 4;
    // Alternating rounds: the GEMMs alone, then Tessera's decode at the same rows (medians).
    const gemmTimes: number[] = [];
    const gemmCpuTimes: number[] = [];
    const stepTimes: number[] = [];
    const stepCpuTimes: number[] = [];
    const graphTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let gemmMs = 0;
      let gemmCpuMs = 0;
      for (const [i, g] of list.gemms.entries()) {
        const x = new ort.Tensor('float32', new Float32Array(r * g.k).fill(0.5), [r, g.k]);
        const t = await timeRun(() => sessions[i].run({ x }), 5);
        gemmMs += g.count * t.wall;
        gemmCpuMs += g.count * t.cpu;
      }
      gemmTimes.push(gemmMs);
      gemmCpuTimes.push(gemmCpuMs);
      const { sampler, generator } = tessera.model;
      const prepared = tessera.prepare({ prompt: 'a small red star left of a large blue circle', seed: 3 + round, candidates: count });
      const state = await sampler.prefill(prepared.sequences);
      const before = { ms: generator.stats.decodeMs, calls: generator.stats.stepCalls };
      const started = performance.now();
      const usage = process.cpuUsage();
      await sampler.decodeSteps(state, imageTokens);
      const used = process.cpuUsage(usage);
      stepTimes.push((performance.now() - started) / (imageTokens - 1));
      stepCpuTimes.push((used.user + used.system) / 1000 / (imageTokens - 1));
      graphTimes.push((generator.stats.decodeMs - before.ms) / (generator.stats.stepCalls - before.calls));
    }
    const gemmMs = median(gemmTimes);
    const computeMs = gemmMs * (1 + attentionFlops / gemmFlops);
    const memoryMs = (bytes / bandwidth) * 1000;
    const ceilingMs = Math.max(computeMs, memoryMs);
    const stepMs = median(stepTimes);
    const graphMs = median(graphTimes);
    // The same ratio in CPU time: the step's irreducible GEMM work (plus attention at that
    // rate) as a share of the CPU time Tessera spends per step, both on the same 2 threads.
    const computeCpuMs = median(gemmCpuTimes) * (1 + attentionFlops / gemmFlops);
    const stepCpuMs = median(stepCpuTimes);
    rows.push({ candidates: count, rows: r, flops, bytes, gemmGflops: gemmFlops / gemmMs / 1e6, bandwidthGBs: bandwidth / 1e9, computeMs, memoryMs, ceilingMs, stepMs, graphMs, ratio: ceilingMs / stepMs, graphRatio: ceilingMs / graphMs, computeCpuMs, stepCpuMs, cpuRatio: computeCpuMs / stepCpuMs });
  }
  await Promise.all(sessions.map((s) => s.release()));
  rmSync(dir, { recursive: true, force: true });
  console.log(`\nhardware ceiling of one decode step (medians of ${rounds} alternating rounds; measured GEMM rate at the model's shapes, copy bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s):`);
  console.log(
    table(
      ['candidates', 'MFLOP/step', 'MB/step', 'GEMM GFLOP/s', 'compute ms', 'memory ms', 'ceiling ms', 'Tessera step ms', 'achieved GFLOP/s', 'of ceiling', 'graph only', 'GEMM CPU ms', 'step CPU ms', 'of ceiling (CPU time)'],
      rows.map((x) => [x.candidates, (x.flops / 1e6).toFixed(0), (x.bytes / 1e6).toFixed(1), x.gemmGflops.toFixed(1), x.computeMs.toFixed(2), x.memoryMs.toFixed(2), x.ceilingMs.toFixed(2), x.stepMs.toFixed(2), (x.flops / x.stepMs / 1e6).toFixed(1), `${(100 * x.ratio).toFixed(0)}%`, `${(100 * x.graphRatio).toFixed(0)}%`, x.computeCpuMs.toFixed(2), x.stepCpuMs.toFixed(2), `${(100 * x.cpuRatio).toFixed(0)}%`]),
    ),
  );
  return rows;
}
