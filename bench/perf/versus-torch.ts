/**
 * Tessera against the PyTorch reference sampler (scripts/perf/torch_reference.py) on the
 * same weights, prompt, seeds and thread count, alternating in one run:
 *  - warm: decode ms per step at each candidate count, both after a warm-up;
 *  - cold: a one-shot `tessera generate --json` (its prefill + decode timings) against a
 *    reference process that measures its first run, without warm-up.
 * Also checks that both draw the same tokens (same streams, same inverse-CDF draw).
 *
 * With the package's int8 variant (issue 27: `int8` below, manifest variants.int8), the
 * same rounds also run Tessera int8 and PyTorch's dynamic int8 (torch_reference.py --int8,
 * quantize_dynamic), so the four are alternated in one run. Tokens are compared fp32 with
 * fp32 only: int8 draws differ once a logit moves past a draw's boundary.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tessera } from '../../src/pipeline/tessera.js';
import { launcherEnv, launcherLine, median, runPython, table } from './machine.js';

interface ReferenceRun {
  candidates: number;
  prefillMs: number;
  decodeMs: number;
  msPerStep: number;
  cpuMsPerStep: number;
  tokens: number[][];
}

export interface VersusTorchOptions {
  model: string;
  prompt: string;
  counts: number[];
  rounds: number;
  cold: boolean;
  /** The int8 variant loaded as a package (variant-package.ts), and its folder for the cold CLI runs. */
  int8?: { tessera: Tessera; model: string };
}

async function tesseraRun(tessera: Tessera, prompt: string, candidates: number) {
  const { sampler } = tessera.model;
  const prepared = tessera.prepare({ prompt, seed: 7, candidates });
  const t0 = performance.now();
  const state = await sampler.prefill(prepared.sequences);
  const t1 = performance.now();
  const cpu = process.cpuUsage(); // this process: the main thread and onnxruntime's threads
  await sampler.decodeSteps(state, sampler.imageTokens);
  const used = process.cpuUsage(cpu);
  const t2 = performance.now();
  const steps = sampler.imageTokens;
  return { prefillMs: t1 - t0, decodeMs: t2 - t1, msPerStep: (t2 - t1) / steps, cpuMsPerStep: (used.user + used.system) / 1000 / steps, tokens: state.codes };
}

