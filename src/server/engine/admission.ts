/**
 * Admission for one model: a bounded wait list in front of a p-queue that lets
 * `concurrency` jobs run at once (in the inference child they share sampling steps).
 * It keeps queue positions current, drops jobs aborted while they wait, and estimates
 * Retry-After from the recent run time when the wait list is full. It knows nothing of
 * workers, HTTP or storage: the engine passes what running a job means.
 */
import PQueue from 'p-queue';

/** What admission needs of a job. */
export interface Queueable {
  readonly signal: AbortSignal;
  readonly position: number;
  /** Called with the 1-based place in the wait list whenever it is set or changes. */
  setPosition(position: number): void;
}

export interface AdmissionOptions {
  /** Jobs that may wait (not counting the running ones) before the queue is full. */
  maxQueue: number;
  /** Jobs running at once. */
  concurrency: number;
}

export class Admission<J extends Queueable> {
  private readonly queue: PQueue;
  private readonly list: J[] = [];
  private readonly maxQueue: number;
  private runningCount = 0;
  /** Exponential moving average of a successful run, for Retry-After. */
  private avgRunMs = 1000;

  constructor(options: AdmissionOptions) {
    this.maxQueue = options.maxQueue;
    this.queue = new PQueue({ concurrency: Math.max(1, options.concurrency) });
  }

  get waiting(): readonly J[] {
    return this.list;
  }

  get running(): number {
    return this.runningCount;
  }

  get full(): boolean {
    return this.list.length >= this.maxQueue;
  }

  /** Seconds until a place is likely free (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.avgRunMs * (this.list.length + 1)) / 1000));
  }

  /** Feeds the Retry-After estimate with the duration of a run that completed. */
  recordRun(ms: number): void {
    this.avgRunMs = 0.7 * this.avgRunMs + 0.3 * ms;
  }

  /**
   * Appends `job` to the wait list (the caller checks `full` first). `run` is called when
   * its turn comes; `dropped` when it was aborted before running (or `run` threw).
   */
  enqueue(job: J, run: (job: J) => Promise<void>, dropped: (job: J, error: unknown) => void): void {
    this.list.push(job);
    job.setPosition(this.list.length);
    this.queue
      .add(
        async () => {
          this.remove(job);
          if (job.signal.aborted) return dropped(job, job.signal.reason);
          this.runningCount += 1;
          try {
            await run(job);
          } finally {
            this.runningCount -= 1;
          }
        },
        { signal: job.signal },
      )
      .catch((error: unknown) => {
        // Aborted while still queued: p-queue removed it.
        this.remove(job);
        dropped(job, error);
      });
  }

  /** Takes `job` off the wait list (if there) and renumbers the jobs behind it. */
  remove(job: J): void {
    const i = this.list.indexOf(job);
    if (i < 0) return;
    this.list.splice(i, 1);
    this.list.forEach((j, k) => {
      if (j.position !== k + 1) j.setPosition(k + 1);
    });
  }
}
