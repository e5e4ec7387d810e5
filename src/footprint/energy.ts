import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import type { EnergyMethod } from '../types.js';

/**
 * Energy of a piece of work, measured where the machine lets us, estimated otherwise,
 * and always saying which. Intel RAPL (and AMD's, under the same powercap name) counts
 * package energy in microjoules under /sys/class/powercap; the counter wraps at
 * max_energy_range_uj. Without it (containers, VMs, non-x86, no read permission) the
 * estimate is a configured power per busy core times this process's CPU time.
 */

export const DEFAULT_POWERCAP_ROOT = '/sys/class/powercap';
/** Watts per fully busy core when nothing is measured: a mid-range server core at load. */
export const DEFAULT_WATTS_PER_CORE = 10;

export interface RaplZone {
  /** Folder name, e.g. intel-rapl:0. */
  zone: string;
  /** The zone's own name, e.g. package-0. */
  name: string;
  energyUj: number;
  maxEnergyRangeUj: number;
}

/**
 * Reads the top-level RAPL zones (one per CPU package). Sub-zones (core, uncore,
 * dram: intel-rapl:0:0 …) are inside their package's count, so they are left out to
 * avoid counting twice. Returns null when there is no readable zone.
 */
export function readRapl(root: string = DEFAULT_POWERCAP_ROOT): RaplZone[] | null {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return null;
  }
  const zones: RaplZone[] = [];
  for (const zone of entries.filter((e) => /^(intel|amd)-rapl:\d+$/.test(e)).sort()) {
    try {
      const read = (file: string): string => readFileSync(path.join(root, zone, file), 'utf8').trim();
      const energyUj = Number(read('energy_uj'));
      const maxEnergyRangeUj = Number(read('max_energy_range_uj'));
      if (!Number.isFinite(energyUj) || !Number.isFinite(maxEnergyRangeUj) || maxEnergyRangeUj <= 0) continue;
      let name = zone;
      try {
        name = read('name');
      } catch {
        // the name is only a label
      }
      zones.push({ zone, name, energyUj, maxEnergyRangeUj });
    } catch {
      // energy_uj is root-only on kernels since 5.10 (CVE-2020-8694): treat as absent
    }
  }
  return zones.length > 0 ? zones : null;
}

/** Microjoules between two readings of one counter that may have wrapped once. */
export function counterDelta(before: number, after: number, range: number): number {
  return after >= before ? after - before : after + range - before;
}

export interface EnergySnapshot {
  rapl: RaplZone[] | null;
  cpu: NodeJS.CpuUsage;
  wallMs: number;
}

export type { EnergyMethod };

export interface EnergyReading {
  joules: number;
  method: EnergyMethod;
  /** How the figure was obtained, in words, for summaries and metadata. */
  methodNote: string;
  /** This process's user + system CPU time. */
  cpuSeconds: number;
  wallSeconds: number;
}

export interface EnergyOptions {
  /** Watts per busy core for the CPU-time estimate; else TESSERA_WATTS_PER_CORE; else 10. */
  wattsPerCore?: number;
  powercapRoot?: string;
  /** Set false to use the CPU-time estimate even where RAPL is readable. */
  useRapl?: boolean;
}

export function checkWatts(value: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > 10_000) {
    throw new TesseraError('TESSERA_ERR_ENERGY', `device power must be a number of watts in (0, 10000], got ${value}`, { param: 'watts-per-core' });
  }
  return value;
}

/** Reads RAPL, CPU time and the clock before a piece of work. */
export function startEnergy(options: EnergyOptions = {}): EnergySnapshot {
  const rapl = options.useRapl === false ? null : readRapl(options.powercapRoot);
  return { rapl, cpu: process.cpuUsage(), wallMs: performance.now() };
}

/**
 * Energy since `before`. RAPL counts the whole package, every process on it: on a
 * shared machine it is an upper bound for this work, and the note says so.
 */
export function stopEnergy(before: EnergySnapshot, options: EnergyOptions = {}): EnergyReading {
  const cpu = process.cpuUsage(before.cpu);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const wallSeconds = (performance.now() - before.wallMs) / 1000;
  if (before.rapl !== null) {
    const after = readRapl(options.powercapRoot);
    if (after !== null) {
      let uj = 0;
      for (const zone of before.rapl) {
        const now = after.find((z) => z.zone === zone.zone);
        if (now !== undefined) uj += counterDelta(zone.energyUj, now.energyUj, zone.maxEnergyRangeUj);
      }
      const names = before.rapl.map((z) => z.name).join(', ');
      return { joules: uj / 1e6, method: 'rapl', methodNote: `RAPL package counters (${names}); whole package, all processes`, cpuSeconds, wallSeconds };
    }
  }
  const fromEnv = process.env.TESSERA_WATTS_PER_CORE;
  const watts = checkWatts(options.wattsPerCore ?? (fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : DEFAULT_WATTS_PER_CORE));
  return {
    joules: watts * cpuSeconds,
    method: 'cpu-time',
    methodNote: `estimate: ${watts} W per busy core × ${cpuSeconds.toFixed(3)} s CPU time (no readable RAPL counter)`,
    cpuSeconds,
    wallSeconds,
  };
}
