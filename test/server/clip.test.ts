/** `tessera serve --clip DIR`: the inference child ranks with the given CLIP instead of the package's own. */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tessera } from '../../src/pipeline/tessera.js';
import { testServer, TINY_MODEL, type TestServer } from './helpers.js';

const TINY_CLIP = path.resolve('test/fixtures/tiny-clip');
const REQUEST = { prompt: 'a red circle', n: 3, candidates: 3, seed: 9, response_format: 'b64_json' };

let server: TestServer;
beforeAll(async () => {
  server = await testServer({ clip: TINY_CLIP, waitReady: true });
});
afterAll(async () => {
  await server?.close();
});

describe('serve --clip', () => {
  it('scores each candidate as the library does with that CLIP, not with the package\'s', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: REQUEST });
    expect(response.statusCode).toBe(200);
    const served = new Map((response.json().data as { candidate_index: number; clip_score: number }[]).map((d) => [d.candidate_index, d.clip_score]));
    expect(served.size).toBe(3);
    const request = { prompt: REQUEST.prompt, candidates: 3, keep: 3, seed: 9 };
    for (const [clip, same] of [[TINY_CLIP, true], [undefined, false]] as const) {
      const tessera = await Tessera.load({ model: TINY_MODEL, clip });
      try {
        const result = await tessera.generate(request);
        for (const kept of result.kept) {
          const close = Math.abs((kept.score as number) - (served.get(kept.index) as number)) < 1e-5;
          expect(close, `candidate ${kept.index} with ${clip ?? "the package's CLIP"}`).toBe(same);
        }
      } finally {
        await tessera.dispose();
      }
    }
  });

  it('says in /v1/models that the model reranks', async () => {
    const models = await server.app.inject({ method: 'GET', url: '/v1/models' });
    expect(models.json().data[0].rerank).toBe(true);
  });
});
