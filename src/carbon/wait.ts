import { TesseraError } from '../errors.js';
import { countdownLine, type PlannedItem } from './plan.js';

/**
 * Waits until a planned item's start, calling `onTick` with the countdown line about
 * once a second (a TTY rewrites it in place; a log prints it now and then). The
 * clock and the sleep are injectable so a test can run a two-hour wait instantly.
 * An aborted signal ends the wait with TESSERA_ERR_CANCELLED (the batch stays
 * resumable, as after Ctrl-C during generation).
 */
export interface WaitOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onTick?: (line: string, remainingMs: number) => void;
  signal?: AbortSignal;
  tickMs?: number;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitForStart(item: PlannedItem, options: WaitOptions = {}): Promise<void> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const tick = options.tickMs ?? 1000;
  for (let t = now(); t < item.start; t = now()) {
    if (options.signal?.aborted) {
      throw new TesseraError('TESSERA_ERR_CANCELLED', `stopped while waiting for a cleaner grid before "${item.label}"`, { cause: options.signal.reason });
    }
    options.onTick?.(countdownLine(item, t), item.start - t);
    await sleep(Math.min(tick, item.start - t));
  }
}
