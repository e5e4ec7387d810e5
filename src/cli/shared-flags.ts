/**
 * The flags `tessera batch`, `tessera serve` and `tessera worker` share, declared once:
 * one definition, one name (older names stay as aliases), one default, one usage line.
 */
import { TesseraError } from '../errors.js';
import { DEFAULT_MAX_ROWS } from '../inference/protocol.js';
import { checkDevice } from '../model/runtime.js';
import { checkMaxRows } from '../sampler/row-groups.js';
import { QUEUE_DEFAULTS, queueSettingsFromFlags, type QueueSettings } from '../queue/recovery.js';
import type { Device } from '../types.js';
import { numberFlag } from './args.js';

/** --device, checked; cpu when not given. */
export function deviceFromFlag(value: string | undefined): Device {
  const device = value ?? 'cpu';
  checkDevice(device);
  return device as Device;
}

/** A queue client's flags (batch, serve): where the queue is, and how its jobs are retried. */
export const QUEUE_CLIENT_FLAGS = {
  queue: { type: 'string' },
  attempts: { type: 'string' },
  'backoff-ms': { type: 'string' },
} as const;

export const QUEUE_RETRY_USAGE = `  --attempts N         with --queue: runs per job, transient failures included (default ${QUEUE_DEFAULTS.attempts})
  --backoff-ms N       with --queue: first retry delay, doubled each retry (default ${QUEUE_DEFAULTS.backoffMs})`;

interface QueueClientFlagValues {
  queue?: string;
  attempts?: string;
  'backoff-ms'?: string;
}

/** --queue and its retry settings; undefined without --queue (then --attempts and --backoff-ms are mistakes). */
export function queueClientFromFlags(values: QueueClientFlagValues): { queue: string; settings: Partial<QueueSettings> } | undefined {
  if (values.queue === undefined) {
    if (values.attempts !== undefined || values['backoff-ms'] !== undefined) {
      throw new TesseraError('TESSERA_ERR_OPTION', `--${values.attempts !== undefined ? 'attempts' : 'backoff-ms'} needs --queue (it sets how queue jobs are retried)`, { param: 'queue' });
    }
    return undefined;
  }
  return { queue: values.queue, settings: queueSettingsFromFlags(values, ['attempts', 'backoff-ms']) };
}

/** The row budget of one shared sampling step (serve, worker); `--max-rows` is the worker's older name for it. */
export const STEP_ROWS_FLAGS = {
  'max-batch-rows': { type: 'string' },
  'max-rows': { type: 'string' },
} as const;

export const STEP_ROWS_USAGE = `  --max-batch-rows N   most rows of one shared sampling step when admitting more work
                       (default ${DEFAULT_MAX_ROWS}; --max-rows is the same flag)`;

/**
 * `--max-batch-rows` where one process samples its own batches (generate, complete, edit,
 * vary, batch): the row cap of sampling (issue 28), not an admission budget. Same flag name
 * as serve's and worker's: the most graph rows sampled at once.
 */
export const ROW_CAP_FLAGS = {
  'max-batch-rows': { type: 'string' },
} as const;

/**
 * ROW_CAP_FLAGS' usage lines, the description starting at `column` (each command aligns
 * its own); `what` is what the cap splits ("a request", "a sampler batch").
 */
export function rowCapUsage(column: number, what: string): string {
  const pad = ' '.repeat(column);
  return [
    `  ${'--max-batch-rows N'.padEnd(column - 2)}most graph rows sampled at once (two per guided candidate;`,
    `${pad}default: no cap): ${what} with more rows samples its`,
    `${pad}candidates in groups, one after another: the same images,`,
    `${pad}less memory, more time`,
  ].join('\n');
}

/** --max-batch-rows of generate and batch, checked: undefined (no cap) or an integer from 1. */
export function rowCapFromFlags(values: { 'max-batch-rows'?: string }): number | undefined {
  return checkMaxRows(stepRowsFromFlags(values));
}

/** --max-batch-rows (or its alias --max-rows); giving both is a mistake. */
export function stepRowsFromFlags(values: { 'max-batch-rows'?: string; 'max-rows'?: string }): number | undefined {
  const rows = values['max-batch-rows'];
  const alias = values['max-rows'];
  if (rows !== undefined && alias !== undefined) {
    throw new TesseraError('TESSERA_ERR_OPTION', '--max-rows is another name for --max-batch-rows: give one', { param: 'max-batch-rows' });
  }
  return alias !== undefined ? numberFlag('max-rows', alias) : numberFlag('max-batch-rows', rows);
}
