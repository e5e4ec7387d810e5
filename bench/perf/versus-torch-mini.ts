/**
 * A Mini-shaped encoder-decoder package against its PyTorch reference
 * (scripts/perf/torch_reference_mini.py) on the same weights: warm decode ms per step
 * (wall and process CPU time), a few steps each after one untimed step, alternating.
 * The package and its source state dicts come from TESSERA_MINI_PACKAGE and
 * TESSERA_MINI_WEIGHTS; without them the section is skipped.
 */
import { existsSync } from 'node:fs';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { Device } from '../../src/types.js';
import { median, runPython, table } from './machine.js';

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

export async function versusTorchMini(prompt: string, counts: readonly number[], rounds: number, steps: number, device: Device = 'cpu'): Promise<Record<string, unknown>[] | null> {
  const model = process.env.TESSERA_MINI_PACKAGE;
  const weights = process.env.TESSERA_MINI_WEIGHTS;
  if (!model || !weights || !existsSync(model) || !existsSync(weights)) {
    console.log('\nMini-shaped model: skipped (set TESSERA_MINI_PACKAGE and TESSERA_MINI_WEIGHTS)');
    return null;
  }
  const tessera = await Tessera.load({ model, device, rerank: false });
  const spec = tessera.prepare({ prompt, seed: 7, candidates: 1, guidanceScale: tessera.manifest.sampling.guidanceScale === 1 ? 16 : undefined }).sequences[0];
  const uncond = spec.unconditionalIds ?? tessera.manifest.text.unconditionalIds;
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
  return rows;
}
