/**
 * Levers measured one by one (issue 12): variants of the same model (a package folder plus
 * session settings) loaded in one process and alternated, the same prompt and seeds;
 * median decode ms per step of each (wall and process CPU time: the CPU time is what a
 * machine shared with other jobs disturbs least), its ratio to the first variant, and whether every
 * variant draws the first one's tokens.
 *
 * A variant is `label=DIR[:spin][:int8]`: `:spin` creates its sessions with thread spinning on;
 * `:int8` runs the package's int8 variant (manifest `variants.int8`, through variant-package.ts).
 */
import { Tessera } from '../../src/pipeline/tessera.js';
import { median, table } from './machine.js';
import { variantPackage } from './variant-package.js';

export interface Variant {
  label: string;
  model: string;
  spin: boolean;
}

export function parseVariants(text: string): Variant[] {
  return text.split(',').map((item) => {
    const [label, rest] = item.split('=');
    const [model, ...flags] = (rest ?? '').split(':');
    if (!label || !model) throw new Error(`variant ${JSON.stringify(item)}: expected label=DIR[:spin][:int8]`);
    return { label, model: flags.includes('int8') ? variantPackage(model) : model, spin: flags.includes('spin') };
  });
}

async function load(variant: Variant): Promise<Tessera> {
  const before = process.env.TESSERA_SPIN;
  process.env.TESSERA_SPIN = variant.spin ? '1' : '0'; // read once, when the sessions are created
  try {
    return await Tessera.load({ model: variant.model, precision: 'fp32' }); // each variant's own graphs, not auto's pick
  } finally {
    if (before === undefined) delete process.env.TESSERA_SPIN;
    else process.env.TESSERA_SPIN = before;
  }
}

export async function compareLevers(variants: readonly Variant[], prompt: string, counts: readonly number[], rounds: number): Promise<Record<string, unknown>[]> {
  const loaded = [];
  for (const v of variants) loaded.push({ variant: v, tessera: await load(v) });
  const times = new Map<string, number[]>();
  const prefill = new Map<string, number[]>();
  const cpuTimes = new Map<string, number[]>();
  const same = new Map<string, number>();
  for (const { tessera } of loaded) await tessera.model.sampler.generate(tessera.prepare({ prompt, seed: 1, candidates: Math.max(...counts) }).sequences); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const count of counts) {
      let first: Int32Array[] | null = null;
      for (const { variant, tessera } of loaded) {
        const { sampler } = tessera.model;
        const prepared = tessera.prepare({ prompt, seed: 7 + round, candidates: count });
        const t0 = performance.now();
        const state = await sampler.prefill(prepared.sequences);
        const t1 = performance.now();
        const cpu = process.cpuUsage();
        await sampler.decodeSteps(state, sampler.imageTokens);
        const used = process.cpuUsage(cpu);
        const t2 = performance.now();
        const key = `${variant.label}@${count}`;
        cpuTimes.set(key, [...(cpuTimes.get(key) ?? []), (used.user + used.system) / 1000 / sampler.imageTokens]);
        times.set(key, [...(times.get(key) ?? []), (t2 - t1) / sampler.imageTokens]);
        prefill.set(key, [...(prefill.get(key) ?? []), t1 - t0]);
        if (first === null) first = state.codes;
        const reference = first;
        same.set(variant.label, (same.get(variant.label) ?? 0) + state.codes.filter((c, i) => c.every((v, k) => v === reference[i][k])).length);
      }
    }
  }
  const rows = [];
  for (const count of counts) {
    const base = median(times.get(`${variants[0].label}@${count}`) ?? []);
    const baseCpu = median(cpuTimes.get(`${variants[0].label}@${count}`) ?? []);
    for (const { variant } of loaded) {
      const key = `${variant.label}@${count}`;
      const ms = median(times.get(key) ?? []);
      const cpuMs = median(cpuTimes.get(key) ?? []);
      rows.push({ candidates: count, variant: variant.label, msPerStep: ms, prefillMs: median(prefill.get(key) ?? []), speedup: base / ms, cpuMsPerStep: cpuMs, cpuSpeedup: baseCpu / cpuMs });
    }
  }
  const total = counts.reduce((a, c) => a + c, 0) * rounds;
  console.log(`\nlevers: decode ms per step (median of ${rounds} alternating rounds), speed-up against ${variants[0].label}:`);
  console.log(
    table(
      ['candidates', 'variant', 'ms/step', 'prefill ms', 'speed-up', 'CPU ms/step', 'CPU-time speed-up', 'same tokens as first'],
      rows.map((r) => [r.candidates, r.variant, r.msPerStep.toFixed(2), r.prefillMs.toFixed(1), `${r.speedup.toFixed(2)}x`, r.cpuMsPerStep.toFixed(2), `${r.cpuSpeedup.toFixed(2)}x`, `${same.get(r.variant)}/${total}`]),
    ),
  );
  for (const { tessera } of loaded) await tessera.dispose();
  return rows;
}
