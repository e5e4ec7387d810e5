import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, type TestServer } from './helpers.js';

// Validation happens before anything is queued, so these never need the worker.
let server: TestServer;
beforeAll(async () => {
  server = await testServer({ bodyLimit: 4096 });
});
afterAll(async () => server?.close());

async function post(payload: unknown, url = '/v1/images/generations') {
  const response = await server.app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });
  return { status: response.statusCode, body: response.json() as { error: { message: string; type: string; param: string | null; code: string | null } } };
}

function expectEnvelope(body: { error: Record<string, unknown> }, param: string | null) {
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.param).toBe(param);
}

describe('bad input: a 4xx with the OpenAI error envelope, never a 500', () => {
  it('missing prompt', async () => {
    const r = await post({ n: 1 });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'prompt');
    expect(r.body.error.code).toBe('missing_required_parameter');
  });

  it('empty prompt', async () => {
    const r = await post({ prompt: '   ' });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'prompt');
  });

  it('prompt of the wrong type', async () => {
    const r = await post({ prompt: 42 });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'prompt');
    expect(r.body.error.code).toBe('invalid_type');
  });

  it('n of the wrong type (a numeric string is not coerced)', async () => {
    const r = await post({ prompt: 'a red circle', n: '2' });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'n');
  });

  it('stream of the wrong type', async () => {
    const r = await post({ prompt: 'a red circle', stream: 'yes' });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'stream');
  });

  it('unknown model', async () => {
    const r = await post({ prompt: 'a red circle', model: 'dall-e-9' });
    expect(r.status).toBe(404);
    expectEnvelope(r.body, 'model');
    expect(r.body.error.code).toBe('model_not_found');
  });

  it('unknown size', async () => {
    const r = await post({ prompt: 'a red circle', size: '100x77' });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'size');
    expect(r.body.error.message).toContain('64x64');
  });

  it('unknown response_format', async () => {
    const r = await post({ prompt: 'a red circle', response_format: 'gif' });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'response_format');
  });

  it('unknown output_format', async () => {
    const r = await post({ prompt: 'a red circle', output_format: 'bmp' });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'output_format');
  });

  it('n below range', async () => {
    const r = await post({ prompt: 'a red circle', n: 0 });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'n');
  });

  it('n above range', async () => {
    const r = await post({ prompt: 'a red circle', n: 11 });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'n');
  });

  it('n larger than candidates', async () => {
    const r = await post({ prompt: 'a red circle', n: 4, candidates: 2 });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'n');
  });

  it('sampling value out of range names the wire field', async () => {
    const r = await post({ prompt: 'a red circle', top_p: 0 });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'top_p');
  });

  it('unknown field', async () => {
    const r = await post({ prompt: 'a red circle', steps: 10 });
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'steps');
    expect(r.body.error.code).toBe('unknown_parameter');
  });

  it('body that is not an object', async () => {
    const r = await post([1, 2, 3]);
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'body');
  });

  it('oversized body', async () => {
    const r = await post({ prompt: 'x'.repeat(10_000) });
    expect(r.status).toBe(413);
    expectEnvelope(r.body, 'body');
    expect(r.body.error.code).toBe('body_too_large');
  });

  it('malformed JSON', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', headers: { 'content-type': 'application/json' }, payload: '{"prompt": "a red' });
    expect(response.statusCode).toBe(400);
    expectEnvelope(response.json(), 'body');
    expect(response.json().error.code).toBe('invalid_json');
  });

  it('unsupported content type', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', headers: { 'content-type': 'text/plain' }, payload: 'a red circle' });
    expect(response.statusCode).toBe(415);
    expectEnvelope(response.json(), null);
  });

  it('unknown job id', async () => {
    for (const url of ['/v1/jobs/3f2a1c7e-0000-4000-8000-000000000000', '/v1/jobs/not-an-id', '/v1/jobs/3f2a1c7e-0000-4000-8000-000000000000/events']) {
      const response = await server.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expectEnvelope(response.json(), 'id');
    }
    const del = await server.app.inject({ method: 'DELETE', url: '/v1/jobs/3f2a1c7e-0000-4000-8000-000000000000' });
    expect(del.statusCode).toBe(404);
  });

  it('bad job body is validated like the generation body', async () => {
    const r = await post({ prompt: '' }, '/v1/jobs');
    expect(r.status).toBe(400);
    expectEnvelope(r.body, 'prompt');
  });

  it('unknown history entry and hostile file paths', async () => {
    expect((await server.app.inject({ method: 'DELETE', url: '/v1/history/3f2a1c7e-0000-4000-8000-000000000000' })).statusCode).toBe(404);
    for (const url of [
      '/v1/files/..%2F..%2Fhistory.sqlite/x',
      '/v1/files/3f2a1c7e-0000-4000-8000-000000000000/..%2Frecord.json',
      '/v1/files/../history.sqlite',
      '/v1/files/%2e%2e/%2e%2e%2fetc%2fpasswd',
      '/v1/files/3f2a1c7e-0000-4000-8000-000000000000/record.json',
    ]) {
      const response = await server.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error).toBeDefined();
    }
  });

  it('bad history query', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/v1/history?limit=abc' });
    expect(response.statusCode).toBe(400);
    expectEnvelope(response.json(), 'limit');
  });

  it('unknown route', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/v1/nothing' });
    expect(response.statusCode).toBe(404);
    expectEnvelope(response.json(), null);
  });
});

describe('server options', () => {
  it('rejects out-of-range numeric options with the flag name', async () => {
    const { resolveServerOptions } = await import('../../src/server/options.js');
    for (const [options, flag] of [
      [{ concurrency: 0 }, 'concurrency'],
      [{ maxBatchRows: -1 }, 'max-batch-rows'],
      [{ maxQueue: 1.5 }, 'max-queue'],
      [{ maxCandidates: 5000 }, 'max-candidates'],
      [{ rateLimit: -3 }, 'rate-limit'],
    ] as const) {
      expect(() => resolveServerOptions(options)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION', param: flag }));
    }
    expect(resolveServerOptions({ concurrency: 2, maxBatchRows: 64, rateLimit: false })).toMatchObject({ concurrency: 2, maxBatchRows: 64, rateLimit: false });
  });
});
