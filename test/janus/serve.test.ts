/**
 * `tessera serve --model <a Janus package>`: the HTTP face on the tiny Janus fixture. The
 * server's candidates must be the ones `tessera generate` samples locally with the same
 * seed (same ranks, same pixels: the pixels are a function of the tokens, decoded by the
 * same graph on the same machine), and image prompts are refused with the catalogue's code.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { httpErrorOf } from '../../src/errors.js';
import { TINY_JANUS } from '../helpers/janus.js';
import { tempDir } from '../helpers/tiny.js';
import { testServer, type TestServer } from '../server/helpers.js';

const SIZE = (JSON.parse(readFileSync(path.join(TINY_JANUS, 'manifest.json'), 'utf8')) as { image: { size: number } }).image.size;

let server: TestServer;
beforeAll(async () => {
  server = await testServer({ models: [TINY_JANUS], waitReady: true });
});
afterAll(async () => server?.close());
afterEach(() => vi.restoreAllMocks());

/** Raw RGB pixels and dimensions of a PNG (metadata chunks aside). */
async function pixels(file: string | Buffer): Promise<{ width: number; height: number; data: Buffer }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** `tessera generate --json` run in-process; its summary. */
async function generateLocally(args: string[]): Promise<{ images: { rank: number; candidateIndex: number; file: string; tokens: number[] }[] }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  const code = await main(['generate', ...args, '--model', TINY_JANUS, '--json']);
  vi.restoreAllMocks();
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as { images: { rank: number; candidateIndex: number; file: string; tokens: number[] }[] };
}

describe('tessera serve on a Janus package', () => {
  it('POST /v1/images/generations: n images at the model size, the candidates tessera generate samples with the same seed', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', n: 2, candidates: 3, seed: 9 } });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json() as { id: string; size: string; native_size: string; upscaled: boolean; data: { rank: number; candidate_index: number; seed: number }[] };
    expect(body.data).toHaveLength(2);
    expect(body.native_size).toBe(`${SIZE}x${SIZE}`);
    expect(body.size).toBe(`${SIZE}x${SIZE}`);
    expect(body.upscaled).toBe(false);
    expect(body.data.map((d) => d.rank)).toEqual([1, 2]);
    expect(body.data.every((d) => d.seed === 9)).toBe(true);

    const folder = path.join(server.dataDir, 'results', body.id);
    const record = JSON.parse(readFileSync(path.join(folder, 'record.json'), 'utf8')) as { candidates: { kept: boolean }[]; usage: { output_tokens: number } };
    expect(record.candidates).toHaveLength(3);
    expect(record.candidates.filter((c) => c.kept)).toHaveLength(2);
    expect(record.usage.output_tokens).toBe(3 * 64); // 3 candidates x an 8x8 grid

    const local = await generateLocally(['a red circle', '--candidates', '3', '--keep', '2', '--seed', '9', '--out', path.join(tempDir(), 'out')]);
    expect(local.images.map((i) => [i.rank, i.candidateIndex])).toEqual(body.data.map((d) => [d.rank, d.candidate_index]));
    for (const [k, image] of local.images.entries()) {
      expect(image.tokens).toHaveLength(64);
      const served = await pixels(readFileSync(path.join(folder, `image-${k + 1}.png`)));
      const candidate = await pixels(readFileSync(path.join(folder, `candidate-${body.data[k]!.candidate_index}.png`)));
      const mine = await pixels(image.file);
      expect([served.width, served.height]).toEqual([SIZE, SIZE]);
      expect(served.data.equals(mine.data), `rank ${k + 1}`).toBe(true);
      expect(candidate.data.equals(mine.data), `candidate ${body.data[k]!.candidate_index}`).toBe(true);
    }
  });

  it('image prompts (variations, edits) are refused: 400 with the wire code of TESSERA_ERR_NO_IMAGE_ENCODER', async () => {
    const wire = httpErrorOf('TESSERA_ERR_NO_IMAGE_ENCODER');
    const picture = await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: '#c00' } }).png().toBuffer();
    for (const route of ['variations', 'edits']) {
      const form = new FormData();
      form.append('image', new Blob([new Uint8Array(picture)], { type: 'image/png' }), 'p.png');
      if (route === 'edits') {
        form.append('prompt', 'a red star');
        form.append('keep_rows', '2');
      }
      const response = await server.app.inject({ method: 'POST', url: `/v1/images/${route}`, payload: form });
      expect(response.statusCode, `${route}: ${response.body}`).toBe(wire.status);
      expect(response.json().error.code).toBe(wire.wire);
    }
    expect(server.app.tessera.store.count()).toBe(1); // only the generation above
  });
});
