/** A one-line progress bar on stderr; silent when stderr is not a terminal unless forced. */
export class ProgressBar {
  private lastDraw = 0;
  private readonly started = performance.now();
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    options: { enabled?: boolean; width?: number } = {},
  ) {
    this.enabled = options.enabled ?? process.stderr.isTTY === true;
    this.width = options.width ?? 30;
  }

  private readonly width: number;

  update(done: number, extra = ''): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (done < this.total && now - this.lastDraw < 80) return; // at most ~12 redraws a second
    this.lastDraw = now;
    const fraction = Math.min(1, done / Math.max(1, this.total));
    const filled = Math.round(fraction * this.width);
    const elapsed = (now - this.started) / 1000;
    const eta = fraction > 0 ? elapsed * (1 / fraction - 1) : 0;
    const bar = '█'.repeat(filled) + '░'.repeat(this.width - filled);
    process.stderr.write(`\r${this.label} ${bar} ${done}/${this.total} ${extra} ETA ${eta.toFixed(1)}s   `);
  }

  finish(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}
