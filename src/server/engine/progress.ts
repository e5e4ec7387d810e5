/**
 * Turns the inference child's generation events into job state and SSE-facing job
 * events: step -> progress, start -> total steps, preview -> base64 PNGs of the shown
 * candidates (encoded here, off the job's data path), stage -> a timing for metrics.
 */
import { encodePlainPng } from '../../image/encode.js';
import type { GenerationEvent, RgbImage, StageName } from '../../types.js';
import type { Job } from './job.js';

/** Candidates a preview event shows at most. */
export const PREVIEW_LIMIT = 16;

export interface ProgressHooks {
  /** A stage finished in the child. */
  stage(stage: StageName, ms: number): void;
  /** A step this job took part in ran `rows` rows, more than any of its steps before. */
  stepRows(rows: number): void;
}

export function applyGenerationEvent(job: Job, event: GenerationEvent, hooks: ProgressHooks): void {
  if (event.type === 'step') {
    if (event.rows !== undefined && job.noteStepRows(event.rows)) hooks.stepRows(event.rows);
    job.setProgress(event.step, event.steps, event.tokensPerSecond);
  } else if (event.type === 'start') {
    job.setProgress(0, event.steps);
  } else if (event.type === 'stage') {
    hooks.stage(event.stage, event.ms);
  } else if (event.type === 'preview') {
    const { step, steps } = event;
    void Promise.all(event.images.slice(0, PREVIEW_LIMIT).map((image) => encodePreviewPng(image)))
      .then((images) => {
        if (!job.finished) job.publish({ type: 'preview', step, steps, images });
      })
      .catch(() => undefined);
  }
}

/** A plain PNG (no metadata, default compression) as base64, for previews. */
export async function encodePreviewPng(image: RgbImage): Promise<string> {
  return (await encodePlainPng(image)).toString('base64');
}
