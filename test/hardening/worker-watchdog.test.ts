/**
 * Issue 15, defect 3: a hung inference child (here SIGSTOP) is detected by the parent's
 * heartbeat watchdog, /readyz reports it, it is replaced, and only its in-flight work fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, waitFor, type TestServer } from '../server/helpers.js';

let server: TestServer;
beforeAll(async () => {
  // A short watchdog; the step delay keeps the request in flight long enough to stop the child mid-way.
  server = await testServer({ waitReady: true, workerWatchdogMs: 4000, workerStepDelayMs: 50 });
});
afterAll(async () => server?.close());

describe('heartbeat watchdog', () => {
  it('a stopped child fails its in-flight job (worker code), is replaced, and the next request works', async () => {
    const { app } = server;
    const worker = [...app.tessera.engine.slots.values()][0].inference;
    const hungPid = worker.pid as number;
    const started = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'a red circle', candidates: 2, n: 1, seed: 1 } });
    expect(started.statusCode).toBe(202);
    const id = (started.json() as { id: string }).id;
    await waitFor(async () => ((await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json() as { progress: { step: number } }).progress.step > 0);
    let sawNotReady = false;
    worker.once('hung', () => (sawNotReady = !worker.ready));
    process.kill(hungPid, 'SIGSTOP');
    try {
      await waitFor(async () => ((await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json() as { status: string }).status === 'failed', 60_000);
    } finally {
      try {
        process.kill(hungPid, 'SIGCONT');
      } catch {
        // already killed by the watchdog
      }
    }
    expect(sawNotReady).toBe(true);
    const job = (await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json() as { error: { code: string; message: string } };
    expect(job.error.code).toBe('worker_crashed');
    expect(job.error.message).toContain('no heartbeat');
    await waitFor(() => worker.ready && worker.pid !== hungPid, 60_000);
    expect(worker.restarts).toBe(1);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    const next = await app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', candidates: 2, n: 1, response_format: 'b64_json' } });
    expect(next.statusCode).toBe(200);
  });

  it('/readyz is 503 while the worker is marked hung', async () => {
    const { app } = server;
    const worker = [...app.tessera.engine.slots.values()][0].inference;
    await waitFor(() => worker.ready);
    const pid = worker.pid as number;
    const statuses: number[] = [];
    const seen = new Promise<void>((resolve) =>
      worker.once('hung', () => {
        void app.inject({ method: 'GET', url: '/readyz' }).then((r) => {
          statuses.push(r.statusCode);
          resolve();
        });
      }),
    );
    process.kill(pid, 'SIGSTOP');
    await seen;
    expect(statuses).toEqual([503]);
    await waitFor(() => worker.ready && worker.pid !== pid, 90_000);
  });
});