export async function versusTorch(tessera: Tessera, options: VersusTorchOptions): Promise<Record<string, unknown>> {
  const { prompt, counts, rounds, model } = options;
  const spec = tessera.prepare({ prompt, seed: 7, candidates: 1 }).sequences[0];
  const args = ['scripts/perf/torch_reference.py', '--package', model, '--ids', spec.textIds.join(','), '--seed', '7'];
  if (spec.unconditionalIds) args.push('--uncond-ids', spec.unconditionalIds.join(','), '--guidance', String(spec.guidanceScale));
  await tesseraRun(tessera, prompt, Math.max(...counts)); // warm-up at the largest batch
  if (options.int8) await tesseraRun(options.int8.tessera, prompt, Math.max(...counts));
  const series = ['tessera', 'torch', ...(options.int8 ? ['tesseraInt8', 'torchInt8'] : [])];
  const wall = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const push = (key: string, count: number, ms: number, cpuMs: number) => {
    wall.set(`${key}@${count}`, [...(wall.get(`${key}@${count}`) ?? []), ms]);
    cpu.set(`${key}@${count}`, [...(cpu.get(`${key}@${count}`) ?? []), cpuMs]);
  };
  let engine: string | null = null;
  let identical = 0;
  let compared = 0;
  for (let round = 0; round < rounds; round++) {
    const reference = runPython<{ runs: ReferenceRun[] }>([...args, '--candidates', counts.join(',')]);
    const referenceInt8 = options.int8 ? runPython<{ runs: ReferenceRun[]; quantizedEngine: string }>([...args, '--candidates', counts.join(','), '--int8']) : null;
    engine = referenceInt8?.quantizedEngine ?? engine;
    for (const count of counts) {
      const run = await tesseraRun(tessera, prompt, count);
      push('tessera', count, run.msPerStep, run.cpuMsPerStep);
      const ref = reference.runs.find((r) => r.candidates === count) as ReferenceRun;
      push('torch', count, ref.msPerStep, ref.cpuMsPerStep);
      run.tokens.forEach((codes, i) => {
        compared += 1;
        if (codes.every((v, k) => v === ref.tokens[i][k])) identical += 1;
      });
      if (options.int8 && referenceInt8) {
        const run8 = await tesseraRun(options.int8.tessera, prompt, count);
        push('tesseraInt8', count, run8.msPerStep, run8.cpuMsPerStep);
        const ref8 = referenceInt8.runs.find((r) => r.candidates === count) as ReferenceRun;
        push('torchInt8', count, ref8.msPerStep, ref8.cpuMsPerStep);
      }
    }
  }
  const at = (m: Map<string, number[]>, key: string, count: number) => median(m.get(`${key}@${count}`) ?? [NaN]);
  const warm = counts.map((c) => {
    const row: Record<string, number> = { candidates: c };
    for (const key of series) {
      row[`${key}MsPerStep`] = at(wall, key, c);
      row[`${key}CpuMsPerStep`] = at(cpu, key, c);
    }
    row.speedup = row.torchMsPerStep / row.tesseraMsPerStep;
    row.cpuSpeedup = row.torchCpuMsPerStep / row.tesseraCpuMsPerStep;
    if (options.int8) {
      row.int8VsTorch = row.torchMsPerStep / row.tesseraInt8MsPerStep;
      row.int8VsTorchInt8 = row.torchInt8MsPerStep / row.tesseraInt8MsPerStep;
      row.int8VsFp32 = row.tesseraMsPerStep / row.tesseraInt8MsPerStep;
      row.cpuInt8VsTorch = row.torchCpuMsPerStep / row.tesseraInt8CpuMsPerStep;
      row.cpuInt8VsTorchInt8 = row.torchInt8CpuMsPerStep / row.tesseraInt8CpuMsPerStep;
      row.cpuInt8VsFp32 = row.tesseraCpuMsPerStep / row.tesseraInt8CpuMsPerStep;
    }
    return row;
  });
  const x = (v: number) => `${v.toFixed(2)}x`;
  console.log(`\nwarm decode, ms per step (median of ${rounds} alternating rounds; fp32 draws the same tokens as PyTorch fp32 in ${identical}/${compared} candidates):`);
  console.log(
    table(
      ['candidates', 'Tessera', 'PyTorch', 'Tessera speed-up', 'Tessera CPU ms', 'PyTorch CPU ms', 'CPU-time ratio'],
      warm.map((w) => [w.candidates, w.tesseraMsPerStep.toFixed(2), w.torchMsPerStep.toFixed(2), x(w.speedup), w.tesseraCpuMsPerStep.toFixed(2), w.torchCpuMsPerStep.toFixed(2), x(w.cpuSpeedup)]),
    ),
  );
  if (options.int8) {
    console.log(`\nint8, warm decode ms per step (same rounds; PyTorch int8 = quantize_dynamic, engine ${engine}); wall, then CPU time:`);
    console.log(
      table(
        ['candidates', 'Tessera fp32', 'Tessera int8', 'PyTorch fp32', 'PyTorch int8', 'int8 vs Tessera fp32', 'int8 vs PyTorch fp32', 'int8 vs PyTorch int8', 'CPU ms: T fp32 / T int8 / P fp32 / P int8', 'CPU: vs T fp32 / P fp32 / P int8'],
        warm.map((w) => [
          w.candidates,
          w.tesseraMsPerStep.toFixed(2),
          w.tesseraInt8MsPerStep.toFixed(2),
          w.torchMsPerStep.toFixed(2),
          w.torchInt8MsPerStep.toFixed(2),
          x(w.int8VsFp32),
          x(w.int8VsTorch),
          x(w.int8VsTorchInt8),
          [w.tesseraCpuMsPerStep, w.tesseraInt8CpuMsPerStep, w.torchCpuMsPerStep, w.torchInt8CpuMsPerStep].map((v) => v.toFixed(2)).join(' / '),
          [w.cpuInt8VsFp32, w.cpuInt8VsTorch, w.cpuInt8VsTorchInt8].map(x).join(' / '),
        ]),
      ),
    );
  }
  const result: Record<string, unknown> = { warm, identical, compared, quantizedEngine: engine };
  if (options.cold) result.cold = coldRuns(options, args);
  return result;
}

