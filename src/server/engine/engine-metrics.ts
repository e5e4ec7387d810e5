/** What the engine reports to Prometheus, in the engine's terms (one method per happening). */
import type { StageName } from '../../types.js';
import type { Metrics } from '../metrics.js';

export interface SuccessFigures {
  model: string;
  /** Encoding and storing the result, ms. */
  encodeMs: number;
  /** The pipeline's total, ms. */
  totalMs: number;
  kept: number;
  candidates: number;
  /** Epoch ms the job was submitted. */
  submittedAt: number;
}

export class EngineMetrics {
  constructor(private readonly metrics: Metrics) {}

  rejected(): void {
    this.metrics.jobs.inc({ outcome: 'rejected' });
  }

  inferenceRestarted(model: string): void {
    this.metrics.inferenceRestarts.inc({ model });
  }

  stage(stage: StageName, ms: number): void {
    this.metrics.stageSeconds.observe({ stage }, ms / 1000);
  }

  /** A new most-rows-per-step figure for `model`. */
  stepRows(model: string, rows: number): void {
    this.metrics.stepRowsMax.set({ model }, rows);
  }

  succeeded(f: SuccessFigures): void {
    this.metrics.stageSeconds.observe({ stage: 'encode' }, f.encodeMs / 1000);
    this.metrics.stageSeconds.observe({ stage: 'total' }, f.totalMs / 1000);
    this.metrics.imagesGenerated.inc({ model: f.model }, f.kept);
    this.metrics.candidatesSampled.inc({ model: f.model }, f.candidates);
    this.metrics.jobs.inc({ outcome: 'succeeded' });
    this.metrics.requestSeconds.observe({ outcome: 'succeeded' }, (Date.now() - f.submittedAt) / 1000);
  }

  /** A job ended without a result; `outcome` is 'cancelled' or the envelope code of its failure. */
  ended(outcome: string, status: 'failed' | 'cancelled', submittedAt: number): void {
    this.metrics.jobs.inc({ outcome });
    this.metrics.requestSeconds.observe({ outcome: status }, (Date.now() - submittedAt) / 1000);
  }
}
