/**
 * Issue 23, defect 4: a request that arrives while the server shuts down (SIGTERM: app.close()
 * waiting for in-flight work) gets the OpenAI envelope, 503 shutting_down with Retry-After,
 * not fastify's own {"error":"Service Unavailable",...}.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, waitFor, type TestServer } from '../server/helpers.js';

let server: TestServer;
let base: string;
beforeAll(async () => {
  server = await testServer({ waitReady: true, workerStepDelayMs: 40, shutdownGraceMs: 4000 });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => server?.close().catch(() => undefined));

describe('requests during shutdown', () => {
  it('answer 503 shutting_down in the envelope with Retry-After, on every route', async () => {
    const { app } = server;
    const created = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'in flight', candidates: 2 } });
    const { id } = created.json();
    await waitFor(() => app.tessera.engine.get(id)?.status === 'running');
    const closing = app.close();
    await waitFor(() => app.tessera.engine.shuttingDown);
    const requests: [string, RequestInit][] = [
      ['/v1/images/generations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a red circle' }) }],
      ['/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a red circle' }) }],
      ['/v1/models', { method: 'GET' }],
      ['/healthz', { method: 'GET' }],
      ['/no-such-route', { method: 'GET' }],
    ];
    for (const [url, init] of requests) {
      const response = await fetch(`${base}${url}`, init);
      const body = (await response.json()) as { error: Record<string, unknown> };
      expect([url, response.status, body.error?.code, body.error?.type]).toEqual([url, 503, 'shutting_down', 'server_error']);
      expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    await closing;
    expect(app.tessera.engine.get(id)?.finished).toBe(true);
  }, 60_000);
});
