/**
 * How late the HTTP process's event loop has been lately, for /healthz and /readyz
 * (issue 23: the health endpoints said ok while the process could make no progress).
 * A timer ticks every TICK_MS; how much later than due it fired is the loop's lag. The
 * largest lag of the current and the previous window (WINDOW_MS each) is reported, and
 * so is the lag of a tick that is overdue right now: a health request answered just as
 * a long block ends sees that block before the timer has fired.
 */
export const TICK_MS = 100;
export const WINDOW_MS = 10_000;

export class LoopLag {
  private timer: NodeJS.Timeout | null = null;
  private lastTick = performance.now();
  private windowStart = performance.now();
  private current = 0;
  private previous = 0;

  start(): void {
    if (this.timer !== null) return;
    this.lastTick = performance.now();
    this.windowStart = this.lastTick;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    // Health reporting never keeps the process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = performance.now();
    this.note(now - this.lastTick - TICK_MS);
    this.lastTick = now;
    if (now - this.windowStart >= WINDOW_MS) {
      this.previous = this.current;
      this.current = 0;
      this.windowStart = now;
    }
  }

  private note(lagMs: number): void {
    if (lagMs > this.current) this.current = lagMs;
  }

  /** The largest lag seen in the last one or two windows, or of the tick overdue now, in ms. */
  recentMaxMs(): number {
    const overdue = this.timer === null ? 0 : performance.now() - this.lastTick - TICK_MS;
    return Math.max(0, this.current, this.previous, overdue);
  }
}
