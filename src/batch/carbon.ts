/**
 * The carbon-aware side of `tessera batch --carbon-signal FILE --max-intensity X`: the
 * sampler batches still to run become work items (FLOPs from the model's shapes over a
 * FLOP rate calibrated on a warm-up generation), src/carbon/plan.ts places them in the
 * forecast's stretches under the threshold, and the runner waits for each (a visible
 * countdown) before running it. At the end the measured energy of each batch is
 * weighted by the forecast's intensity over when it actually ran, next to the same
 * energies run back to back from the start: what waiting saved.
 */
import { TesseraError } from '../errors.js';
import { calibrate, estimateItem, type Calibration } from '../carbon/estimate.js';
import { meanIntensity, type Forecast } from '../carbon/forecast.js';
import { gramsOf, immediateGrams, planCarbonAware, renderPlan, type Plan, type PlannedItem, type WorkItem } from '../carbon/plan.js';
import { DEFAULT_WATTS_PER_CORE } from '../footprint/energy.js';
import type { Tessera } from '../pipeline/tessera.js';
import type { GenerationResult } from '../types.js';
import type { Task } from './plan.js';
import type { PlannedBatch } from './executor.js';
import { waitForStart } from '../carbon/wait.js';

export interface CarbonOptions {
  forecast: Forecast;
  /** gCO2/kWh: batches run only in forecast stretches at or under it. */
  maxIntensity: number;
  /** Print the plan and generate nothing. */
  dryRun?: boolean;
  /** FLOP rate, cores and watts for the estimates; default: measured on a warm-up generation. */
  calibration?: Calibration;
  /** Watts per busy core for the estimate (default: TESSERA_WATTS_PER_CORE or 10, as the energy estimate). */
  wattsPerCore?: number;
  /** The clock and the sleep of the waits (tests run hours of waiting at once). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** The countdown line while waiting, about once a second. */
  onTick?: (line: string, remainingMs: number) => void;
}

/** What the carbon-aware run did (or, for --dry-run, would do). */
export interface CarbonReport {
  plan: Plan;
  /** renderPlan(plan): what --dry-run prints. */
  planText: string;
  calibration: Calibration;
  /** Batches that ran: when, their measured energy, the forecast's mean intensity over that time. */
  ran: { id: string; start: number; end: number; energyJ: number; intensity: number | null; gramsCO2e: number | null }[];
  /** Measured energy × forecast intensity over when each batch ran; null when part of a run is outside the forecast. */
  measuredGrams: number | null;
  /** The same measured energies and durations back to back from the plan's start; null past the forecast's end. */
  immediateGrams: number | null;
  /** Prompt indices left undone because no stretch under the threshold holds their batch. */
  unplanned: number[];
}

