import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Admission, type Queueable } from '../../src/server/engine/admission.js';
import { failureOf } from '../../src/server/engine/failure.js';
import { Job, newJobData, type JobEvent } from '../../src/server/engine/job.js';
import { PREVIEW_LIMIT, applyGenerationEvent } from '../../src/server/engine/progress.js';
import { layoutFor, writeResult } from '../../src/server/engine/result-writer.js';
import { TesseraError } from '../../src/errors.js';
import type { GenerationRecord } from '../../src/server/store.js';
import { fakeResult, plainJsonViolations, tinyParams } from './engine-fixtures.js';

class FakeJob implements Queueable {
  readonly controller = new AbortController();
  position = 0;
  positions: number[] = [];
  constructor(readonly name: string) {}
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  setPosition(position: number): void {
    this.position = position;
    this.positions.push(position);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('admission', () => {
  it('runs `concurrency` jobs at once, keeps positions current, and is full at maxQueue waiting', async () => {
    const admission = new Admission<FakeJob>({ maxQueue: 2, concurrency: 1 });
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const ran: string[] = [];
    const run = async (job: FakeJob) => {
      ran.push(job.name);
      const gate = deferred();
      gates.set(job.name, gate);
      await gate.promise;
    };
    const dropped: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new FakeJob(n));
    for (const job of [a, b, c]) admission.enqueue(job, run, (j) => dropped.push(j.name));
    await tick();
    expect(ran).toEqual(['a']);
    expect(admission.running).toBe(1);
    expect(admission.waiting.map((j) => j.name)).toEqual(['b', 'c']);
    expect(admission.full).toBe(true);
    expect(admission.retryAfterSeconds()).toBe(3); // ~1 s a run (no history yet) x (2 waiting + 1)
    // p-queue starts `a` within enqueue, so `a` left the list before `b` joined it.
    expect([a.positions, b.positions, c.positions]).toEqual([[1], [1], [2]]);

    gates.get('a')!.resolve();
    await tick();
    expect(ran).toEqual(['a', 'b']);
    expect(c.positions).toEqual([2, 1]); // moved up when `b` started
    expect(admission.full).toBe(false);
    admission.recordRun(11_000);
    expect(admission.retryAfterSeconds()).toBe(8); // (0.7 x 1000 + 0.3 x 11000) ms x (1 waiting + 1)
    expect(dropped).toEqual([]);
  });

  it('a job aborted while waiting never runs, leaves the list and is reported dropped', async () => {
    const admission = new Admission<FakeJob>({ maxQueue: 8, concurrency: 1 });
    const gate = deferred();
    const ran: string[] = [];
    const dropped: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new FakeJob(n));
    for (const job of [a, b, c]) {
      admission.enqueue(
        job,
        async (j) => {
          ran.push(j.name);
          if (j === a) await gate.promise;
        },
        (j) => dropped.push(j.name),
      );
    }
    await tick();
    b.controller.abort('cancelled');
    await tick();
    expect(dropped).toEqual(['b']);
    expect(admission.waiting.map((j) => j.name)).toEqual(['c']);
    expect(c.position).toBe(1);
    gate.resolve();
    await tick();
    await tick();
    expect(ran).toEqual(['a', 'c']);
    expect(admission.running).toBe(0);
  });
});

describe('failure of a job', () => {
  it('maps the abort reason first, then the thrown error, through the catalogue', () => {
    const cases = [
      [failureOf('timeout', null, 400), 'failed', 504, 'timeout'],
      [failureOf('shutdown', null, 400), 'cancelled', 503, 'shutting_down'],
      [failureOf('cancelled', null, 400), 'cancelled', 499, 'cancelled'],
      [failureOf('disconnected', null, 400), 'cancelled', 499, 'cancelled'],
      [failureOf(null, new TesseraError('TESSERA_ERR_WORKER', 'the inference worker stopped (signal SIGKILL)'), 400), 'failed', 500, 'worker_crashed'],
      [failureOf(null, new TesseraError('TESSERA_ERR_INFERENCE', 'bad graph'), 400), 'failed', 500, 'inference'],
      [failureOf(null, new Error('disk full'), 400), 'failed', 500, 'internal_error'],
    ] as const;
    for (const [failure, status, http, code] of cases) {
      expect({ status: failure.status, http: failure.error.status, code: failure.error.code }).toEqual({ status, http, code });
    }
    expect(failureOf('timeout', null, 400).error.message).toContain('400 ms');
    expect(failureOf(null, new Error('secret path /x'), 1).error.message).toBe('internal server error');
  });
});

