import { TesseraError } from '../errors.js';
import type { WorkItem } from './plan.js';

/**
 * Estimates a work item's run time and energy before it runs, for the carbon-aware
 * plan: FLOPs (src/footprint/flops.ts, exact for the request's shape) over a FLOP rate
 * calibrated on this machine, times the power figure. The rate is best measured with
 * one warm-up generation (its FLOPs over its CPU seconds); docs/footprint.md's example
 * gives about 8 GFLOP per CPU-second for the shipped model on the project's machine.
 */
export interface Calibration {
  /** FLOPs per CPU-second the pipeline achieves here. */
  flopsPerCpuSecond: number;
  /** Cores the run keeps busy (onnxruntime's intra-op threads). */
  cores: number;
  /** Watts per busy core (the same figure as the energy estimate's). */
  wattsPerCore: number;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new TesseraError('TESSERA_ERR_ENERGY', `${name} must be a positive number, got ${value}`, { param: name });
  return value;
}

/** Calibrates from one measured run: its FLOPs, CPU seconds and wall seconds. */
export function calibrate(run: { flops: number; cpuSeconds: number; wallSeconds: number }, wattsPerCore: number): Calibration {
  const cpu = positive(run.cpuSeconds, 'cpuSeconds');
  return {
    flopsPerCpuSecond: positive(run.flops, 'flops') / cpu,
    cores: Math.max(1, cpu / positive(run.wallSeconds, 'wallSeconds')),
    wattsPerCore: positive(wattsPerCore, 'wattsPerCore'),
  };
}

export function estimateItem(id: string, flops: number, calibration: Calibration, label?: string): WorkItem {
  const cpuSeconds = positive(flops, 'flops') / positive(calibration.flopsPerCpuSecond, 'flopsPerCpuSecond');
  return {
    id,
    label: label ?? id,
    durationS: cpuSeconds / positive(calibration.cores, 'cores'),
    energyJ: cpuSeconds * positive(calibration.wattsPerCore, 'wattsPerCore'),
  };
}
