/**
 * Issue 23, defect 2 and the big-mask fault: image inputs are PNG, JPEG or WebP, sniffed
 * from their bytes before any decoder runs; SVG and every other format is refused by name
 * (400 unsupported_image_format); lying headers and corrupt files are 400 invalid_image in
 * our words (no libvips text); and while a generation runs, the probe's SVG and a
 * transparent 4096x4096 mask are answered and the generation still completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInputImage, readMask } from '../../src/image/input.js';
import { refusedFormatOf, sniffInputFormat } from '../../src/image/formats.js';
import { flatImage, hostileSvg, lyingPng, refusedImages, transparentPng } from '../helpers/hostile.js';
import { testPicture } from '../helpers/images.js';
import { testServer, waitFor, type TestServer } from '../server/helpers.js';

async function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string; param?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string; param?: string };
  }
  throw new Error('expected a refusal');
}

describe('which image formats are read', () => {
  it('sniffs PNG, JPEG and WebP from their bytes, whatever they are called', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      const data = await testPicture(16, 16, format);
      expect(sniffInputFormat(data)).toBe(format);
      expect((await readInputImage(data, 64)).origin.format).toBe(format);
    }
  });

  it('refuses SVG, GIF, TIFF, BMP, AVIF, HEIF and PDF by name before decoding, as image and as mask', async () => {
    const origin = { width: 64, height: 64, format: 'png' };
    for (const { name, data } of await refusedImages()) {
      expect(refusedFormatOf(data), name).toBe(name);
      const image = await failure(readInputImage(data, 64));
      expect([name, image.code, image.param]).toEqual([name, 'TESSERA_ERR_INPUT_FORMAT', 'image']);
      expect(image.message).toContain(name);
      expect(image.message).toContain('PNG, JPEG or WebP');
      const mask = await failure(readMask(data, origin, 64));
      expect([name, mask.code, mask.param]).toEqual([name, 'TESSERA_ERR_INPUT_FORMAT', 'mask']);
    }
  });

  it('a header claiming too many pixels, or a truncated body, is invalid_image in our words', async () => {
    for (const data of [lyingPng(5000, 5000), lyingPng(100, 100), lyingPng(70_000, 1), (await testPicture(64, 64)).subarray(0, 200)]) {
      const error = await failure(readInputImage(data, 64));
      expect(error.code).toBe('TESSERA_ERR_INPUT_IMAGE');
      expect(error.message).not.toMatch(/vips|VipsForeign|libspng|pngload|Input buffer/i);
    }
  });

  it('a transparent 4096x4096 mask marks every model pixel (computed off the event loop)', async () => {
    const changed = await readMask(await transparentPng(4096, 4096), { width: 4096, height: 4096, format: 'png' }, 64);
    expect(changed.length).toBe(64 * 64);
    expect(changed.every((v) => v === 1)).toBe(true);
  });
});

describe('hostile uploads while the server generates', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Steps slowed so the job below is still sampling while the uploads arrive.
    server = await testServer({ waitReady: true, workerStepDelayMs: 15 });
  });
  afterAll(async () => server?.close());

  const multipart = (parts: [string, Buffer | string, string?][]) => {
    const form = new FormData();
    for (const [name, value, filename] of parts) {
      if (typeof value === 'string') form.append(name, value);
      else form.append(name, new Blob([new Uint8Array(value)]), filename);
    }
    return form;
  };

  it('refuses the SVG four times, edits with a big transparent mask, answers /healthz, and the running generation completes', async () => {
    const { app } = server;
    const job = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { prompt: 'a red circle', candidates: 2, seed: 3 } });
    expect(job.statusCode).toBe(202);
    const { id } = job.json();
    await waitFor(() => app.tessera.engine.get(id)?.status === 'running');

    const svg = hostileSvg();
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => app.inject({ method: 'POST', url: '/v1/images/variations', payload: multipart([['image', svg, 'x.svg']]) })),
      app.inject({ method: 'POST', url: '/v1/images/edits', payload: multipart([['image', svg, 'x.svg'], ['prompt', 'a star']]) }),
      app.inject({ method: 'POST', url: '/v1/images/edits', payload: multipart([['image', await testPicture(64, 64), 'p.png'], ['mask', svg, 'm.svg'], ['prompt', 'a star']]) }),
      app.inject({ method: 'GET', url: '/healthz' }),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([400, 400, 400, 400, 400, 400, 200]);
    expect(answers.slice(0, 6).map((a) => [a.json().error.code, a.json().error.param])).toEqual([
      ...Array.from({ length: 5 }, () => ['unsupported_image_format', 'image']),
      ['unsupported_image_format', 'mask'],
    ]);

    const edit = await app.inject({
      method: 'POST',
      url: '/v1/images/edits',
      payload: multipart([['image', await flatImage(4096, 4096, 'jpeg'), 'big.jpg'], ['mask', await transparentPng(4096, 4096), 'mask.png'], ['prompt', 'a star'], ['candidates', '2'], ['response_format', 'b64_json']]),
    });
    expect(edit.statusCode).toBe(200);
    expect(edit.json().data).toHaveLength(1);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);

    await waitFor(() => app.tessera.engine.get(id)?.finished === true, 120_000);
    expect(app.tessera.engine.get(id)?.status).toBe('succeeded');
  }, 180_000);
});
