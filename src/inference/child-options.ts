/**
 * What the parent tells the inference child and how long it waits on it: the options of an
 * InferenceChild, the ChildLaunchConfig the child receives in its environment, and the timing
 * defaults (start timeout, watchdog, heartbeat). Kept apart from child-process.ts, which
 * supervises the process with these numbers, so the settings read in one place.
 */
import path from 'node:path';
import type { FootprintSettings } from '../footprint/report.js';
import type { Device, PrecisionChoice } from '../types.js';
import type { ChildLaunchConfig } from './protocol.js';

export interface ChildOptions {
  model: string;
  device: Device;
  /** Which graphs the child runs (see ChildLaunchConfig.precision). */
  precision?: PrecisionChoice;
  /** CLIP folder used instead of the package's own. */
  clip?: string;
  /** Row budget of a shared step (see ChildLaunchConfig.maxRows). */
  maxRows?: number;
  /** How the child measures footprints (see ChildLaunchConfig.footprint). */
  footprint?: FootprintSettings;
  /** Scheduling priority of the child (default 10: below the HTTP process; 0 keeps it equal). */
  niceness?: number;
  /** Give up on a child that does not report ready within this time (default 120 s). */
  startTimeoutMs?: number;
  /**
   * Replace a loaded child whose heartbeat has been silent this long (default 60 s: longer
   * than any single graph run of a large batch; a stopped or looping child never beats).
   */
  watchdogMs?: number;
}

/** How long a child may take to report ready (default 120 s). */
export function startTimeoutMs(options: ChildOptions): number {
  return options.startTimeoutMs ?? 120_000;
}

/** How long a loaded child's heartbeat may be silent before it is replaced (default 60 s). */
export function watchdogMs(options: ChildOptions): number {
  return options.watchdogMs ?? 60_000;
}

/** Several beats per watchdog period, so one late beat is not a false alarm. */
export function heartbeatMs(options: ChildOptions): number {
  return Math.max(10, Math.min(1000, Math.floor(watchdogMs(options) / 5)));
}

/** The configuration a child with `options` is started with. */
export function childConfig(options: ChildOptions): ChildLaunchConfig {
  return { model: options.model, device: options.device, precision: options.precision, clip: options.clip, maxRows: options.maxRows, heartbeatMs: heartbeatMs(options), footprint: childFootprint(options.footprint) };
}

/**
 * Footprint settings as the child gets them (in an environment variable): a signal file
 * by name only, which the child reads at each generation (a forecast file a cron job
 * refreshes stays current; a year of half-hours would not fit in the environment anyway).
 */
function childFootprint(settings: FootprintSettings | undefined): FootprintSettings | undefined {
  if (settings === undefined || settings.grid.kind !== 'signal') return settings;
  return { ...settings, grid: { kind: 'signal', file: path.resolve(settings.grid.file) } };
}