/** One-shot processes, alternating: `tessera generate --json` vs the reference's first run. */
function coldRuns(options: VersusTorchOptions, referenceArgs: readonly string[]) {
  const out = mkdtempSync(join(tmpdir(), 'tessera-cold-'));
  const generate = (model: string, count: number) => {
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'generate', options.prompt, '--model', model, '--candidates', String(count), '--seed', '7', '--no-rerank', '--precision', 'fp32', '--json', '--quiet', '--out', out], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: launcherEnv() }); // the package's own graphs (the int8 one's are int8), not auto's pick
    if (cli.status !== 0) throw new Error(`tessera generate failed: ${cli.stderr}`);
    const timings = (JSON.parse(cli.stdout) as { timings: { prefill: number; decode: number } }).timings;
    return timings.prefill + timings.decode;
  };
  const reference = (count: number, extra: string[]) => {
    const ref = runPython<{ runs: ReferenceRun[] }>([...referenceArgs, '--candidates', String(count), '--cold', ...extra]).runs[0];
    return ref.prefillMs + ref.decodeMs;
  };
  const int8 = options.int8;
  const rows = options.counts.map((count) => {
    const times: Record<string, number[]> = { tessera: [], torch: [], tesseraInt8: [], torchInt8: [] };
    for (let round = 0; round < options.rounds; round++) {
      times.tessera.push(generate(options.model, count));
      times.torch.push(reference(count, []));
      if (int8) {
        times.tesseraInt8.push(generate(int8.model, count));
        times.torchInt8.push(reference(count, ['--int8']));
      }
    }
    const [t, r] = [median(times.tessera), median(times.torch)];
    const row: Record<string, number> = { candidates: count, tesseraMs: t, torchMs: r, speedup: r / t };
    if (int8) {
      row.tesseraInt8Ms = median(times.tesseraInt8);
      row.torchInt8Ms = median(times.torchInt8);
      row.int8VsTorch = r / row.tesseraInt8Ms;
      row.int8VsTorchInt8 = row.torchInt8Ms / row.tesseraInt8Ms;
    }
    return row;
  });
  rmSync(out, { recursive: true, force: true });
  console.log(`\ncold, one-shot process: prefill + decode ms (median of ${options.rounds}; Tessera: ${launcherLine()}; PyTorch: its own environment):`);
  if (int8) {
    console.log(
      table(
        ['candidates', 'tessera generate fp32', 'tessera generate int8', 'PyTorch fp32 first run', 'PyTorch int8 first run', 'fp32 vs PyTorch fp32', 'int8 vs PyTorch fp32', 'int8 vs PyTorch int8'],
        rows.map((w) => [w.candidates, w.tesseraMs.toFixed(0), w.tesseraInt8Ms.toFixed(0), w.torchMs.toFixed(0), w.torchInt8Ms.toFixed(0), `${w.speedup.toFixed(2)}x`, `${w.int8VsTorch.toFixed(2)}x`, `${w.int8VsTorchInt8.toFixed(2)}x`]),
      ),
    );
  } else {
    console.log(table(['candidates', 'tessera generate', 'PyTorch first run', 'Tessera speed-up'], rows.map((w) => [w.candidates, w.tesseraMs.toFixed(0), w.torchMs.toFixed(0), `${w.speedup.toFixed(2)}x`])));
  }
  return rows;
}
