/**
 * Tessera against the PyTorch reference sampler (scripts/perf/torch_reference.py) on the
 * same weights, prompt, seeds and thread count, alternating in one run:
 *  - warm: decode ms per step at each candidate count, both after a warm-up;
 *  - cold: a one-shot `tessera generate --json` (its prefill + decode timings) against a
 *    reference process that measures its first run, without warm-up.
 * Also checks that both draw the same tokens (same streams, same inverse-CDF draw).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tessera } from '../../src/pipeline/tessera.js';
import { median, runPython, table } from './machine.js';

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
  const ours = new Map<number, number[]>(counts.map((c) => [c, []]));
  const theirs = new Map<number, number[]>(counts.map((c) => [c, []]));
  const oursCpu = new Map<number, number[]>(counts.map((c) => [c, []]));
  const theirsCpu = new Map<number, number[]>(counts.map((c) => [c, []]));
  let identical = 0;
  let compared = 0;
  for (let round = 0; round < rounds; round++) {
    const reference = runPython<{ runs: ReferenceRun[] }>([...args, '--candidates', counts.join(',')]);
    for (const count of counts) {
      const run = await tesseraRun(tessera, prompt, count);
      ours.get(count)?.push(run.msPerStep);
      const ref = reference.runs.find((r) => r.candidates === count) as ReferenceRun;
      theirs.get(count)?.push(ref.msPerStep);
      oursCpu.get(count)?.push(run.cpuMsPerStep);
      theirsCpu.get(count)?.push(ref.cpuMsPerStep);
      run.tokens.forEach((codes, i) => {
        compared += 1;
        if (codes.every((v, k) => v === ref.tokens[i][k])) identical += 1;
      });
    }
  }
  const warm = counts.map((c) => {
    const t = median(ours.get(c) ?? []);
    const r = median(theirs.get(c) ?? []);
    const tc = median(oursCpu.get(c) ?? []);
    const rc = median(theirsCpu.get(c) ?? []);
    return { candidates: c, tesseraMsPerStep: t, torchMsPerStep: r, speedup: r / t, tesseraCpuMsPerStep: tc, torchCpuMsPerStep: rc, cpuSpeedup: rc / tc };
  });
  console.log(`\nwarm decode, ms per step (median of ${rounds} alternating rounds; the same tokens in ${identical}/${compared} candidates):`);
  console.log(
    table(
      ['candidates', 'Tessera', 'PyTorch', 'Tessera speed-up', 'Tessera CPU ms', 'PyTorch CPU ms', 'CPU-time ratio'],
      warm.map((w) => [w.candidates, w.tesseraMsPerStep.toFixed(2), w.torchMsPerStep.toFixed(2), `${w.speedup.toFixed(2)}x`, w.tesseraCpuMsPerStep.toFixed(2), w.torchCpuMsPerStep.toFixed(2), `${w.cpuSpeedup.toFixed(2)}x`]),
    ),
  );
  const result: Record<string, unknown> = { warm, identical, compared };
  if (options.cold) result.cold = coldRuns(options, args);
  return result;
}

/** One-shot processes, alternating: `tessera generate --json` vs the reference's first run. */
function coldRuns(options: VersusTorchOptions, referenceArgs: readonly string[]) {
  const out = mkdtempSync(join(tmpdir(), 'tessera-cold-'));
  const rows = options.counts.map((count) => {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'generate', options.prompt, '--model', options.model, '--candidates', String(count), '--seed', '7', '--no-rerank', '--json', '--quiet', '--out', out], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (cli.status !== 0) throw new Error(`tessera generate failed: ${cli.stderr}`);
      const timings = (JSON.parse(cli.stdout) as { timings: { prefill: number; decode: number } }).timings;
      ours.push(timings.prefill + timings.decode);
      const ref = runPython<{ runs: ReferenceRun[] }>([...referenceArgs, '--candidates', String(count), '--cold']).runs[0];
      theirs.push(ref.prefillMs + ref.decodeMs);
    }
    const t = median(ours);
    const r = median(theirs);
    return { candidates: count, tesseraMs: t, torchMs: r, speedup: r / t };
  });
  rmSync(out, { recursive: true, force: true });
  console.log(`\ncold, one-shot process: prefill + decode ms (median of ${options.rounds}):`);
  console.log(table(['candidates', 'tessera generate', 'PyTorch first run', 'Tessera speed-up'], rows.map((w) => [w.candidates, w.tesseraMs.toFixed(0), w.torchMs.toFixed(0), `${w.speedup.toFixed(2)}x`])));
  return rows;
}
