/**
 * Issue 15, defects 5, 7, 11 and 12: one error envelope for every error (router, parser,
 * static files), no Host header reflected into URLs, server errors logged at error level
 * with code and request id, and OpenAI's optional parameters checked and honoured.
 */
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer, TINY_MODEL, waitFor, type TestServer } from '../server/helpers.js';

type Envelope = { error: { message: string; type: string; param: string | null; code: string | null } };

function expectEnvelope(body: unknown): asserts body is Envelope {
  const error = (body as Envelope).error;
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof error.message).toBe('string');
  expect(typeof error.code).toBe('string');
}

let server: TestServer;
beforeAll(async () => {
  server = await testServer({ waitReady: true });
});
afterAll(async () => server?.close());

const generate = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url: '/v1/images/generations', payload, headers });

describe('one envelope for every error (defect 7)', () => {
  it('an id over 100 characters is a 414 envelope, not fastify\'s body', async () => {
    for (const url of [`/v1/jobs/${'a'.repeat(101)}`, `/v1/files/${'a'.repeat(150)}/x.png`, `/v1/models/${'m'.repeat(300)}`]) {
      const r = await server.app.inject({ method: 'GET', url });
      expect(r.statusCode).toBe(414);
      expectEnvelope(r.json());
      expect(r.json().error.code).toBe('uri_too_long');
    }
  });

  it('a malformed %-escape in the path is a 400 envelope', async () => {
    const r = await server.app.inject({ method: 'GET', url: '/v1/jobs/%E0%A4%A' });
    expect(r.statusCode).toBe(400);
    expectEnvelope(r.json());
  });

  it('a refused static file is not an authentication_error', async () => {
    for (const url of ['/docs/static/a%00b', '/docs/static//etc/passwd']) {
      const r = await server.app.inject({ method: 'GET', url });
      expect(r.statusCode).toBe(403);
      expectEnvelope(r.json());
      expect(r.json().error).toMatchObject({ type: 'invalid_request_error', code: 'forbidden' });
    }
  });

  it('over a real socket: oversized headers (431) and malformed HTTP (400) get the envelope', async () => {
    const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = new URL(address);
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(text));
        let data = '';
        socket.on('data', (c: Buffer) => (data += c.toString()));
        // The server may close before the client finishes sending (EPIPE/ECONNRESET): what arrived is the answer.
        socket.on('close', () => resolve(data));
        socket.on('error', () => undefined);
      });
    const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    const bigBody = JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4)) as Envelope;
    expectEnvelope(bigBody);
    expect(bigBody.error.code).toBe('headers_too_large');
    const garbage = await raw('THIS IS NOT HTTP\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expectEnvelope(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)));

    // Defect 5 over the same socket: a forged Host header does not reach the image URL.
    const response = await fetch(`${address}/v1/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', host: 'evil.example' },
      body: JSON.stringify({ prompt: 'a red circle', candidates: 2 }),
    });
    const body = (await response.json()) as { data: { url: string }[] };
    expect(body.data[0].url.startsWith(`http://127.0.0.1:${port}/v1/files/`)).toBe(true);
  });
});

describe('the Host header is not reflected into image URLs (defect 5)', () => {
  it('inject with a forged Host', async () => {
    const r = await generate({ prompt: 'a red circle', candidates: 2 }, { host: 'evil.example' });
    expect(r.statusCode).toBe(200);
    expect(r.json().data[0].url).not.toContain('evil.example');
  });

  it('a configured public URL is used as is; a bad one is refused', async () => {
    const other = await testServer({ publicUrl: 'https://images.example.org/' });
    try {
      const r = await other.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', candidates: 2 }, headers: { host: 'evil.example' } });
      expect(r.json().data[0].url.startsWith('https://images.example.org/v1/files/')).toBe(true);
    } finally {
      await other.close();
    }
    await expect(testServer({ publicUrl: 'javascript:alert(1)' })).rejects.toMatchObject({ code: 'TESSERA_ERR_OPTION' });
  });
});

