import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { counterDelta, readRapl, startEnergy, stopEnergy } from '../../src/footprint/energy.js';
import { gramsCO2e, gridIntensityAt } from '../../src/footprint/grid.js';
import { finishFootprint, footprintJson, formatFootprint, startFootprint, sumFootprints } from '../../src/footprint/report.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'tessera-powercap-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function zone(name: string, energy: number, max: number, label = 'package-0'): void {
  mkdirSync(path.join(root, name), { recursive: true });
  writeFileSync(path.join(root, name, 'energy_uj'), `${energy}\n`);
  writeFileSync(path.join(root, name, 'max_energy_range_uj'), `${max}\n`);
  writeFileSync(path.join(root, name, 'name'), `${label}\n`);
}

function busy(ms: number): void {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  expect(x).toBeGreaterThan(0);
}

const flops = { prefill: 1, decode: 2, vqDecode: 3, clipText: 4, clipVision: 5, total: 15 };

describe('energy', () => {
  it('reads top-level RAPL zones only and handles a counter that wrapped', () => {
    zone('intel-rapl:0', 1_000_000, 262_143_328_850);
    zone('intel-rapl:0:0', 999, 262_143_328_850, 'core'); // inside package 0: not added again
    zone('intel-rapl:1', 262_143_000_000, 262_143_328_850, 'package-1');
    expect(readRapl(root)!.map((z) => z.zone)).toEqual(['intel-rapl:0', 'intel-rapl:1']);
    const before = startEnergy({ powercapRoot: root });
    zone('intel-rapl:0', 3_000_000, 262_143_328_850); // +2 J
    zone('intel-rapl:1', 671_150, 262_143_328_850, 'package-1'); // wrapped: +1 J
    const reading = stopEnergy(before, { powercapRoot: root });
    expect(reading.method).toBe('rapl');
    expect(reading.joules).toBeCloseTo(3, 6);
    expect(reading.methodNote).toContain('package-0, package-1');
    expect(counterDelta(10, 4, 20)).toBe(14);
  });

  it('estimates from CPU time and the configured power when RAPL is absent or unreadable', () => {
    expect(readRapl(path.join(root, 'nothing-here'))).toBeNull();
    mkdirSync(path.join(root, 'intel-rapl:0')); // no energy_uj: as when it is root-only
    expect(readRapl(root)).toBeNull();
    const before = startEnergy({ powercapRoot: root });
    busy(60);
    const reading = stopEnergy(before, { powercapRoot: root, wattsPerCore: 20 });
    expect(reading.method).toBe('cpu-time');
    expect(reading.cpuSeconds).toBeGreaterThan(0);
    expect(reading.joules).toBeCloseTo(20 * reading.cpuSeconds, 9);
    expect(reading.methodNote).toContain('20 W per busy core');
    process.env.TESSERA_WATTS_PER_CORE = '7.5';
    try {
      expect(stopEnergy(before, { powercapRoot: root }).methodNote).toContain('7.5 W per busy core');
    } finally {
      delete process.env.TESSERA_WATTS_PER_CORE;
    }
    let code: string | undefined;
    try {
      stopEnergy(before, { powercapRoot: root, wattsPerCore: -1 });
    } catch (error) {
      code = isTesseraError(error) ? error.code : 'other';
    }
    expect(code).toBe('TESSERA_ERR_ENERGY');
  });
});

describe('grid intensity and the footprint', () => {
  it('turns energy into gCO2e at a fixed figure or at the signal file\'s period', () => {
    expect(gramsCO2e(3.6e6, 250)).toBe(250);
    expect(gridIntensityAt({ kind: 'fixed', gPerKWh: 180 }, 0)).toEqual({ gPerKWh: 180, source: 'fixed' });
    const file = path.join(root, 'signal.csv');
    writeFileSync(file, 'timestamp,intensity\n2026-01-01T00:00Z,300\n2026-01-01T00:30Z,120\n');
    const at = Date.parse('2026-01-01T00:45Z');
    expect(gridIntensityAt({ kind: 'signal', file }, at).gPerKWh).toBe(120);
    let code: string | undefined;
    try {
      gridIntensityAt({ kind: 'signal', file }, Date.parse('2026-01-02T00:00Z'));
    } catch (error) {
      code = isTesseraError(error) ? error.code : 'other';
    }
    expect(code).toBe('TESSERA_ERR_FORECAST');
  });

  it('is consistent: gCO2e = energy × intensity, and sums add up', () => {
    const settings = { grid: { kind: 'fixed' as const, gPerKWh: 400 }, energy: { useRapl: false, wattsPerCore: 15 } };
    const snap = startFootprint(settings);
    busy(40);
    const f = finishFootprint(snap, flops, settings);
    expect(f.energyMethod).toBe('cpu-time');
    expect(f.energyJoules).toBeCloseTo(15 * f.cpuSeconds, 9);
    expect(f.co2eGrams).toBeCloseTo((f.energyJoules / 3.6e6) * 400, 12);
    const json = footprintJson(f);
    expect(json).toMatchObject({ flops: { total: 15, vq_decode: 3 }, energy_method: 'cpu-time', grid_intensity_g_per_kwh: 400, grid_source: 'fixed' });
    expect(formatFootprint(f)).toContain('CO2e at 400 gCO2/kWh (fixed)');
    const other = { ...f, energyJoules: 2 * f.energyJoules, co2eGrams: (2 * f.energyJoules * 100) / 3.6e6, gridGPerKWh: 100 };
    const sum = sumFootprints([f, other])!;
    expect(sum.flops!.total).toBe(30);
    expect(sum.energyJoules).toBeCloseTo(3 * f.energyJoules, 9);
    expect(sum.co2eGrams).toBeCloseTo(f.co2eGrams + other.co2eGrams, 12);
    expect(sum.gridGPerKWh).toBeCloseTo(200, 6); // energy-weighted: (1×400 + 2×100) / 3
    expect(sumFootprints([])).toBeNull();
  });
});
