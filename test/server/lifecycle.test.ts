import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, waitFor, type TestServer } from './helpers.js';

// 64 steps x 60 ms: a request runs for at least 3.8 s uncancelled, far past the 400 ms
// timeout, so an answer well before that shows it was cancelled between steps (with room
// for a loaded machine: no tight timing bound).
let server: TestServer;
beforeAll(async () => {
  server = await testServer({ waitReady: true, workerStepDelayMs: 60, timeoutMs: 400, shutdownGraceMs: 200 });
});
afterAll(async () => server?.close().catch(() => undefined));

describe('timeouts and graceful shutdown', () => {
  it('a request past its timeout is cancelled between steps and answers 504', async () => {
    const started = performance.now();
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', candidates: 2 } });
    expect(response.statusCode).toBe(504);
    expect(response.json().error).toMatchObject({ type: 'timeout_error', code: 'timeout' });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(server.app.tessera.store.count()).toBe(0);
  });

  it('close() stops accepting, cancels in-flight work after the grace period with a clear status, and closes the database', async () => {
    const { engine, store } = server.app.tessera;
    const created = await server.app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'a long one', candidates: 2 } });
    const { id } = created.json();
    await waitFor(() => engine.get(id)?.status === 'running');
    await server.app.close();
    const job = engine.get(id)!;
    expect(job.status).toBe('cancelled');
    expect(job.error?.code).toBe('TESSERA_ERR_SHUTTING_DOWN');
    expect(job.toJSON().error).toMatchObject({ code: 'shutting_down', type: 'server_error' });
    expect(() => engine.submit({} as never)).toThrow(/shutting down/);
    expect(() => store.count()).toThrow();
    expect([...engine.slots.values()][0].inference.pid).toBeUndefined();
  });
});
