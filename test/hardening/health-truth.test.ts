/**
 * Issue 23: /healthz and /readyz tell the truth when the process cannot make progress.
 * The rule (routes/health.ts, docs/api.md): 503 when the event loop was later than
 * maxLoopLagMs lately, or when a model has requests running and no sampling event came
 * for stallMs. Both are provoked here with small limits; nothing is timed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { testServer, waitFor, type TestServer } from '../server/helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close().catch(() => undefined);
  server = undefined;
});

describe('health that tells the truth', () => {
  it('an event loop held far past the limit makes /healthz and /readyz 503, naming why', async () => {
    server = await testServer({ waitReady: true, maxLoopLagMs: 200 });
    // The lag clock starts when the app is ready (listen or the first inject): start it first.
    await server.app.ready();
    // Hold the loop (what a per-pixel loop on it did) three times the limit.
    const until = Date.now() + 600;
    while (Date.now() < until) {
      /* busy */
    }
    const health = await server.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(503);
    expect(health.json().status).toBe('unhealthy');
    expect(health.json().problems[0]).toMatch(/^event loop/);
    const ready = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect([ready.statusCode, ready.json().status]).toEqual([503, 'not_ready']);
  });

  it('a model with a running request and no sampling step for stallMs makes both 503, and recovers when the work ends', async () => {
    // Each step sleeps 1.5 s in the child: longer than the 300 ms stall limit.
    server = await testServer({ waitReady: true, workerStepDelayMs: 1500, stallMs: 300 });
    const { app } = server;
    await waitFor(async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200);
    const created = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'a slow one', candidates: 2 } });
    const { id } = created.json();
    await waitFor(async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 503);
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.json().problems.some((p: string) => p.includes('no sampling step'))).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'DELETE', url: `/v1/jobs/${id}` })).statusCode).toBeLessThan(300);
    // Once the child has let go of the cancelled run, nothing is running: healthy again.
    await waitFor(async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200);
    expect(app.tessera.engine.get(id)?.status).toBe('cancelled');
  }, 60_000);
});
