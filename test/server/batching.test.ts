import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, type TestServer } from './helpers.js';
import { withoutFootprint } from '../helpers/png.js';

// ~10 ms a step: two requests submitted together are both in the child for most of their 64 steps.
let server: TestServer;
beforeAll(async () => {
  server = await testServer({ waitReady: true, workerStepDelayMs: 10 });
});
afterAll(async () => server?.close());

const requests = [
  { prompt: 'a red circle', candidates: 2, seed: 11 },
  { prompt: 'a blue square', candidates: 3, seed: 12, guidance_scale: 1 },
];
const ownRows = [4, 3]; // guided: a candidate and its unconditional twin; unguided: one row each

async function run(payload: Record<string, unknown>): Promise<string> {
  const created = await server.app.inject({ method: 'POST', url: '/v1/jobs', payload });
  expect(created.statusCode).toBe(202);
  return created.json().id as string;
}

/** Each candidate's PNG less its footprint chunk (a measurement of the run; everything else must match). */
function candidateFiles(id: string, count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => withoutFootprint(readFileSync(path.join(server.dataDir, 'results', id, `candidate-${i}.png`))));
}

describe('continuous batching in the inference child', () => {
  it('concurrent requests share sampling steps and get exactly the images each gets alone', async () => {
    const { engine } = server.app.tessera;
    const together = await Promise.all(requests.map(run));
    await Promise.all(together.map((id) => engine.get(id)!.done));
    for (const id of together) {
      const job = engine.get(id)!;
      expect(job.status).toBe('succeeded');
      expect(job.maxStepRows).toBe(ownRows[0] + ownRows[1]);
      expect(job.record?.timings.total).toBeGreaterThan(0);
      expect(job.progress).toEqual({ step: 64, steps: 64 });
    }

    const alone: string[] = [];
    for (const payload of requests) {
      const id = await run(payload);
      await engine.get(id)!.done;
      alone.push(id);
    }
    alone.forEach((id, i) => expect(engine.get(id)!.maxStepRows).toBe(ownRows[i]));
    requests.forEach((payload, i) => {
      const shared = candidateFiles(together[i], payload.candidates);
      const single = candidateFiles(alone[i], payload.candidates);
      shared.forEach((png, k) => expect(png.equals(single[k]), `request ${i} candidate ${k}`).toBe(true));
    });
    const metrics = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain(`tessera_step_rows_max{model="tiny-random"} ${ownRows[0] + ownRows[1]}`);
  });

  it('a job cancelled while sharing steps stops; the other finishes', async () => {
    const { engine } = server.app.tessera;
    const [keep, drop] = await Promise.all(requests.map(run));
    const dropped = engine.get(drop)!;
    await new Promise<void>((resolve) => dropped.on('event', (e: { type: string; step?: number }) => e.type === 'progress' && (e.step ?? 0) >= 8 && resolve()));
    expect((await server.app.inject({ method: 'DELETE', url: `/v1/jobs/${drop}` })).json().status).toBe('cancelled');
    await expect(dropped.done).rejects.toThrow(/cancelled/);
    const record = await engine.get(keep)!.done;
    expect(record.candidates).toHaveLength(2);
    expect(engine.get(drop)!.progress.step).toBeLessThan(64);
  });
});

describe('row budget', () => {
  it('a request that would push a step past --max-batch-rows waits for room, then runs', async () => {
    const small = await testServer({ waitReady: true, workerStepDelayMs: 2, maxBatchRows: 5 });
    try {
      const { engine } = small.app.tessera;
      const ids = await Promise.all(
        requests.map(async (payload) => (await small.app.inject({ method: 'POST', url: '/v1/jobs', payload })).json().id as string),
      );
      await Promise.all(ids.map((id) => engine.get(id)!.done));
      ids.forEach((id, i) => expect(engine.get(id)!.maxStepRows).toBe(ownRows[i]));
    } finally {
      await small.close();
    }
  });
});
