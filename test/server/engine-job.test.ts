import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/server/api-error.js';
import { Job, jobView, newJobData, type JobEvent } from '../../src/server/engine/job.js';
import { writeResult, layoutFor } from '../../src/server/engine/result-writer.js';
import type { GenerationRecord } from '../../src/server/store.js';
import { fakeResult, plainJsonViolations, tinyParams } from './engine-fixtures.js';

function record(job: Job): GenerationRecord {
  return {
    id: job.id,
    object: 'generation',
    created: job.created,
    model: 'tiny-random',
    prompt: 'a red circle',
    negative_prompt: null,
    seed: 5,
    user: null,
    size: '64x64',
    native_size: '64x64',
    upscaled: false,
    output_format: 'png',
    settings: { candidates: 3 },
    timings: { total: 1 },
    warnings: [],
    images: [{ rank: 1, candidate_index: 2, seed: 5, clip_score: 0.3, kept: true, file: 'image-1.png' }],
    candidates: [],
  };
}

function recorded(job: Job): JobEvent[] {
  const events: JobEvent[] = [];
  job.on('event', (e: JobEvent) => events.push(e));
  return events;
}

function expectPlainRoundTrip(job: Job): void {
  expect(plainJsonViolations(job.data)).toEqual([]);
  expect(JSON.parse(JSON.stringify(job.data))).toEqual(job.data);
}

describe('job state', () => {
  it('queued -> running -> succeeded, with events in order, and the data stays plain JSON at every step', async () => {
    const job = new Job(newJobData(tinyParams()));
    const events = recorded(job);
    expectPlainRoundTrip(job);
    job.setPosition(2);
    expect(job.toJSON()).toMatchObject({ status: 'queued', queue_position: 2, result: null, error: null, prompt: 'a red circle', seed: 5 });
    job.start();
    expect(job.toJSON().queue_position).toBeNull();
    job.setProgress(0, 64);
    job.setProgress(8, 64, 123.4);
    expect(job.noteStepRows(4)).toBe(true);
    expect(job.noteStepRows(3)).toBe(false);
    job.publish({ type: 'preview', step: 8, steps: 64, images: ['iVBORw0KGgo='] });
    expectPlainRoundTrip(job);
    const r = record(job);
    job.succeed(r, [Buffer.from('png bytes')]);
    expectPlainRoundTrip(job);
    await expect(job.done).resolves.toBe(r);
    expect(job.finished).toBe(true);
    expect(job.maxStepRows).toBe(4);
    expect(job.progress).toEqual({ step: 8, steps: 64 });
    expect(job.lastPreview?.step).toBe(8);
    expect(job.kept).toEqual([{ stored: r.images[0], data: Buffer.from('png bytes') }]);
    expect(events.map((e) => e.type)).toEqual(['queued', 'started', 'progress', 'preview', 'result']);
    expect(events[2]).toEqual({ type: 'progress', step: 8, steps: 64, tokens_per_second: 123 });
    // Job data restored from JSON (as a queue would deliver it) gives the same public view.
    const restored = JSON.parse(JSON.stringify(job.data)) as typeof job.data;
    expect(jobView(restored)).toEqual(job.toJSON());
    expect(new Job(restored).toJSON()).toEqual(job.toJSON());
  });

  it('a failure is recorded as a catalogue code; the event and the view carry the OpenAI envelope', async () => {
    const job = new Job(newJobData(tinyParams()));
    const events = recorded(job);
    job.start();
    job.fail('failed', new ApiError('TESSERA_ERR_WORKER', 'the inference worker stopped'));
    expect(job.error).toEqual({ code: 'TESSERA_ERR_WORKER', message: 'the inference worker stopped', param: null });
    expectPlainRoundTrip(job);
    const envelope = { message: 'the inference worker stopped', type: 'server_error', param: null, code: 'worker_crashed' };
    expect(job.toJSON().error).toEqual(envelope);
    expect(events.at(-1)).toEqual({ type: 'error', status: 'failed', error: envelope });
    const rejection = await job.done.catch((e: unknown) => e);
    expect(rejection).toBeInstanceOf(ApiError);
    expect((rejection as ApiError).status).toBe(500);
  });

  it('a queued job may be cancelled without running', () => {
    const job = new Job(newJobData(tinyParams()));
    job.fail('cancelled', new ApiError('TESSERA_ERR_CANCELLED', 'the job was cancelled'));
    expect(job.status).toBe('cancelled');
    expect(job.toJSON().error).toMatchObject({ code: 'cancelled', type: 'invalid_request_error' });
  });

  it('refuses transitions that go backwards or leave a final state', () => {
    const queued = new Job(newJobData(tinyParams()));
    expect(() => queued.succeed(record(queued), [])).toThrow(/no transition from queued to succeeded/);
    const done = new Job(newJobData(tinyParams()));
    done.start();
    expect(() => done.start()).toThrow(/from running to running/);
    done.fail('cancelled', new ApiError('TESSERA_ERR_CANCELLED', 'cancelled'));
    for (const again of [() => done.start(), () => done.succeed(record(done), []), () => done.fail('failed', new ApiError('TESSERA_ERR_TIMEOUT', 'late'))]) {
      expect(again).toThrow(/no transition from cancelled/);
    }
    expect(done.status).toBe('cancelled');
  });

  it('a record written by the result writer is plain JSON too', async () => {
    const job = new Job(newJobData(tinyParams()));
    const files = new Map<string, Uint8Array>();
    const written = await writeResult(fakeResult(3, 2), layoutFor(job.id, job.created, job.params), {
      writeFile: async (id, name, data) => void files.set(`${id}/${name}`, data),
      save: async () => undefined,
    });
    job.start();
    job.succeed(written.record, written.images);
    expectPlainRoundTrip(job);
  });
});
