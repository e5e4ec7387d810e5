/** A download's progress on stderr: one redrawn line per file with bytes, rate and time left. */
import type { ByteProgress } from '../hub/download.js';

export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * Draws on `write` (stderr) at most ~10 times a second per file; the rate counts only the
 * bytes fetched by this run (a resumed file's earlier bytes are not a speed).
 */
export class DownloadProgress {
  private file = '';
  private startedAt = 0;
  private startedFrom = 0;
  private lastDraw = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly width = 24,
  ) {}

  update(p: ByteProgress): void {
    const now = performance.now();
    if (p.file !== this.file) {
      if (this.file !== '') this.write('\n');
      this.file = p.file;
      this.startedAt = now;
      this.startedFrom = p.done;
      this.lastDraw = 0;
    }
    if (p.done < p.total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const seconds = (now - this.startedAt) / 1000;
    const rate = seconds > 0 ? (p.done - this.startedFrom) / seconds : 0;
    const fraction = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
    const filled = Math.round(fraction * this.width);
    const bar = '█'.repeat(filled) + '░'.repeat(this.width - filled);
    const eta = p.done >= p.total ? 'done' : `ETA ${formatSeconds(rate > 0 ? (p.total - p.done) / rate : Infinity)}`;
    this.write(`\r${p.file} ${bar} ${formatBytes(p.done)}/${formatBytes(p.total)} ${formatBytes(rate)}/s ${eta}   `);
  }

  finish(): void {
    if (this.file !== '') this.write('\n');
    this.file = '';
  }
}
