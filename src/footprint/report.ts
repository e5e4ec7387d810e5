import type { Footprint, PhaseBytes, StageBytes, StageFlops } from '../types.js';
import { startEnergy, stopEnergy, type EnergyOptions, type EnergySnapshot } from './energy.js';
import { DEFAULT_GRID, gramsCO2e, gridIntensityAt, type GridSetting } from './grid.js';

export { DEFAULT_GRID };

export type { Footprint };

/**
 * The footprint of one generation (or one batch): FLOPs per stage, the generator's bytes
 * per phase, wall and CPU time,
 * energy with its method, and gCO2e at the grid intensity of when it ran. One JSON
 * shape for the API's extension field, batch records and manifest; one line for the
 * CLI summary; flat text entries for PNG metadata.
 */
export interface FootprintSettings {
  grid: GridSetting;
  energy?: EnergyOptions;
  /** The clock the grid intensity is read at (default Date.now; tests of carbon-aware runs fake it). */
  now?: () => number;
}

export function startFootprint(settings: FootprintSettings): EnergySnapshot {
  return startEnergy(settings.energy);
}

/** Closes a measurement: `flops` comes from generationFlops for what actually ran. */
export function finishFootprint(snapshot: EnergySnapshot, flops: StageFlops | null, settings: FootprintSettings, at: number = (settings.now ?? Date.now)()): Footprint {
  const energy = stopEnergy(snapshot, settings.energy);
  const grid = gridIntensityAt(settings.grid, at);
  return {
    flops,
    wallSeconds: energy.wallSeconds,
    cpuSeconds: energy.cpuSeconds,
    energyJoules: energy.joules,
    energyMethod: energy.method,
    energyNote: energy.methodNote,
    gridGPerKWh: grid.gPerKWh,
    gridSource: grid.source,
    co2eGrams: gramsCO2e(energy.joules, grid.gPerKWh),
  };
}

/** Sums footprints (a batch's manifest): FLOPs, times and energy add; intensity is energy-weighted. */
export function sumFootprints(parts: readonly Footprint[]): Footprint | null {
  if (parts.length === 0) return null;
  const add = (pick: (f: Footprint) => number): number => parts.reduce((s, f) => s + pick(f), 0);
  const stages = ['prefill', 'decode', 'vqDecode', 'clipText', 'clipVision', 'total'] as const;
  // FLOPs add up only when every part was counted.
  const flops = parts.every((f) => f.flops !== null) ? (Object.fromEntries(stages.map((k) => [k, add((f) => f.flops![k])])) as unknown as StageFlops) : null;
  const joules = add((f) => f.energyJoules);
  const grams = add((f) => f.co2eGrams);
  const methods = new Set(parts.map((f) => f.energyMethod));
  const sources = new Set(parts.map((f) => f.gridSource));
  // Bytes add up only when every part was counted, as FLOPs do.
  const bytes = parts.every((f) => f.bytes !== undefined) ? sumBytes(parts.map((f) => f.bytes!)) : undefined;
  return {
    flops,
    wallSeconds: add((f) => f.wallSeconds),
    cpuSeconds: add((f) => f.cpuSeconds),
    energyJoules: joules,
    energyMethod: methods.size === 1 ? parts[0]!.energyMethod : 'cpu-time',
    energyNote: methods.size === 1 ? parts[0]!.energyNote.replace(/ × [\d.]+ s CPU time/, ' × CPU time') : 'mixed: some parts measured by RAPL, some estimated from CPU time',
    gridGPerKWh: joules > 0 ? (grams / joules) * 3.6e6 : parts[0]!.gridGPerKWh,
    gridSource: sources.size === 1 ? parts[0]!.gridSource : 'several',
    co2eGrams: grams,
    ...(bytes === undefined ? {} : { bytes }),
  };
}

function sumBytes(parts: readonly StageBytes[]): StageBytes {
  const phase = (pick: (b: StageBytes) => PhaseBytes): PhaseBytes => {
    const add = (k: keyof PhaseBytes): number => parts.reduce((s, b) => s + pick(b)[k], 0);
    return { weights: add('weights'), kvRead: add('kvRead'), kvWritten: add('kvWritten'), activations: add('activations'), total: add('total') };
  };
  return { prefill: phase((b) => b.prefill), decode: phase((b) => b.decode), total: parts.reduce((s, b) => s + b.total, 0) };
}

