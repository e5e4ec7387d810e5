/**
 * npm run bench:perf -- [--model DIR] [--device cpu|cuda|webgpu] [--only torch,cold,ceiling,scaling,requests,mini,mini-cold] [--candidates 32,128] [--rounds 3]
 *                       [--precision fp32,int8]   (default: both when the package has variants.int8)
 * TESSERA_MINI_PACKAGE=DIR TESSERA_MINI_WEIGHTS=DIR npm run bench:perf -- --only mini[,mini-cold] [--mini-candidates 32]
 * npm run bench:perf -- --levers masked=DIR_A,fused=DIR_B[:spin],...   (levers.ts)
 *
 * Performance against references measured in this same run (issue 12): the PyTorch
 * reference sampler, the hardware ceiling of a decode step, and scaling with the
 * candidate count. Ratios within one run are what carry across machines; the first line
 * records the machine and its load.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkDevice } from '../src/model/runtime.js';
import { Tessera } from '../src/pipeline/tessera.js';
import { cpuFlagsLine, ensureLauncherEnv, launcherLine, machineLine } from './perf/machine.js';
import { ceiling, type CeilingEntry } from './perf/ceiling.js';
import { variantPackage } from './perf/variant-package.js';
import { compareLevers, parseVariants } from './perf/levers.js';
import { acrossRequests } from './perf/requests.js';
import { scaling } from './perf/scaling.js';
import { versusTorch } from './perf/versus-torch.js';
import { versusTorchMini } from './perf/versus-torch-mini.js';

ensureLauncherEnv();
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' },
    only: { type: 'string', default: 'torch,cold,ceiling,scaling' },
    candidates: { type: 'string', default: '32,128' },
    rounds: { type: 'string', default: '3' },
    levers: { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    precision: { type: 'string' },
    'ceiling-candidates': { type: 'string' },
    'mini-candidates': { type: 'string' },
    'serve-args': { type: 'string' },
    prompt: { type: 'string', default: 'a small red star left of a large blue circle on a white background' },
  },
  strict: true,
});
const only = new Set((values.only ?? '').split(','));
const counts = (values.candidates ?? '').split(',').map(Number);
const rounds = Number(values.rounds);
const model = values.model as string;
console.log(machineLine());
console.log(cpuFlagsLine());
console.log(`this process and ${launcherLine(process.env)}`);
if (values.levers !== undefined) {
  const rows = await compareLevers(parseVariants(values.levers), values.prompt as string, counts, rounds);
  console.log(`\n${machineLine()}`);
  mkdirSync('out', { recursive: true });
  writeFileSync('out/bench-levers.json', JSON.stringify({ machine: machineLine(), rows }, null, 2) + '\n');
  process.exit(0);
}
const device = values.device as string;
checkDevice(device);
// fp32 means fp32: the default, 'auto', would time whichever precision this machine's probe picks
// (until 2026-12-05 the 'Tessera fp32' columns were that; docs/benchmarks.md, "The bench's fp32 was auto").
const tessera = await Tessera.load({ model, device, precision: 'fp32' });
console.log(`model ${tessera.manifest.name} (${model}), device ${device}`);
// The int8 variant (issue 27) runs as a package of its own until the loader picks precisions (precision-auto).
const precisions = (values.precision ?? (tessera.manifest.variants?.int8 ? 'fp32,int8' : 'fp32')).split(',');
const int8Model = precisions.includes('int8') ? variantPackage(model) : null;
const int8 = int8Model === null ? null : { tessera: await Tessera.load({ model: int8Model, device, precision: 'fp32' }), model: int8Model } /* the variant package's own graphs */;
if (int8) console.log(`int8 variant: ${int8Model} (variants.int8 of ${model}: ${tessera.manifest.variants?.int8?.generator.step})`);
const report: Record<string, unknown> = { machine: machineLine(), cpuFlags: cpuFlagsLine(), model, precisions };
if (only.has('torch') || only.has('cold')) {
  report.torch = await versusTorch(tessera, { model, prompt: values.prompt as string, counts, rounds, cold: only.has('cold'), ...(int8 ? { int8 } : {}) });
}
if (only.has('ceiling')) {
  // Beside each precision's one-sampler step, its step in lanes as `tessera generate` samples (none when the package gets no lanes).
  const laned = async (dir: string) => Tessera.load({ model: dir, device, precision: 'fp32', rerank: false, lanes: 'auto' });
  const entries: CeilingEntry[] = [{ precision: 'fp32', tessera, laned: await laned(model) }, ...(int8 ? [{ precision: 'int8' as const, tessera: int8.tessera, laned: await laned(int8.model) }] : [])];
  report.ceiling = await ceiling(entries, device, join(model, tessera.manifest.generator.step), values['ceiling-candidates']?.split(',').map(Number) ?? [8, 32, 64, 128, 512], rounds);
  await Promise.all(entries.map((entry) => entry.laned?.dispose()));
}
if (only.has('mini')) report.mini = await versusTorchMini(values.prompt as string, values['mini-candidates']?.split(',').map(Number) ?? [32], rounds, 3, device, only.has('mini-cold'));
if (only.has('requests')) report.requests = await acrossRequests(model, values.prompt as string, rounds, values['serve-args']?.split(' ').filter(Boolean) ?? []);
if (only.has('scaling')) report.scaling = scaling(model, tessera.manifest, [1, 8, 32, 128, 512]);
await tessera.dispose();
await int8?.tessera.dispose();
console.log(`\n${machineLine()}`);
mkdirSync('out', { recursive: true });
writeFileSync('out/bench-perf.json', JSON.stringify(report, null, 2) + '\n');
console.log('wrote out/bench-perf.json');
