/**
 * `tessera serve --queue`: two API replicas share one Redis and one `tessera worker`
 * process; the OpenAI endpoint returns the bytes a local server returns, SSE carries
 * progress and previews from the worker, DELETE cancels a job running on the worker, and
 * /readyz needs Redis and a worker.
 */
import { withoutFootprint } from '../helpers/png.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueInference } from '../../src/queue/remote.js';
import { STEP_DELAY_ENV } from '../../src/inference/protocol.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { parseSse, testServer, waitFor, type TestServer } from '../server/helpers.js';
import { startWorker, stopWorker, type WorkerProcess } from './helpers.js';

let redis: TestRedis;
let worker: WorkerProcess;
let local: TestServer;
let replicas: TestServer[];

beforeAll(async () => {
  redis = await startRedis();
  worker = startWorker(redis.url, 's1', [], { [STEP_DELAY_ENV]: '30' });
  local = await testServer();
  replicas = await Promise.all([0, 1].map(() => testServer({ inference: queueInference(redis.url, { pollMs: 100 }) })));
  await Promise.all([worker.ready, local.app.tessera.engine.start(), ...replicas.map((r) => r.app.tessera.engine.start())]);
}, 90_000);

afterAll(async () => {
  await Promise.all([local, ...replicas].map((s) => s.close()));
  await stopWorker(worker);
  await redis.stop();
});

const post = (server: TestServer, url: string, payload: Record<string, unknown>) => server.app.inject({ method: 'POST', url, payload });

describe('tessera serve --queue', () => {
  it('/readyz: ready with Redis and a worker', async () => {
    // Both replicas: a replica that has not yet seen the worker refuses requests (503 no_worker, issue 23).
    for (const replica of replicas) await waitFor(async () => (await replica.app.inject({ url: '/readyz' })).statusCode === 200);
    const body = (await replicas[0].app.inject({ url: '/readyz' })).json();
    expect(body).toMatchObject({ status: 'ready', models: [{ ready: true, error: null }] });
  });

  it('both replicas return the bytes of a local server (the OpenAI endpoint)', async () => {
    const request = { prompt: 'a red circle', candidates: 2, n: 1, seed: 7, response_format: 'b64_json' };
    const [a, b, mine] = await Promise.all([post(replicas[0], '/v1/images/generations', request), post(replicas[1], '/v1/images/generations', request), post(local, '/v1/images/generations', request)]);
    for (const response of [a, b, mine]) expect(response.statusCode, response.body).toBe(200);
    // Minus the footprint chunk: it carries this request's measured times.
    const image = (r: typeof a) => withoutFootprint(Buffer.from(r.json().data[0].b64_json as string, 'base64')).toString('base64');
    expect(image(a)).toBe(image(mine));
    expect(image(b)).toBe(image(mine));
    expect(worker.jobsDone()).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('an async job streams progress and previews from the worker over SSE', async () => {
    const created = await post(replicas[1], '/v1/jobs', { prompt: 'a yellow triangle', candidates: 4, n: 2, preview_every: 16 });
    expect(created.statusCode).toBe(202);
    const { id, links } = created.json();
    const events = parseSse((await replicas[1].app.inject({ url: links.events })).body).map((e) => e.data as { type: string; images?: string[] });
    const types = events.map((e) => e.type);
    expect(types).toContain('progress');
    expect(types).toContain('preview');
    expect(types.at(-1)).toBe('result');
    expect(events.find((e) => e.type === 'preview')?.images?.length).toBe(4);
    expect((await replicas[1].app.inject({ url: `/v1/jobs/${id}` })).json().status).toBe('succeeded');
  }, 90_000);

  it('DELETE cancels a job running on the worker (the worker stops it)', async () => {
    const created = await post(replicas[0], '/v1/jobs', { prompt: 'a big circle', candidates: 16 });
    const { id } = created.json();
    await waitFor(async () => (await replicas[0].app.inject({ url: `/v1/jobs/${id}` })).json().progress?.step > 2);
    const deleted = await replicas[0].app.inject({ method: 'DELETE', url: `/v1/jobs/${id}` });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json().status).toBe('cancelled');
    await waitFor(() => /failed \(attempt 1\): \[TESSERA_ERR_CANCELLED\]/.test(worker.log()));
  }, 90_000);

  it('/metrics exports the shared queue: jobs by state and workers', async () => {
    // Once the cancelled job above has left the worker, nothing is active.
    const metrics = async () => (await replicas[0].app.inject({ url: '/metrics' })).body;
    await waitFor(async () => /^tessera_remote_queue_jobs\{model="tiny-random",state="active"\} 0$/m.test(await metrics()));
    const text = await metrics();
    expect(text).toMatch(/^tessera_remote_queue_workers\{model="tiny-random"\} 1$/m);
    expect(text).toMatch(/^tessera_remote_queue_jobs\{model="tiny-random",state="waiting"\} 0$/m);
    // A local server has no queue series.
    expect((await local.app.inject({ url: '/metrics' })).body).not.toContain('tessera_remote_queue');
  });

  it('/readyz: not ready without a worker, saying why', async () => {
    await stopWorker(worker);
    await waitFor(async () => (await replicas[0].app.inject({ url: '/readyz' })).statusCode === 503);
    const body = (await replicas[0].app.inject({ url: '/readyz' })).json();
    expect(body.models[0].error).toMatch(/no tessera worker is connected to queue tessera-/);
    // And a request is refused at once, in the envelope, not left waiting for the timeout (issue 23).
    const refused = await post(replicas[0], '/v1/images/generations', { prompt: 'a red circle', candidates: 2 });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.json().error.code).toBe('no_worker');
  }, 60_000);
});
