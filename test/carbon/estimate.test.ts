import { describe, expect, it } from 'vitest';
import { calibrate, estimateItem } from '../../src/carbon/estimate.js';
import type { PlannedItem } from '../../src/carbon/plan.js';
import { waitForStart } from '../../src/carbon/wait.js';
import { isTesseraError } from '../../src/errors.js';
import { shareOf, type Footprint } from '../../src/footprint/report.js';

describe('work estimates', () => {
  it('calibrate from one run and scale by FLOPs', () => {
    const c = calibrate({ flops: 28e9, cpuSeconds: 3.5, wallSeconds: 1.75 }, 10);
    expect(c).toEqual({ flopsPerCpuSecond: 8e9, cores: 2, wattsPerCore: 10 });
    expect(estimateItem('p1', 56e9, c, 'a red circle')).toEqual({ id: 'p1', label: 'a red circle', durationS: 3.5, energyJ: 70 });
    let code: string | undefined;
    try {
      calibrate({ flops: 1, cpuSeconds: 0, wallSeconds: 1 }, 10);
    } catch (error) {
      code = isTesseraError(error) ? error.code : 'other';
    }
    expect(code).toBe('TESSERA_ERR_ENERGY');
  });
});

describe('waitForStart', () => {
  const item: PlannedItem = { id: 'a', label: 'a red circle', start: 10_000, end: 20_000, waitS: 10, intensity: 120, gramsCO2e: 1 };

  it('ticks the countdown until the start, then returns', async () => {
    let clock = 7_500;
    const lines: string[] = [];
    await waitForStart(item, { now: () => clock, sleep: async (ms) => void (clock += ms), onTick: (line) => lines.push(line) });
    expect(clock).toBe(10_000);
    expect(lines).toEqual([
      'waiting for a cleaner grid: "a red circle" starts at 1970-01-01T00:00Z (120 gCO2/kWh) in 3s',
      'waiting for a cleaner grid: "a red circle" starts at 1970-01-01T00:00Z (120 gCO2/kWh) in 2s',
      'waiting for a cleaner grid: "a red circle" starts at 1970-01-01T00:00Z (120 gCO2/kWh) in 1s',
    ]);
  });

  it('returns at once when the start has passed, and stops when aborted', async () => {
    const ticks: number[] = [];
    await waitForStart(item, { now: () => 12_000, onTick: (_l, ms) => ticks.push(ms) });
    expect(ticks).toEqual([]);
    const controller = new AbortController();
    let clock = 0;
    let code: string | undefined;
    try {
      await waitForStart(item, { now: () => clock, sleep: async (ms) => { clock += ms; if (clock >= 2000) controller.abort(); }, signal: controller.signal });
    } catch (error) {
      code = isTesseraError(error) ? error.code : 'other';
    }
    expect(code).toBe('TESSERA_ERR_CANCELLED');
    expect(clock).toBe(2000);
  });
});

describe('shareOf', () => {
  it('gives a request its FLOPs share of a shared batch', () => {
    const flops = (total: number) => ({ prefill: 0, decode: total, vqDecode: 0, clipText: 0, clipVision: 0, total });
    const shared: Footprint = { flops: flops(400), wallSeconds: 2, cpuSeconds: 4, energyJoules: 40, energyMethod: 'cpu-time', energyNote: 'estimate', gridGPerKWh: 360, gridSource: 'fixed', co2eGrams: 0.004 };
    const part = shareOf(shared, flops(100));
    expect(part).toMatchObject({ cpuSeconds: 1, energyJoules: 10, co2eGrams: 0.001, wallSeconds: 2, gridGPerKWh: 360 });
    expect(part.energyNote).toBe('25.0% (FLOPs share) of a shared run: estimate');
  });
});
