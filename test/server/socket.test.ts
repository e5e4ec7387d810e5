import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, waitFor, type TestServer } from './helpers.js';

// A real listening socket, the official client, and a worker slowed to ~15 ms a step so
// requests are still running when the test kills the worker or disconnects. Concurrency 1
// (one request in the child at a time) so a second request waits and a third is refused.
let server: TestServer;
let base: string;
let client: OpenAI;
beforeAll(async () => {
  server = await testServer({ waitReady: true, workerStepDelayMs: 15, maxQueue: 1, concurrency: 1 });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  client = new OpenAI({ apiKey: 'unused', baseURL: `${base}/v1`, maxRetries: 0 });
});
afterAll(async () => server?.close());

describe('over a real socket', () => {
  it('works with the official openai client: generate, stream, models, errors', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['tiny-random']);

    const result = await client.images.generate({ prompt: 'a red circle', n: 2, size: '256x256', response_format: 'b64_json', candidates: 2 } as OpenAI.ImageGenerateParamsNonStreaming);
    expect(result.data).toHaveLength(2);
    const png = Buffer.from(result.data![0].b64_json!, 'base64');
    expect(png.readUInt32BE(16)).toBe(256);
    expect(result.size).toBe('256x256');

    const viaUrl = await client.images.generate({ prompt: 'a red circle', response_format: 'url', candidates: 1 } as OpenAI.ImageGenerateParamsNonStreaming);
    const fetched = await fetch(viaUrl.data![0].url!);
    expect(fetched.status).toBe(200);

    const stream = await client.images.generate({ prompt: 'a blue square', stream: true, partial_images: 1, candidates: 1 } as OpenAI.ImageGenerateParamsStreaming);
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual(['image_generation.partial_image', 'image_generation.completed']);

    const error = await client.images.generate({ prompt: '' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('prompt');
    const unknown = await client.images.generate({ prompt: 'x', model: 'nope' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('survives the inference worker being killed mid-request: that request gets a clear 500, the next works', async () => {
    const slot = [...server.app.tessera.engine.slots.values()][0];
    const pid = slot.inference.pid!;
    const pending = fetch(`${base}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a red circle', candidates: 2 }),
    });
    await waitFor(() => slot.running === 1 && slot.inference.inFlight === 1);
    await new Promise((r) => setTimeout(r, 200)); // well into sampling
    process.kill(pid, 'SIGKILL');
    const response = await pending;
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error.code).toBe('worker_crashed');
    expect(body.error.type).toBe('server_error');
    expect(body.error.message).toMatch(/inference worker stopped \(signal SIGKILL\)/);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const next = await fetch(`${base}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a red circle', candidates: 1, response_format: 'b64_json' }),
    });
    expect(next.status).toBe(200);
    expect(slot.inference.pid).not.toBe(pid);
    expect(slot.inference.restarts).toBe(1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('tessera_worker_restarts_total{model="tiny-random"} 1');
  });

  it('a full queue answers 429 with Retry-After; a client that disconnects cancels its sampling', async () => {
    const engine = server.app.tessera.engine;
    const slot = [...engine.slots.values()][0];
    const controller = new AbortController();
    const running = fetch(`${base}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'first', candidates: 2 }),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await waitFor(() => slot.running === 1);
    const queued = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'second', candidates: 1 }) });
    expect(queued.status).toBe(202);
    const full = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'third', candidates: 1 }) });
    expect(full.status).toBe(429);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await full.json()) as { error: { code: string } }).error.code).toBe('queue_full');

    // Disconnect the first client: its sampling stops between steps and the queued job starts.
    const started = performance.now();
    controller.abort();
    await running;
    const { id } = (await queued.json()) as { id: string };
    await waitFor(() => engine.get(id)?.status === 'running' || engine.get(id)?.finished === true, 10_000);
    expect(performance.now() - started).toBeLessThan(2000); // 64 steps x 15 ms would be ~1 s more per candidate batch
    const first = [...(engine as unknown as { jobs: Map<string, { params: { request: { prompt: string } }; status: string }> }).jobs.values()].find(
      (j) => j.params.request.prompt === 'first',
    );
    expect(first?.status).toBe('cancelled');
    await waitFor(() => engine.get(id)?.finished === true, 20_000);
  });
});