/**
 * JSON for the API (`tessera_footprint`), batch records and the batch manifest: snake_case,
 * as the API's other fields, and stable (clients read it). The PNG's `tessera:footprint`
 * chunk (src/image/metadata.ts) carries the Footprint object itself, camelCase: its bytes
 * are pinned by the golden tests and read back by `tessera info`. docs/footprint.md has both.
 */
export function footprintJson(f: Footprint): Record<string, unknown> {
  const { flops } = f;
  return {
    flops: flops === null ? null : { prefill: flops.prefill, decode: flops.decode, vq_decode: flops.vqDecode, clip_text: flops.clipText, clip_vision: flops.clipVision, total: flops.total },
    wall_s: round(f.wallSeconds, 3),
    cpu_s: round(f.cpuSeconds, 3),
    energy_j: round(f.energyJoules, 3),
    energy_method: f.energyMethod,
    energy_note: f.energyNote,
    grid_intensity_g_per_kwh: round(f.gridGPerKWh, 1),
    grid_source: f.gridSource,
    co2e_g: round(f.co2eGrams, 6),
    // Added after the keys clients already read (issue 30): the generator's bytes per phase.
    ...(f.bytes === undefined ? {} : { bytes: bytesJson(f.bytes) }),
  };
}

function bytesJson(b: StageBytes): Record<string, unknown> {
  const phase = (p: PhaseBytes): Record<string, number> => ({ weights: p.weights, kv_read: p.kvRead, kv_written: p.kvWritten, activations: p.activations, total: p.total });
  return { prefill: phase(b.prefill), decode: phase(b.decode), total: b.total };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** "49.6 GFLOP (decode 42.3), 3.2 s wall / 5.9 s CPU, 59 J (estimate: …), 3.3 mg CO2e at 200 g/kWh (fixed)" */
export function formatFootprint(f: Footprint): string {
  const g = (flops: number): string => (flops / 1e9).toFixed(1);
  const co2 = f.co2eGrams >= 1 ? `${f.co2eGrams.toFixed(2)} g` : `${(f.co2eGrams * 1000).toFixed(2)} mg`;
  const flops = f.flops === null ? 'FLOPs not counted' : `${g(f.flops.total)} GFLOP (prefill ${g(f.flops.prefill)}, decode ${g(f.flops.decode)}, VQ decode ${g(f.flops.vqDecode)}, CLIP ${g(f.flops.clipText + f.flops.clipVision)})`;
  return (
    `${flops}, ` +
    `${f.wallSeconds.toFixed(1)} s wall / ${f.cpuSeconds.toFixed(1)} s CPU, ${f.energyJoules.toFixed(1)} J (${f.energyNote}), ` +
    `${co2} CO2e at ${Math.round(f.gridGPerKWh)} gCO2/kWh (${f.gridSource})`
  );
}

/**
 * The part of a shared measurement that belongs to one request: several requests run
 * in one sampler batch share their energy and time, so each gets the share of the
 * measured energy that its own FLOPs are of the batch's (FLOPs are exact per request:
 * rows are). The note says so.
 */
export function shareOf(shared: Footprint, own: StageFlops): Footprint {
  const share = shared.flops !== null && shared.flops.total > 0 ? own.total / shared.flops.total : 0;
  return partOf(shared, share, own, 'FLOPs share');
}

/**
 * `share` (0–1) of a measurement, `basis` saying what the share is of; wall time stays
 * (the work took that long whoever else ran beside it).
 */
export function partOf(shared: Footprint, share: number, flops: StageFlops | null, basis: string): Footprint {
  return {
    ...shared,
    flops,
    cpuSeconds: shared.cpuSeconds * share,
    energyJoules: shared.energyJoules * share,
    energyNote: `${(share * 100).toFixed(1)}% (${basis}) of a shared run: ${shared.energyNote}`,
    co2eGrams: shared.co2eGrams * share,
  };
}