describe('result writer', () => {
  it('writes kept images (requested size and format), every candidate at native size, then the record', async () => {
    const params = tinyParams({ prompt: 'a red circle', candidates: 3, n: 2, seed: 5, size: '128x128', output_format: 'webp' });
    const files = new Map<string, Uint8Array>();
    const saved: GenerationRecord[] = [];
    const order: string[] = [];
    const id = '3f2a1c7e-0000-4000-8000-000000000001';
    const { record, images } = await writeResult(fakeResult(3, 2, 64), layoutFor(id, 1700000000, params), {
      writeFile: async (folder, name, data) => {
        order.push(name);
        files.set(`${folder}/${name}`, data);
      },
      save: async (r) => {
        order.push('record');
        saved.push(r);
      },
    });
    expect(order).toEqual(['image-1.webp', 'image-2.webp', 'candidate-2.png', 'candidate-1.png', 'candidate-0.png', 'record']);
    expect(saved).toEqual([record]);
    expect(plainJsonViolations(record)).toEqual([]);
    expect(record).toMatchObject({ id, created: 1700000000, size: '128x128', native_size: '64x64', upscaled: true, output_format: 'webp', seed: 5, user: null });
    expect(record.images.map((i) => [i.rank, i.candidate_index, i.kept, i.file])).toEqual([
      [1, 2, true, 'image-1.webp'],
      [2, 1, true, 'image-2.webp'],
    ]);
    expect(record.candidates.map((c) => [c.candidate_index, c.kept])).toEqual([
      [2, true],
      [1, true],
      [0, false],
    ]);
    expect(images.map((b) => Buffer.from(b).equals(Buffer.from(files.get(`${id}/${record.images[images.indexOf(b)].file}`)!)))).toEqual([true, true]);
    expect(await sharp(images[0]).metadata()).toMatchObject({ format: 'webp', width: 128, height: 128 });
    expect(await sharp(Buffer.from(files.get(`${id}/candidate-0.png`)!)).metadata()).toMatchObject({ format: 'png', width: 64, height: 64 });
  });
});

describe('generation events -> job', () => {
  it('start sets the total, steps publish progress and new row maxima, stages go to metrics, previews become PNGs', async () => {
    const job = new Job(newJobData(tinyParams()));
    job.start();
    const events: JobEvent[] = [];
    job.on('event', (e: JobEvent) => events.push(e));
    const stages: [string, number][] = [];
    const rows: number[] = [];
    const hooks = { stage: (stage: string, ms: number) => void stages.push([stage, ms]), stepRows: (n: number) => void rows.push(n) };
    applyGenerationEvent(job, { type: 'start', candidates: 3, steps: 64, rows: 3 }, hooks);
    expect(job.progress).toEqual({ step: 0, steps: 64 });
    applyGenerationEvent(job, { type: 'step', step: 1, steps: 64, tokensPerSecond: 10.6, rows: 3 }, hooks);
    applyGenerationEvent(job, { type: 'step', step: 2, steps: 64, tokensPerSecond: 9, rows: 7 }, hooks);
    applyGenerationEvent(job, { type: 'step', step: 3, steps: 64, tokensPerSecond: 9, rows: 5 }, hooks);
    applyGenerationEvent(job, { type: 'stage', stage: 'prefill', ms: 12 }, hooks);
    const image = { width: 4, height: 4, data: new Uint8Array(48).fill(200) };
    const published = new Promise<void>((resolve) => job.on('event', (e: JobEvent) => e.type === 'preview' && resolve()));
    applyGenerationEvent(job, { type: 'preview', step: 3, steps: 64, images: Array.from({ length: PREVIEW_LIMIT + 4 }, () => image) }, hooks);
    await published;
    expect(events.filter((e) => e.type === 'progress')).toEqual([
      { type: 'progress', step: 1, steps: 64, tokens_per_second: 11 },
      { type: 'progress', step: 2, steps: 64, tokens_per_second: 9 },
      { type: 'progress', step: 3, steps: 64, tokens_per_second: 9 },
    ]);
    expect(rows).toEqual([3, 7]);
    expect(job.maxStepRows).toBe(7);
    expect(stages).toEqual([['prefill', 12]]);
    const preview = job.lastPreview!;
    expect(preview.images).toHaveLength(PREVIEW_LIMIT);
    expect(await sharp(Buffer.from(preview.images[0], 'base64')).metadata()).toMatchObject({ format: 'png', width: 4, height: 4 });
  });
});
