/**
 * Issue 23: image prompts over the queue, and a queue with no worker.
 *
 * - `tessera serve --queue`: an edit with a mask, a completion and a variation without a
 *   prompt return the bytes a local server returns (the image travels in the job's data;
 *   before, the worker ran the prompt as text alone and refused the variation).
 * - `tessera batch --queue`: image lines (a variation without a prompt among them, sharing
 *   a sampler batch with a text line) make the folder a local run makes, nothing failed.
 * - With no worker connected, `serve --queue` refuses at once: 503 `no_worker` in the
 *   OpenAI envelope with Retry-After (before: accepted, then 504 after the timeout).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../src/batch/runner.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { queueExecutor } from '../../src/queue/client.js';
import { NO_WORKER_RETRY_AFTER_S, queueInference } from '../../src/queue/remote.js';
import { comparableSnapshot, snapshotDiff, tempDir, TINY_MODEL, writeText } from '../batch/helpers.js';
import { maskPng, testPicture } from '../helpers/images.js';
import { withoutFootprint } from '../helpers/png.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { testServer, waitFor, type TestServer } from '../server/helpers.js';
import { startWorker, stopWorker, type WorkerProcess } from './helpers.js';

let redis: TestRedis;
let worker: WorkerProcess | null = null;
let local: TestServer;
let queued: TestServer;
const base = { local: '', queued: '' };
let picture: Buffer;
let mask: Buffer;
const dir = tempDir('queue-images');

beforeAll(async () => {
  redis = await startRedis();
  local = await testServer();
  queued = await testServer({ inference: queueInference(redis.url, { pollMs: 100 }) });
  await Promise.all([local.app.tessera.engine.start(), queued.app.tessera.engine.start()]);
  base.local = await local.app.listen({ host: '127.0.0.1', port: 0 });
  base.queued = await queued.app.listen({ host: '127.0.0.1', port: 0 });
  picture = await testPicture(96, 64, 'jpeg');
  mask = await maskPng(96, 64, { x0: 48, y0: 32, x1: 96, y1: 64 });
}, 90_000);

afterAll(async () => {
  await Promise.all([local, queued].map((s) => s?.close()));
  if (worker !== null) await stopWorker(worker);
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Fields = Record<string, string | Buffer>;

async function postForm(url: string, fields: Fields): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([new Uint8Array(value)], { type: name === 'mask' ? 'image/png' : 'image/jpeg' }), `${name}.${name === 'mask' ? 'png' : 'jpg'}`);
  }
  const response = await fetch(url, { method: 'POST', body: form });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

/** The b64_json images of a response, minus the footprint chunk (it carries each request's measured times). */
function images(body: Record<string, unknown>): string[] {
  return (body.data as { b64_json: string }[]).map((d) => withoutFootprint(Buffer.from(d.b64_json, 'base64')).toString('base64'));
}

const EDIT: Fields = { prompt: 'a blue circle', n: '2', candidates: '3', seed: '4', response_format: 'b64_json' };
const CASES: [string, string, () => Fields][] = [
  ['an edit with a mask', 'edits', () => ({ ...EDIT, image: picture, mask })],
  ['a completion (keep_rows, no mask)', 'edits', () => ({ ...EDIT, prompt: 'a red star', image: picture, keep_rows: '3' })],
  ['a variation without a prompt', 'variations', () => ({ image: picture, n: '2', candidates: '3', seed: '9', keep_share: '0.25', response_format: 'b64_json' })],
];

describe('tessera serve --queue with no worker connected', () => {
  it('refuses at once: 503 no_worker in the envelope with Retry-After, as /readyz says 503', async () => {
    await waitFor(async () => (await queued.app.inject({ url: '/readyz' })).statusCode === 503);
    // The async route first: before the fix it answered 202 at once (the sync one waited for the timeout).
    for (const url of ['/v1/jobs', '/v1/images/generations']) {
      const answer = await queued.app.inject({ method: 'POST', url, payload: { prompt: 'a red circle', candidates: 2 } });
      expect(answer.statusCode, answer.body).toBe(503);
      expect(answer.headers['retry-after']).toBe(String(NO_WORKER_RETRY_AFTER_S));
      expect(answer.json().error).toMatchObject({ code: 'no_worker', type: 'server_error' });
    }
    const edit = await postForm(`${base.queued}/v1/images/edits`, CASES[0][2]());
    expect(edit.status).toBe(503);
    expect(edit.headers.get('retry-after')).toBe(String(NO_WORKER_RETRY_AFTER_S));
    expect((edit.body.error as { code: string }).code).toBe('no_worker');
    // Nothing was left in the queue for a worker that comes later.
    expect(queued.app.tessera.engine.remoteQueues()['tiny-random']).toMatchObject({ waiting: 0, active: 0 });
  }, 60_000);
});

describe('image prompts over the queue give what local ones give', () => {
  it('a worker connects: requests are taken again', async () => {
    worker = startWorker(redis.url, 'img1');
    await worker.ready;
    await waitFor(async () => (await queued.app.inject({ url: '/readyz' })).statusCode === 200);
  }, 90_000);

  for (const [name, route, fields] of CASES) {
    it(`serve --queue: ${name} returns the local server's bytes`, async () => {
      const [mine, theirs] = await Promise.all([postForm(`${base.local}/v1/images/${route}`, fields()), postForm(`${base.queued}/v1/images/${route}`, fields())]);
      expect(mine.status, JSON.stringify(mine.body)).toBe(200);
      expect(theirs.status, JSON.stringify(theirs.body)).toBe(200);
      expect(images(theirs.body)).toHaveLength(2);
      expect(images(theirs.body)).toEqual(images(mine.body));
    }, 90_000);
  }

  it('batch --queue: image lines (a variation without a prompt among them) make the local folder, nothing failed', async () => {
    const folder = path.join(dir, 'job');
    mkdirSync(path.join(folder, 'inputs'), { recursive: true });
    writeFileSync(path.join(folder, 'inputs/picture.jpg'), picture);
    writeFileSync(path.join(folder, 'inputs/mask.png'), mask);
    const lines = [
      { prompt: 'a red star', image: 'inputs/picture.jpg', keep_rows: 3 },
      { prompt: 'a blue circle', image: 'inputs/picture.jpg', mask: 'inputs/mask.png' },
      { image: 'inputs/picture.jpg', mode: 'vary', keep_share: 0.25 },
      { prompt: 'a green square' },
      { image: 'inputs/picture.jpg', mode: 'vary' },
    ];
    const prompts = writeText(folder, 'prompts.jsonl', lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const settings = { prompts, model: TINY_MODEL, candidates: 3, keep: 1, seed: 5, batchPrompts: 2 } as const;
    const tessera = await Tessera.load({ model: TINY_MODEL });
    try {
      const reference = await runBatch({ ...settings, tessera, out: path.join(dir, 'local') });
      expect(reference).toMatchObject({ generated: 5, failed: [] });
    } finally {
      await tessera.dispose();
    }
    const summary = await runBatch({ ...settings, out: path.join(dir, 'queued'), executor: queueExecutor({ queue: redis.url, pollMs: 100 }) });
    expect(summary).toMatchObject({ prompts: 5, generated: 5, failed: [], batches: 3 });
    expect(snapshotDiff(comparableSnapshot(path.join(dir, 'local')), comparableSnapshot(path.join(dir, 'queued')))).toEqual([]);
  }, 120_000);
});
