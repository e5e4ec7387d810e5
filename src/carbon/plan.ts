import { TesseraError } from '../errors.js';
import { meanIntensity, type Forecast } from './forecast.js';

/**
 * Carbon-aware scheduling of a batch (flexible AI load, after the seed newsletter:
 * inference that is not time-critical can wait for a cleaner grid). Work items keep
 * their order; each runs whole inside one stretch of consecutive forecast periods at
 * or under the threshold, as early as possible, and otherwise waits. Pure: the same
 * forecast, items and start time always give the same plan.
 */

export interface WorkItem {
  id: string;
  /** Estimated run time, seconds. */
  durationS: number;
  /** Estimated energy, joules. */
  energyJ: number;
  /** Shown in the rendering (e.g. the prompt). */
  label?: string;
}

export interface PlannedItem {
  id: string;
  label: string;
  /** Unix ms. */
  start: number;
  end: number;
  /** Seconds waited since the previous item ended (or since the plan's start). */
  waitS: number;
  /** Time-weighted mean gCO2/kWh over the run. */
  intensity: number;
  gramsCO2e: number;
}

export interface Plan {
  start: number;
  maxIntensity: number;
  source: string;
  items: PlannedItem[];
  /** Items no window under the threshold can hold (longer than every window, or past the forecast). */
  unscheduled: WorkItem[];
  plannedGrams: number;
  /**
   * The same items (the scheduled ones) run back to back from `start`, whatever the
   * intensity; null when that run outlasts the forecast.
   */
  immediateGrams: number | null;
  /** When the last planned item ends (= start when nothing is planned). */
  end: number;
}

/** Joules per kWh. */
const J_PER_KWH = 3.6e6;

/** Grams of CO2e of `energyJ` joules drawn at `intensity` gCO2/kWh. */
export function gramsOf(energyJ: number, intensity: number): number {
  return (energyJ / J_PER_KWH) * intensity;
}

/**
 * "Immediate grams": the emissions of work run back to back from `start`, whatever the
 * intensity — what a carbon-aware plan (estimated work) and its report (measured work)
 * compare against. Null when the run outlasts the forecast.
 */
export function immediateGrams(forecast: Forecast, start: number, work: readonly { durationMs: number; energyJ: number }[]): number | null {
  let grams = 0;
  let t = start;
  for (const { durationMs, energyJ } of work) {
    const intensity = meanIntensity(forecast, t, t + durationMs);
    if (intensity === null) return null;
    grams += gramsOf(energyJ, intensity);
    t += durationMs;
  }
  return grams;
}

/** Stretches of consecutive periods (each starting where the last ended) at or under `max`. */
export function greenWindows(forecast: Forecast, max: number): { from: number; to: number }[] {
  const windows: { from: number; to: number }[] = [];
  for (const p of forecast.periods) {
    if (p.intensity > max) continue;
    const last = windows[windows.length - 1];
    if (last !== undefined && last.to === p.from) last.to = p.to;
    else windows.push({ from: p.from, to: p.to });
  }
  return windows;
}

function checkItem(item: WorkItem): void {
  if (!(Number.isFinite(item.durationS) && item.durationS > 0)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `work item ${item.id}: duration must be > 0 s, got ${item.durationS}`);
  }
  if (!(Number.isFinite(item.energyJ) && item.energyJ >= 0)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `work item ${item.id}: energy must be >= 0 J, got ${item.energyJ}`);
  }
}