/** Checks the options the CLI turns into CarbonOptions; coded errors name the flag. */
export function checkMaxIntensity(value: number | undefined): number {
  if (value === undefined) {
    throw new TesseraError('TESSERA_ERR_OPTION', '--carbon-signal needs --max-intensity X (gCO2/kWh): run only while the forecast is at or under X', { param: 'max-intensity' });
  }
  if (!(Number.isFinite(value) && value >= 0 && value <= 5000)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--max-intensity must be a number of gCO2/kWh from 0 to 5000, got ${value}`, { param: 'max-intensity' });
  }
  return value;
}

/** Calibrates the estimate on a small warm-up generation of the first pending prompt (its FLOPs over its CPU time). */
async function warmUpCalibration(tessera: Tessera, first: Task, wattsPerCore: number): Promise<Calibration> {
  const p = first.prepared;
  const sequences = p.sequences.slice(0, Math.min(4, p.sequences.length));
  const warm: typeof p = { ...p, sequences, resolved: { ...p.resolved, candidateIndices: p.resolved.candidateIndices.slice(0, sequences.length) } };
  const [result] = await tessera.generateMany([warm]);
  const f = result.footprint;
  if (f === undefined || f.flops === null) {
    throw new TesseraError('TESSERA_ERR_ENERGY', 'cannot calibrate the carbon-aware plan: the warm-up generation reported no FLOPs count', { param: 'carbon-signal' });
  }
  return calibrate({ flops: f.flops.total, cpuSeconds: Math.max(f.cpuSeconds, 1e-3), wallSeconds: Math.max(f.wallSeconds, 1e-3) }, wattsPerCore);
}

function label(batch: readonly Task[]): string {
  const first = batch[0].prepared.resolved.prompt;
  return batch.length === 1 ? first : `${first} (+${batch.length - 1} more)`;
}

/** One work item per sampler batch to run (a batch runs whole, so it is the unit of waiting). */
function workItems(tessera: Tessera, batches: readonly (readonly Task[])[], calibration: Calibration): WorkItem[] {
  return batches.map((batch, k) => {
    const flops = batch.reduce((sum, t) => sum + (tessera.flopsOf(t.prepared, 0)?.total ?? 0), 0);
    return estimateItem(`batch-${k + 1}`, flops, calibration, label(batch));
  });
}

/** Plans the batches; the caller runs `plan.items` in order, calling `waitFor` before each. */
async function planCarbonBatches(
  tessera: Tessera,
  batches: readonly (readonly Task[])[],
  options: CarbonOptions,
): Promise<{ plan: Plan; calibration: Calibration; batchOf: (item: PlannedItem) => readonly Task[] }> {
  const watts = options.wattsPerCore ?? (Number(process.env.TESSERA_WATTS_PER_CORE) || DEFAULT_WATTS_PER_CORE);
  const calibration = options.calibration ?? (batches.length > 0 ? await warmUpCalibration(tessera, batches[0][0], watts) : calibrate({ flops: 1, cpuSeconds: 1, wallSeconds: 1 }, watts));
  const items = workItems(tessera, batches, calibration);
  const plan = planCarbonAware(options.forecast, items, { start: (options.now ?? Date.now)(), maxIntensity: options.maxIntensity });
  const byId = new Map(items.map((item, k) => [item.id, batches[k]]));
  return { plan, calibration, batchOf: (item) => byId.get(item.id)! };
}

/** Measured emissions of the batches that ran, and the same energies run back to back from the start. */
function carbonReport(
  forecast: Forecast,
  plan: Plan,
  calibration: Calibration,
  ran: { id: string; start: number; end: number; results: readonly GenerationResult[] }[],
  unplanned: number[],
): CarbonReport {
  const rows = ran.map((r) => {
    const energyJ = r.results.reduce((sum, x) => sum + (x.footprint?.energyJoules ?? 0), 0);
    const intensity = meanIntensity(forecast, r.start, r.end);
    return { id: r.id, start: r.start, end: r.end, energyJ, intensity, gramsCO2e: intensity === null ? null : gramsOf(energyJ, intensity) };
  });
  const measuredGrams = rows.every((r) => r.gramsCO2e !== null) ? rows.reduce((s, r) => s + r.gramsCO2e!, 0) : null;
  const immediate = immediateGrams(forecast, plan.start, rows.map((r) => ({ durationMs: r.end - r.start, energyJ: r.energyJ })));
  return { plan, planText: renderPlan(plan), calibration, ran: rows, measuredGrams, immediateGrams: immediate, unplanned };
}

function grams(g: number): string {
  return g >= 1 ? `${g.toFixed(2)} g` : `${(g * 1000).toFixed(3)} mg`;
}

/** The summary's carbon lines: measured against running at once. */
export function formatCarbonReport(report: CarbonReport): string[] {
  const lines = [`carbon-aware: ${report.ran.length} batch(es) run at <= ${report.plan.maxIntensity} gCO2/kWh (forecast ${report.plan.source})`];
  if (report.measuredGrams === null) lines.push('  measured emissions: part of the run fell outside the forecast: not weighted');
  else lines.push(`  measured energy weighted by the forecast over when it ran: ${grams(report.measuredGrams)} CO2e`);
  if (report.immediateGrams === null) lines.push('  running it all at once from the start would outlast the forecast: no comparison');
  else if (report.measuredGrams !== null) {
    const saved = report.immediateGrams - report.measuredGrams;
    lines.push(`  the same work run immediately: ${grams(report.immediateGrams)} CO2e (${saved >= 0 ? `${grams(saved)} saved` : `${grams(-saved)} more`})`);
  }
  if (report.unplanned.length > 0) lines.push(`  ${report.unplanned.length} prompt(s) not run: no stretch of the forecast under the threshold holds their batch (re-run with a later forecast)`);
  return lines;
}

/**
 * Runs the planned batches carbon-aware: plans them against the forecast, then each waits
 * for its stretch under the threshold and runs through `run` (which returns its results);
 * a dry run plans only. Returns the report of what ran.
 */
export async function runCarbonAware(
  tessera: Tessera,
  planned: readonly PlannedBatch[],
  options: CarbonOptions,
  run: (batch: PlannedBatch) => Promise<readonly GenerationResult[]>,
): Promise<CarbonReport> {
  const now = options.now ?? Date.now;
  const { plan, calibration } = await planCarbonBatches(tessera, planned.map((b) => b.tasks), options);
  // Work items are named batch-1, batch-2, ... in the order of the batches given to the planner.
  const plannedOf = (item: { id: string }): PlannedBatch => planned[Number(item.id.slice('batch-'.length)) - 1];
  const unplanned = plan.unscheduled.flatMap((item) => plannedOf(item).todo.map((t) => t.index));
  const ran: { id: string; start: number; end: number; results: readonly GenerationResult[] }[] = [];
  if (options.dryRun !== true) {
    for (const item of plan.items) {
      await waitForStart(item, { now, ...(options.sleep === undefined ? {} : { sleep: options.sleep }), ...(options.onTick === undefined ? {} : { onTick: options.onTick }) });
      const start = now();
      const results = await run(plannedOf(item));
      ran.push({ id: item.id, start, end: now(), results });
    }
  }
  return carbonReport(options.forecast, plan, calibration, ran, unplanned);
}