describe('OpenAI parameters are checked and honoured (defect 12)', () => {
  it.each([
    [{ quality: 'ultra' }, 'quality', 'invalid_value'],
    [{ background: 'transparent' }, 'background', 'unsupported_value'],
    [{ background: 'green' }, 'background', 'invalid_value'],
    [{ moderation: 'none' }, 'moderation', 'invalid_value'],
    [{ style: 'vivid' }, 'style', 'unsupported_value'],
    [{ style: 'cartoon' }, 'style', 'invalid_value'],
    [{ output_compression: 50 }, 'output_compression', 'unsupported_value'],
    [{ output_compression: 101, output_format: 'jpeg' }, 'output_compression', 'invalid_value'],
    [{ output_compression: 5.5, output_format: 'jpeg' }, 'output_compression', 'invalid_type'],
    [{ upscale: 'bicubic' }, 'upscale', 'invalid_value'],
  ])('%j is a 400 naming the field', async (extra, param, code) => {
    const r = await generate({ prompt: 'a red circle', ...extra });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ error: { param, code, type: 'invalid_request_error' } });
  });

  it('quality chooses the candidates and is reported with a value OpenAI allows', async () => {
    const low = await generate({ prompt: 'a red circle', quality: 'low', response_format: 'b64_json' });
    // usage.output_tokens counts every image token sampled: candidates × the tiny model's 8×8 grid.
    expect(low.json()).toMatchObject({ quality: 'low', background: 'opaque', usage: { output_tokens: 2 * 64 } }); // a quarter of the tiny model's 8
    const auto = await generate({ prompt: 'a red circle', quality: 'auto', response_format: 'b64_json', moderation: 'low', background: 'auto' });
    expect(auto.json()).toMatchObject({ quality: 'medium', usage: { output_tokens: 8 * 64 } });
    const hd = await generate({ prompt: 'a red circle', quality: 'hd', response_format: 'b64_json' });
    expect(hd.json()).toMatchObject({ quality: 'high', usage: { output_tokens: 16 * 64 } });
    const plain = await generate({ prompt: 'a red circle', candidates: 2, response_format: 'b64_json' });
    expect(['low', 'medium', 'high']).toContain(plain.json().quality);
  });

  it('output_compression changes jpeg output', async () => {
    const common = { prompt: 'a red circle', candidates: 2, seed: 5, output_format: 'jpeg', size: '256x256', response_format: 'b64_json' };
    const small = Buffer.from((await generate({ ...common, output_compression: 5 })).json().data[0].b64_json as string, 'base64');
    const large = Buffer.from((await generate({ ...common, output_compression: 100 })).json().data[0].b64_json as string, 'base64');
    expect(small.length).toBeLessThan(large.length);
  });

  it('upscaling is lanczos3 by default, nearest neighbour on request', async () => {
    const common = { prompt: 'a red circle', candidates: 2, seed: 5, size: '128x128', response_format: 'b64_json' };
    const pixels = async (extra: Record<string, unknown>) => {
      const png = Buffer.from((await generate({ ...common, ...extra })).json().data[0].b64_json as string, 'base64');
      return sharp(png).removeAlpha().raw().toBuffer();
    };
    // Nearest neighbour at 2x: every 2x2 block is one colour.
    const blocky = (data: Buffer) => {
      for (let y = 0; y < 128; y += 2) for (let x = 0; x < 128; x += 2) for (let c = 0; c < 3; c++) {
        const v = data[(y * 128 + x) * 3 + c];
        if (data[(y * 128 + x + 1) * 3 + c] !== v || data[((y + 1) * 128 + x) * 3 + c] !== v) return false;
      }
      return true;
    };
    expect(blocky(await pixels({ upscale: 'nearest' }))).toBe(true);
    expect(blocky(await pixels({}))).toBe(false);
  });

  it('/v1/models reports a real created time', async () => {
    const models = (await server.app.inject({ method: 'GET', url: '/v1/models' })).json() as { data: { created: number }[] };
    expect(models.data[0].created).toBeGreaterThan(1_600_000_000);
  });
});

describe('server errors are logged at error level with code and request id (defect 11)', () => {
  it('a 500 from a broken model package', async () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'tessera-log-'));
    const model = path.join(scratch, 'broken');
    cpSync(TINY_MODEL, model, { recursive: true });
    appendFileSync(path.join(model, 'vae/decoder.onnx'), 'x');
    const lines: string[] = [];
    const broken = await testServer({ models: [model], logStream: { write: (line) => void lines.push(line) } });
    try {
      const worker = [...broken.app.tessera.engine.slots.values()][0].inference;
      await waitFor(() => worker.lastError !== null);
      const r = await broken.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle' } });
      expect(r.statusCode).toBe(500);
      const logged = lines.map((l) => JSON.parse(l) as { level: number; code?: string; reqId?: string; status?: number });
      const errors = logged.filter((l) => l.level >= 50 && l.status === 500);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'model_file', reqId: expect.any(String) });
    } finally {
      await broken.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
