import { describe, expect, it } from 'vitest';
import { parseForecastCsv } from '../../src/carbon/forecast.js';
import { countdownLine, formatCountdown, greenWindows, planCarbonAware, renderPlan } from '../../src/carbon/plan.js';
import { isTesseraError } from '../../src/errors.js';

const KWH = 3.6e6;
const t = (hhmm: string): number => Date.parse(`2026-06-01T${hhmm}:00Z`);

// Half-hour periods from 00:00; under 200 g/kWh: 01:00–02:00 and 02:30–03:30.
const forecast = parseForecastCsv(
  ['timestamp,intensity', ...[300, 250, 150, 120, 280, 100, 90, 400].map((g, i) => `${new Date(t('00:00') + i * 1_800_000).toISOString()},${g}`)].join('\n'),
  'synthetic.csv',
);

const items = [
  { id: 'a', label: 'a red circle', durationS: 40 * 60, energyJ: KWH },
  { id: 'b', durationS: 30 * 60, energyJ: KWH },
  { id: 'c', durationS: 90 * 60, energyJ: KWH }, // longer than either window
  { id: 'd', durationS: 15 * 60, energyJ: KWH / 2 },
];

describe('planCarbonAware', () => {
  it('finds the stretches under the threshold', () => {
    expect(greenWindows(forecast, 200)).toEqual([
      { from: t('01:00'), to: t('02:00') },
      { from: t('02:30'), to: t('03:30') },
    ]);
  });

  it('gives exactly the expected plan on a synthetic forecast', () => {
    const plan = planCarbonAware(forecast, items, { start: t('00:00'), maxIntensity: 200 });
    expect(plan.items).toEqual([
      // a: waits an hour, runs 01:00–01:40 over 30 min at 150 and 10 min at 120.
      { id: 'a', label: 'a red circle', start: t('01:00'), end: t('01:40'), waitS: 3600, intensity: 142.5, gramsCO2e: 142.5 },
      // b: 01:40 + 30 min would cross into 280 at 02:00, so it waits for 02:30.
      { id: 'b', label: 'b', start: t('02:30'), end: t('03:00'), waitS: 3000, intensity: 100, gramsCO2e: 100 },
      // d: straight after b, at 90.
      { id: 'd', label: 'd', start: t('03:00'), end: t('03:15'), waitS: 0, intensity: 90, gramsCO2e: 45 },
    ]);
    expect(plan.unscheduled.map((u) => u.id)).toEqual(['c']);
    expect(plan.plannedGrams).toBeCloseTo(287.5, 9);
    // Now, back to back: a 00:00–00:40 (287.5), b 00:40–01:10 (216.67), d 01:10–01:25 (75).
    expect(plan.immediateGrams).toBeCloseTo(287.5 + 650 / 3 + 75, 9);
    expect(plan.end).toBe(t('03:15'));
  });

  it('runs at once when the grid is already clean, and compares with nothing past the forecast', () => {
    const clean = planCarbonAware(forecast, [items[3]!], { start: t('01:05'), maxIntensity: 200 });
    expect(clean.items[0]).toMatchObject({ start: t('01:05'), waitS: 0 });
    expect(clean.plannedGrams).toBeCloseTo(clean.immediateGrams!, 9);
    const late = planCarbonAware(forecast, [items[3]!, { id: 'e', durationS: 3600, energyJ: KWH }], { start: t('02:30'), maxIntensity: 500 });
    expect(late.items.map((i) => i.id)).toEqual(['d', 'e']);
    const past = planCarbonAware(forecast, [{ id: 'f', durationS: 3600, energyJ: KWH }, { id: 'g', durationS: 1800, energyJ: KWH }], { start: t('03:00'), maxIntensity: 500 });
    expect(past.items.map((i) => i.id)).toEqual(['f']);
    expect(past.unscheduled.map((i) => i.id)).toEqual(['g']);
  });

  it('renders the plan for --dry-run', () => {
    const text = renderPlan(planCarbonAware(forecast, items, { start: t('00:00'), maxIntensity: 200 }));
    expect(text.split('\n')).toEqual([
      'Carbon-aware plan: run only at <= 200 gCO2/kWh (forecast synthetic.csv), from 2026-06-01T00:00Z',
      '    1. 2026-06-01T01:00Z a red circle (40m 00s, 143 gCO2/kWh, 142.50 g CO2e; after waiting 1h 00m 00s)',
      '    2. 2026-06-01T02:30Z b (30m 00s, 100 gCO2/kWh, 100.00 g CO2e; after waiting 50m 00s)',
      '    3. 2026-06-01T03:00Z d (15m 00s, 90 gCO2/kWh, 45.00 g CO2e; no wait)',
      '  not planned: c (1h 30m 00s): no stretch of the forecast under the threshold holds it',
      'Planned: 3 item(s), 287.50 g CO2e, done by 2026-06-01T03:15Z (3h 15m 00s from the start).',
      'Running them all now: 579.17 g CO2e; the plan saves 291.67 g (50% less).',
    ]);
  });

  it('rejects a bad threshold or work item', () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        return isTesseraError(error) ? error.code : 'other';
      }
      return undefined;
    };
    expect(code(() => planCarbonAware(forecast, items, { start: 0, maxIntensity: -5 }))).toBe('TESSERA_ERR_OPTION');
    expect(code(() => planCarbonAware(forecast, [{ id: 'x', durationS: 0, energyJ: 1 }], { start: 0, maxIntensity: 100 }))).toBe('TESSERA_ERR_OPTION');
  });
});

describe('countdown', () => {
  it('formats what is left, rounding up', () => {
    expect(formatCountdown(0)).toBe('now');
    expect(formatCountdown(-5)).toBe('now');
    expect(formatCountdown(1)).toBe('1s');
    expect(formatCountdown(59_000)).toBe('59s');
    expect(formatCountdown(61_000)).toBe('1m 01s');
    expect(formatCountdown(3_723_000)).toBe('1h 02m 03s');
    const plan = planCarbonAware(forecast, items, { start: t('00:00'), maxIntensity: 200 });
    expect(countdownLine(plan.items[0]!, t('00:15'))).toBe('waiting for a cleaner grid: "a red circle" starts at 2026-06-01T01:00Z (143 gCO2/kWh) in 45m 00s');
  });
});
