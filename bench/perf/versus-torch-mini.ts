/**
 * A Mini-shaped encoder-decoder package against its PyTorch reference
 * (scripts/perf/torch_reference_mini.py) on the same weights: warm decode ms per step
 * (wall and process CPU time), a few steps each after one untimed step, alternating.
 * The package and its source state dicts come from TESSERA_MINI_PACKAGE and
 * TESSERA_MINI_WEIGHTS; without them the section is skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { Device } from '../../src/types.js';
import { launcherEnv, median, runPython, table } from './machine.js';

async function tesseraSteps(tessera: Tessera, prompt: string, candidates: number, steps: number) {
  const { sampler } = tessera.model;
  const prepared = tessera.prepare({ prompt, seed: 7, candidates });
  const state = await sampler.prefill(prepared.sequences);
  sampler.sampleNext(state);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const started = performance.now();
    const usage = process.cpuUsage();
    await sampler.decodeStep(state);
    sampler.sampleNext(state);
    const used = process.cpuUsage(usage);
    if (i > 0) {
      wall.push(performance.now() - started);
      cpu.push((used.user + used.system) / 1000);
    }
  }
  return { rows: state.rows, msPerStep: median(wall), cpuMsPerStep: median(cpu) };
}

export async function versusTorchMini(prompt: string, counts: readonly number[], rounds: number, steps: number, device: Device = 'cpu', cold = false): Promise<Record<string, unknown> | null> {
  const model = process.env.TESSERA_MINI_PACKAGE;
  const weights = process.env.TESSERA_MINI_WEIGHTS;
  if (!model || !weights || !existsSync(model) || !existsSync(weights)) {
    console.log('\nMini-shaped model: skipped (set TESSERA_MINI_PACKAGE and TESSERA_MINI_WEIGHTS)');
    return null;
  }
  const tessera = await Tessera.load({ model, device, rerank: false, precision: 'fp32' });
  const spec = tessera.prepare({ prompt, seed: 7, candidates: 1, guidanceScale: tessera.manifest.sampling.guidanceScale === 1 ? 16 : undefined }).sequences[0];
  const uncond = spec.unconditionalIds ?? tessera.manifest.text.unconditionalIds;
  // Cold rows first, in one-shot processes, before this process holds a warm Mini batch:
  // at 128 candidates the bench's own slots (~10 GB, not collected while spawnSync blocks)
  // plus the CLI's would exceed this 23 GB machine (the first attempt was OOM-killed).
  const coldRows = cold ? coldMini(model, weights, prompt, counts, rounds, spec.textIds, uncond) : null;
  const rows = [];
  for (const count of counts) {
    const ours: { wall: number[]; cpu: number[] } = { wall: [], cpu: [] };
    const theirs: { wall: number[]; cpu: number[] } = { wall: [], cpu: [] };
    for (let round = 0; round < rounds; round++) {
      const run = await tesseraSteps(tessera, prompt, count, steps);
      ours.wall.push(run.msPerStep);
      ours.cpu.push(run.cpuMsPerStep);
      const ref = runPython<{ msPerStep: number; cpuMsPerStep: number }>(['scripts/perf/torch_reference_mini.py', '--weights', weights, '--ids', spec.textIds.join(','), '--uncond-ids', uncond.join(','), '--candidates', String(count), '--steps', String(steps)]);
      theirs.wall.push(ref.msPerStep);
      theirs.cpu.push(ref.cpuMsPerStep);
    }
    const [t, r, tc, rc] = [median(ours.wall), median(theirs.wall), median(ours.cpu), median(theirs.cpu)];
    rows.push({ candidates: count, tesseraMsPerStep: t, torchMsPerStep: r, speedup: r / t, tesseraCpuMsPerStep: tc, torchCpuMsPerStep: rc, cpuSpeedup: rc / tc });
  }
  await tessera.dispose();
  console.log(`\nMini-shaped encoder-decoder (${model}), warm decode ms per step, guidance rows batched (median of ${rounds} rounds x ${steps} steps):`);
  console.log(
    table(
      ['candidates', 'Tessera', 'PyTorch', 'speed-up', 'Tessera CPU ms', 'PyTorch CPU ms', 'CPU-time ratio'],
      rows.map((w) => [w.candidates, w.tesseraMsPerStep.toFixed(0), w.torchMsPerStep.toFixed(0), `${w.speedup.toFixed(2)}x`, w.tesseraCpuMsPerStep.toFixed(0), w.torchCpuMsPerStep.toFixed(0), `${w.cpuSpeedup.toFixed(2)}x`]),
    ),
  );
  if (coldRows !== null) {
    console.log(`\nMini-shaped, cold one-shot process: prefill + decode ms of a whole image (256 steps; median of ${rounds}):`);
    console.log(table(['candidates', 'tessera generate', 'PyTorch first run', 'Tessera speed-up'], coldRows.map((w) => [w.candidates, w.tesseraMs.toFixed(0), w.torchMs.toFixed(0), `${w.speedup.toFixed(2)}x`])));
  }
  return { warm: rows, cold: coldRows };
}

/**
 * Cold, as for the shapes model: a one-shot `tessera generate --json` (its prefill +
 * decode timings, every image token) against the reference's `--cold` run, alternating.
 */
function coldMini(model: string, weights: string, prompt: string, counts: readonly number[], rounds: number, ids: readonly number[], uncond: readonly number[]) {
  const out = mkdtempSync(join(tmpdir(), 'tessera-cold-mini-'));
  const rows = counts.map((count) => {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'generate', prompt, '--model', model, '--candidates', String(count), '--keep', '1', '--seed', '7', '--no-rerank', '--precision', 'fp32', '--json', '--quiet', '--out', out], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: launcherEnv() });
      if (cli.status !== 0) throw new Error(`tessera generate failed: ${cli.stderr}`);
      const timings = (JSON.parse(cli.stdout) as { timings: { prefill: number; decode: number } }).timings;
      ours.push(timings.prefill + timings.decode);
      const ref = runPython<{ prefillMs: number; decodeMs: number }>(['scripts/perf/torch_reference_mini.py', '--weights', weights, '--ids', ids.join(','), '--uncond-ids', uncond.join(','), '--candidates', String(count), '--steps', '256', '--cold']);
      theirs.push(ref.prefillMs + ref.decodeMs);
    }
    const t = median(ours);
    const r = median(theirs);
    return { candidates: count, tesseraMs: t, torchMs: r, speedup: r / t };
  });
  rmSync(out, { recursive: true, force: true });
  return rows;
}
