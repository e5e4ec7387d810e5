/**
 * The queue's failure-handling settings, their defaults and their flags. docs/queue.md
 * explains each; in short:
 *
 * - lockDurationMs: a worker holds a job's lock this long and renews it every half of it
 *   (BullMQ's lockRenewTime default). A worker that dies stops renewing; the job becomes
 *   "stalled" once the lock expires. Inference runs in a child process, so renewal is never
 *   late for a long batch: the default can stay BullMQ's 30 s.
 * - stalledIntervalMs: how often each worker looks for jobs whose lock expired and moves
 *   them back to waiting (another worker then runs them). A SIGKILLed worker's job is
 *   running again within lockDurationMs + stalledIntervalMs.
 * - maxStalledCount: recoveries allowed per job before it fails (BullMQ's default is 1;
 *   Tessera's 3 survives several worker deaths on one job — results are deterministic, so
 *   running a batch again is only lost time).
 * - attempts / backoffMs: a job that throws (a crashed inference child, a lost connection)
 *   is retried up to `attempts` runs in all, after backoffMs, 2x, 4x... (BullMQ's
 *   exponential backoff). Bad input is not retried: it fails once (UnrecoverableError).
 */
import { TesseraError } from '../errors.js';

export interface QueueSettings {
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  attempts: number;
  backoffMs: number;
}

export const QUEUE_DEFAULTS: QueueSettings = {
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 3,
  attempts: 3,
  backoffMs: 1000,
};

/** Flag name, setting and allowed range of each (validated the way every numeric flag is). */
export const QUEUE_FLAGS = {
  'lock-ms': { key: 'lockDurationMs', min: 1000, max: 3_600_000 },
  'stalled-ms': { key: 'stalledIntervalMs', min: 500, max: 3_600_000 },
  'max-stalled': { key: 'maxStalledCount', min: 0, max: 100 },
  attempts: { key: 'attempts', min: 1, max: 100 },
  'backoff-ms': { key: 'backoffMs', min: 0, max: 3_600_000 },
} as const satisfies Record<string, { key: keyof QueueSettings; min: number; max: number }>;

export type QueueFlag = keyof typeof QUEUE_FLAGS;

/** Reads the given queue flags (strings from parseArgs) into settings; throws TESSERA_ERR_OPTION naming a bad one. */
export function queueSettingsFromFlags(values: Partial<Record<QueueFlag, string | undefined>>, flags: readonly QueueFlag[]): Partial<QueueSettings> {
  const out: Partial<QueueSettings> = {};
  for (const flag of flags) {
    const text = values[flag];
    if (text === undefined) continue;
    const { key, min, max } = QUEUE_FLAGS[flag];
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new TesseraError('TESSERA_ERR_OPTION', `--${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`, { param: flag });
    }
    out[key] = value;
  }
  return out;
}
