import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runBatch } from '../../src/batch/runner.js';
import { parseForecastCsv } from '../../src/carbon/forecast.js';
import { main } from '../../src/cli/main.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { tempDir, TINY_MODEL, writeText } from './helpers.js';

/**
 * `tessera batch --carbon-signal --max-intensity [--dry-run]` on a synthetic forecast and
 * a fake clock: the plan is exactly the expected one, the run waits for it (the
 * countdown says so) and reports measured emissions against running at once.
 */
let tessera: Tessera;
const dir = tempDir('batch-carbon');
beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL });
});
afterAll(async () => {
  await tessera.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.parse('2026-06-01T00:00:00Z');
const MIN = 60_000;
// 30-minute periods: only 00:30–01:00 (100) and 01:30–02:30 (90, 95) are at or under 120.
const FORECAST = parseForecastCsv(
  ['timestamp,intensity', '2026-06-01T00:00Z,300', '2026-06-01T00:30Z,100', '2026-06-01T01:00Z,400', '2026-06-01T01:30Z,90', '2026-06-01T02:00Z,95', '2026-06-01T02:30Z,500'].join('\n'),
  'synthetic.csv',
);
const prompts = writeText(dir, 'p.txt', 'a red circle\ntwo blue squares\na green star\n');
const WATTS = 10;

/** A calibration that makes every one-prompt batch of 2 candidates take exactly 20 minutes (one core). */
function twentyMinutes(): { flopsPerCpuSecond: number; cores: number; wattsPerCore: number } {
  const task = tessera.prepare({ prompt: 'a red circle', candidates: 2, guidanceScale: 1 });
  return { flopsPerCpuSecond: tessera.flopsOf(task, 0)!.total / (20 * 60), cores: 1, wattsPerCore: WATTS };
}

function fakeClock(start: number) {
  let t = start;
  const slept: number[] = [];
  return { now: () => t, sleep: async (ms: number) => void (slept.push(ms), (t += ms)), slept };
}

const base = () => ({ prompts, tessera, candidates: 2, keep: 1, seed: 1, guidanceScale: 1, batchPrompts: 1 });

describe('carbon-aware batch', () => {
  it('--dry-run: exactly the expected plan, and nothing is written', async () => {
    const out = path.join(dir, 'dry');
    const clock = fakeClock(T0);
    const summary = await runBatch({ ...base(), out, carbon: { forecast: FORECAST, maxIntensity: 120, dryRun: true, calibration: twentyMinutes(), now: clock.now, sleep: clock.sleep } });
    const plan = summary.carbon!.plan;
    expect(plan.items.map((p) => [p.label, new Date(p.start).toISOString(), new Date(p.end).toISOString(), p.waitS, p.intensity])).toEqual([
      ['a red circle', '2026-06-01T00:30:00.000Z', '2026-06-01T00:50:00.000Z', 30 * 60, 100],
      ['two blue squares', '2026-06-01T01:30:00.000Z', '2026-06-01T01:50:00.000Z', 40 * 60, 90], // 00:50–01:10 would cross into 400
      ['a green star', '2026-06-01T01:50:00.000Z', '2026-06-01T02:10:00.000Z', 0, 92.5], // 10 min at 90, 10 at 95
    ]);
    // 20 CPU-minutes at 10 W = 12 kJ per batch.
    const grams = (g: number) => (12_000 / 3.6e6) * g;
    expect(plan.plannedGrams).toBeCloseTo(grams(100) + grams(90) + grams(92.5), 12);
    // At once, back to back from 00:00: 20 min at 300; 10 at 300 and 10 at 100; 20 at 100.
    expect(plan.immediateGrams).toBeCloseTo(grams(300) + grams((10 * 300 + 10 * 100) / 20) + grams(100), 12);
    expect(summary.carbon!.planText).toContain('  1. 2026-06-01T00:30Z a red circle (20m 00s, 100 gCO2/kWh, 333.33 mg CO2e; after waiting 30m 00s)');
    expect(summary.generated).toBe(0);
    expect(clock.slept).toEqual([]);
    expect(existsSync(path.join(out, 'records'))).toBe(false);
    expect(existsSync(path.join(out, 'manifest.jsonl'))).toBe(false);
  });

  it('runs each batch only in its stretch, waiting with a countdown; reports measured emissions against running at once', async () => {
    const out = path.join(dir, 'run');
    const clock = fakeClock(T0);
    const ticks: string[] = [];
    // Footprints read the forecast at the (fake) time each prompt finished.
    tessera.footprintSettings = { grid: { kind: 'signal', file: 'synthetic.csv', forecast: FORECAST }, now: clock.now };
    const summary = await runBatch({ ...base(), out, carbon: { forecast: FORECAST, maxIntensity: 120, calibration: twentyMinutes(), now: clock.now, sleep: clock.sleep, onTick: (line) => ticks.push(line) } });
    expect(summary.generated).toBe(3);
    const carbon = summary.carbon!;
    // The fake clock stands still while generating: each batch starts at its planned time.
    expect(carbon.ran.map((r) => new Date(r.start).toISOString())).toEqual(['2026-06-01T00:30:00.000Z', '2026-06-01T01:30:00.000Z', '2026-06-01T01:50:00.000Z']);
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBe(110 * MIN); // 30 min, then 01:30 − 00:30 = 60 min, then 20 min
    expect(ticks[0]).toBe('waiting for a cleaner grid: "a red circle" starts at 2026-06-01T00:30Z (100 gCO2/kWh) in 30m 00s');
    expect(ticks).toContain('waiting for a cleaner grid: "two blue squares" starts at 2026-06-01T01:30Z (90 gCO2/kWh) in 1h 00m 00s');
    // Measured energy of each batch (its prompt's footprint) × the forecast where it ran: 100, 90, 90.
    const lines = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { timings: { footprint: { energy_j: number; grid_intensity_g_per_kwh: number } } });
    expect(lines.map((l) => l.timings.footprint.grid_intensity_g_per_kwh)).toEqual([100, 90, 90]);
    const energy = carbon.ran.map((r) => r.energyJ);
    lines.forEach((l, i) => expect(l.timings.footprint.energy_j).toBeCloseTo(energy[i], 2));
    expect(carbon.measuredGrams).toBeCloseTo((energy[0] * 100 + energy[1] * 90 + energy[2] * 90) / 3.6e6, 12);
    expect(carbon.immediateGrams).toBeCloseTo(((energy[0] + energy[1] + energy[2]) * 300) / 3.6e6, 12); // at once: all at 00:00, in the 300 period
    expect(carbon.unplanned).toEqual([]);
  });

  it('batches no stretch under the threshold holds are left undone and listed', async () => {
    const out = path.join(dir, 'none');
    const clock = fakeClock(T0);
    const summary = await runBatch({ ...base(), out, carbon: { forecast: FORECAST, maxIntensity: 50, calibration: twentyMinutes(), now: clock.now, sleep: clock.sleep } });
    expect(summary.generated).toBe(0);
    expect(summary.carbon!.unplanned).toEqual([0, 1, 2]);
    expect(summary.carbon!.planText).toContain('not planned: a red circle (20m 00s): no stretch of the forecast under the threshold holds it');
  });
});

describe('tessera batch carbon flags', () => {
  let stderr = '';
  let stdout = '';
  afterEach(() => vi.restoreAllMocks());
  const capture = () => {
    stderr = '';
    stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  };
  const cli = (...args: string[]) => main(['batch', prompts, '--out', path.join(dir, 'cli'), '--model', TINY_MODEL, '--candidates', '2', ...args]);

  it('malformed forecasts and missing flags get clear coded errors', async () => {
    capture();
    const csv = writeText(dir, 'bad.csv', 'timestamp,intensity\n2026-06-01T00:00Z,120\n2026-06-01T00:30,90\n');
    expect(await cli('--carbon-signal', csv, '--max-intensity', '100')).toBe(1);
    expect(stderr).toMatch(/\[TESSERA_ERR_FORECAST\]: .*bad\.csv: line 3, field timestamp: expected an ISO 8601 time with a zone/);
    const json = writeText(dir, 'bad.json', '{"data":[{"from":"2026-06-01T00:00Z","to":"2026-05-01T00:30Z","intensity":{"forecast":90}}]}');
    expect(await cli('--carbon-signal', json, '--max-intensity', '100')).toBe(1);
    expect(stderr).toMatch(/bad\.json: data\[0\]\.to: must be after from/);
    const good = writeText(dir, 'good.csv', 'timestamp,intensity\n2026-06-01T00:00Z,120\n2026-06-01T00:30Z,90\n');
    expect(await cli('--carbon-signal', good)).toBe(2);
    expect(stderr).toMatch(/\[TESSERA_ERR_OPTION\]: --carbon-signal needs --max-intensity/);
    expect(await cli('--carbon-signal', good, '--max-intensity=-5')).toBe(2);
    expect(stderr).toMatch(/--max-intensity must be a number of gCO2\/kWh from 0 to 5000, got -5/);
    expect(await cli('--dry-run')).toBe(2);
    expect(stderr).toMatch(/--dry-run needs --carbon-signal FILE/);
    expect(await cli('--carbon-signal', path.join(dir, 'absent.csv'), '--max-intensity', '100')).toBe(1);
    expect(stderr).toMatch(/\[TESSERA_ERR_INPUT_FILE\]: cannot read the carbon signal file/);
  });

  it('--dry-run prints the plan (calibrated on a warm-up generation) and exits 0', async () => {
    capture();
    const hour = 3600_000;
    const now = Math.floor(Date.now() / hour) * hour;
    // 40 against 400: the plan saves 90%, far from a rounding edge (50 gave 87.5%, printed 87% or 88% by float noise).
    const rows = [0, 1, 2, 3, 4].map((h) => `${new Date(now + (h - 1) * hour).toISOString()},${h === 3 ? 40 : 400}`);
    const signal = writeText(dir, 'now.csv', `timestamp,intensity\n${rows.join('\n')}\n`);
    expect(await cli('--carbon-signal', signal, '--max-intensity', '100', '--dry-run')).toBe(0);
    expect(stdout).toMatch(/^Carbon-aware plan: run only at <= 100 gCO2\/kWh \(forecast .*now\.csv\)/);
    expect(stdout).toContain(`  1. ${new Date(now + 2 * hour).toISOString().replace(':00.000Z', 'Z')} a red circle`);
    expect(stdout).toMatch(/Running them all now: .* CO2e; the plan saves .* \(90% less\)\./);
    expect(existsSync(path.join(dir, 'cli', 'records'))).toBe(false);
  });
});