export function planCarbonAware(forecast: Forecast, items: readonly WorkItem[], options: { start: number; maxIntensity: number }): Plan {
  const { start, maxIntensity } = options;
  if (!Number.isFinite(maxIntensity) || maxIntensity < 0) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--max-intensity must be a number of gCO2/kWh >= 0, got ${maxIntensity}`, { param: 'max-intensity' });
  }
  items.forEach(checkItem);
  const windows = greenWindows(forecast, maxIntensity);
  const planned: PlannedItem[] = [];
  const unscheduled: WorkItem[] = [];
  let cursor = start;
  for (const item of items) {
    const ms = item.durationS * 1000;
    const window = windows.find((w) => w.to > cursor && Math.max(w.from, cursor) + ms <= w.to);
    if (window === undefined) {
      unscheduled.push(item);
      continue;
    }
    const begin = Math.max(window.from, cursor);
    const intensity = meanIntensity(forecast, begin, begin + ms)!; // inside a window: covered
    planned.push({
      id: item.id,
      label: item.label ?? item.id,
      start: begin,
      end: begin + ms,
      waitS: (begin - cursor) / 1000,
      intensity,
      gramsCO2e: gramsOf(item.energyJ, intensity),
    });
    cursor = begin + ms;
  }
  // The comparison: the scheduled items back to back from the start.
  const scheduled = items.filter((i) => !unscheduled.includes(i));
  const immediate = immediateGrams(forecast, start, scheduled.map((item) => ({ durationMs: item.durationS * 1000, energyJ: item.energyJ })));
  return {
    start,
    maxIntensity,
    source: forecast.source,
    items: planned,
    unscheduled,
    plannedGrams: planned.reduce((sum, p) => sum + p.gramsCO2e, 0),
    immediateGrams: immediate,
    end: planned.length > 0 ? planned[planned.length - 1]!.end : start,
  };
}

/** "2h 05m 03s", "4m 10s", "12s"; "now" at or below zero. Rounds up: never shows 0s while waiting. */
export function formatCountdown(ms: number): string {
  if (!(ms > 0)) return 'now';
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s)}s`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

/** The line a waiting batch rewrites each second. */
export function countdownLine(next: PlannedItem, now: number): string {
  return `waiting for a cleaner grid: "${next.label}" starts at ${utc(next.start)} (${Math.round(next.intensity)} gCO2/kWh) in ${formatCountdown(next.start - now)}`;
}

function utc(ms: number): string {
  return new Date(ms).toISOString().replace(/:\d{2}\.\d{3}Z$/, 'Z');
}

function grams(g: number): string {
  return g >= 1 ? `${g.toFixed(2)} g` : `${(g * 1000).toFixed(2)} mg`;
}

/** What `tessera batch --dry-run --carbon-signal …` prints. */
export function renderPlan(plan: Plan): string {
  const lines = [`Carbon-aware plan: run only at <= ${plan.maxIntensity} gCO2/kWh (forecast ${plan.source}), from ${utc(plan.start)}`];
  plan.items.forEach((p, i) => {
    const wait = p.waitS > 0 ? `after waiting ${formatCountdown(p.waitS * 1000)}` : 'no wait';
    lines.push(`  ${String(i + 1).padStart(3)}. ${utc(p.start)} ${p.label} (${formatCountdown(p.end - p.start)}, ${Math.round(p.intensity)} gCO2/kWh, ${grams(p.gramsCO2e)} CO2e; ${wait})`);
  });
  for (const u of plan.unscheduled) {
    lines.push(`  not planned: ${u.label ?? u.id} (${formatCountdown(u.durationS * 1000)}): no stretch of the forecast under the threshold holds it`);
  }
  lines.push(`Planned: ${plan.items.length} item(s), ${grams(plan.plannedGrams)} CO2e, done by ${utc(plan.end)} (${formatCountdown(plan.end - plan.start)} from the start).`);
  if (plan.immediateGrams === null) {
    lines.push('Running them all now would outlast the forecast: no comparison.');
  } else {
    const saved = plan.immediateGrams - plan.plannedGrams;
    const share = plan.immediateGrams > 0 ? ` (${((100 * saved) / plan.immediateGrams).toFixed(0)}% less)` : '';
    const verdict = saved >= 0 ? `the plan saves ${grams(saved)}${share}` : `the plan emits ${grams(-saved)} more (its windows are cleaner than the threshold, not than now)`;
    lines.push(`Running them all now: ${grams(plan.immediateGrams)} CO2e; ${verdict}.`);
  }
  return lines.join('\n');
}
