/**
 * What crosses the bus per decode step under `--device webgpu`, with the KV cache handed
 * from JavaScript every step (before: TESSERA_DEVICE_KV=0) and kept on the device (after,
 * src/generator/device-kv.ts), for the same sampled tokens (issue 29).
 *
 *   npm run bench:webgpu -- [--model DIR,...] [--candidates 8] [--placement]
 *
 * Default packages: the tiny test model, the shipped one and the min-dalle-format fixture
 * (encoder-decoder: its cross keys/values and text mask stay on the device with the cache). Bytes are counted from the
 * tensors fed from host memory (up) and the outputs read into it (down), mean per step;
 * steps are split into those that fed the device copy and those that uploaded the host one
 * (first step, slot growth). ms per step are printed beside the CPU's; on a machine without
 * a GPU the adapter is Mesa's lavapipe (Vulkan on the CPU), whose times are NOT GPU speed:
 * the bench says which it found. --placement also prints bench/webgpu/placement.ts's report.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TransferStats } from '../src/generator/device-kv.js';
import { loadModel } from '../src/pipeline/loader.js';
import type { SequenceSpec } from '../src/sampler/sampler.js';
import type { Device } from '../src/types.js';
import { cpuFlagsLine, machineLine } from './perf/machine.js';
import { reportPackage } from './webgpu/placement.js';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'test/fixtures/tiny-model,models/default,test/fixtures/min-dalle/package' }, candidates: { type: 'string', default: '8' }, placement: { type: 'boolean', default: false } },
});

/** What the WebGPU adapter most likely is: onnxruntime-node does not name it. */
function adapterGuess(): string {
  const nvidia = existsSync('/dev/nvidia0');
  const dri = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  const icds = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'].flatMap((d) => (existsSync(d) ? readdirSync(d) : []));
  const gpu = nvidia || dri;
  return gpu
    ? `a GPU device node is present (${nvidia ? '/dev/nvidia0' : '/dev/dri/renderD*'}; Vulkan ICDs: ${icds.join(', ') || 'none'}): these may be GPU timings; Dawn may still have picked lavapipe if the GPU's ICD is missing`
    : `no GPU device node: the adapter is Mesa's lavapipe (${icds.includes('lvp_icd.json') ? 'lvp_icd.json installed' : 'lvp_icd.json not found'}), Vulkan on the CPU — timings are NOT GPU speed`;
}

interface Run {
  tokens: number[][];
  msPerStep: number;
  steps: number;
  transfer: TransferStats;
}

async function run(model: string, device: Device, deviceKv: boolean, candidates: number): Promise<Run> {
  process.env.TESSERA_DEVICE_KV = deviceKv ? '1' : '0';
  const loaded = await loadModel({ model, device, rerank: false, precision: 'fp32' });
  const { manifest, tokenizer, sampler } = loaded;
  const textIds = tokenizer.encode('a red circle above a blue square').ids;
  const specs: SequenceSpec[] = Array.from({ length: candidates }, (_, candidateIndex) => ({
    textIds,
    unconditionalIds: manifest.text.unconditionalIds,
    guidanceScale: 3,
    seed: 7,
    candidateIndex,
    processors: { temperature: 1, topK: 0, topP: 1 },
  }));
  await sampler.generate(specs.slice(0, 1)); // warm-up: shaders compile, arenas grow
  const generator = loaded.generator as typeof loaded.generator & { transfer?: TransferStats };
  const transfer0 = { ...(generator.transfer ?? {}) } as TransferStats;
  const stats0 = { ...generator.stats };
  const grids = await sampler.generate(specs);
  const steps = generator.stats.stepCalls - stats0.stepCalls;
  const t = generator.transfer;
  const transfer: TransferStats = t
    ? {
        upBytes: t.upBytes - transfer0.upBytes,
        downBytes: t.downBytes - transfer0.downBytes,
        deviceSteps: t.deviceSteps - transfer0.deviceSteps,
        hostSteps: t.hostSteps - transfer0.hostSteps,
        deviceStepUpBytes: t.deviceStepUpBytes - transfer0.deviceStepUpBytes,
      }
    : { upBytes: NaN, downBytes: NaN, deviceSteps: 0, hostSteps: 0, deviceStepUpBytes: 0 };
  const msPerStep = (generator.stats.decodeMs - stats0.decodeMs) / steps;
  return { tokens: grids.map((g) => Array.from(g)), msPerStep, steps, transfer };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

console.log(machineLine());
console.log(cpuFlagsLine());
console.log(`adapter: ${adapterGuess()}`);
const candidates = Number(values.candidates);
for (const model of values.model.split(',').map((m) => path.resolve(m))) {
  const name = path.relative(process.cwd(), model);
  const cpu = await run(model, 'cpu', false, candidates);
  const before = await run(model, 'webgpu', false, candidates);
  const after = await run(model, 'webgpu', true, candidates);
  const rows = candidates * 2;
  console.log(`\n## ${name}: ${candidates} candidates with guidance (${rows} rows), ${after.steps} steps`);
  for (const [label, r] of [['webgpu, cache from JS every step (TESSERA_DEVICE_KV=0)', before], ['webgpu, cache kept on the device', after]] as const) {
    const t = r.transfer;
    console.log(
      `${label.padEnd(56)} up ${kib(t.upBytes / r.steps).padStart(11)}/step, down ${kib(t.downBytes / r.steps).padStart(9)}/step` +
        ` | steps fed from the device ${t.deviceSteps} (up ${t.deviceSteps > 0 ? (t.deviceStepUpBytes / t.deviceSteps).toFixed(0) : '-'} B/step), uploaded from the host ${t.hostSteps} | ${r.msPerStep.toFixed(1)} ms/step`,
    );
  }
  console.log(`${'cpu'.padEnd(56)} ${cpu.msPerStep.toFixed(1)} ms/step`);
  const { layers, heads, headDim, maxLength } = (await import('../src/model/manifest.js')).readManifest(model).generator;
  console.log(`(the whole self-attention cache at all ${maxLength} slots: ${kib(2 * layers * rows * heads * maxLength * headDim * 4)}; one step's new entries: ${kib(2 * layers * rows * heads * headDim * 4)})`);
  const same = (a: Run) => a.tokens.every((g, i) => g.every((x, j) => x === cpu.tokens[i][j]));
  console.log(
    `bytes up per step: ${(before.transfer.upBytes / after.transfer.upBytes).toFixed(1)}x fewer kept on the device; ` +
      `tokens equal to the CPU's: before ${same(before)}, after ${same(after)}; ms/step after/before ${(after.msPerStep / before.msPerStep).toFixed(2)} (same adapter, same run)`,
  );
  if (values.placement) reportPackage(model);
}
