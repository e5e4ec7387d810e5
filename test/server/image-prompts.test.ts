import { withoutFootprint } from '../helpers/png.js';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INPUT_BYTES } from '../../src/image/input.js';
import { maskPng, testPicture } from '../helpers/images.js';
import { copyTinyModel } from '../helpers/tiny.js';
import { testServer, type TestServer } from './helpers.js';

let server: TestServer;
let base: string;
let client: OpenAI;
let picture: Buffer;
let mask: Buffer;

beforeAll(async () => {
  server = await testServer({ waitReady: true });
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  client = new OpenAI({ apiKey: 'unused', baseURL: `${base}/v1`, maxRetries: 0 });
  picture = await testPicture(96, 64, 'jpeg');
  mask = await maskPng(96, 64, { x0: 48, y0: 32, x1: 96, y1: 64 });
});
afterAll(async () => server?.close());

const file = (data: Buffer, name: string, type: string) => toFile(data, name, { type });

describe('edits and variations with the official openai client', () => {
  it('edits with a mask: n images, PNGs at the asked size, and the response says the input was fitted', async () => {
    const result = await client.images.edit({
      image: await file(picture, 'picture.jpg', 'image/jpeg'),
      mask: await file(mask, 'mask.png', 'image/png'),
      prompt: 'a blue circle',
      n: 2,
      size: '128x128',
      response_format: 'b64_json',
      candidates: 3,
      seed: 4,
    } as OpenAI.ImageEditParamsNonStreaming);
    expect(result.data).toHaveLength(2);
    const png = Buffer.from(result.data![0].b64_json!, 'base64');
    expect((await sharp(png).metadata()).width).toBe(128);
    const extra = result as unknown as { input_adjusted: string; warnings: string[] };
    expect(extra.input_adjusted).toBe('resized from 96x64 and centre-cropped to 64x64, converted from jpeg');
    expect(extra.warnings.some((w) => w.startsWith('input image resized'))).toBe(true);
    // The stored record says what the images were made from.
    const record = (await server.app.tessera.store.get((result as unknown as { id: string }).id))!;
    expect(record.image_prompt).toMatchObject({ mode: 'edit', cells: 64 });
    expect(record.image_prompt!.resampledCells).toBeGreaterThan(0);
  });

  it('the same edit and seed give the same images (a single image[] is accepted as image)', async () => {
    const ask = async (image: OpenAI.ImageEditParams['image']) =>
      client.images.edit({ image, mask: await file(mask, 'mask.png', 'image/png'), prompt: 'a red star', response_format: 'b64_json', candidates: 2, seed: 21 } as OpenAI.ImageEditParamsNonStreaming);
    const single = await ask(await file(picture, 'p.jpg', 'image/jpeg'));
    const asArray = await ask([await file(picture, 'p.jpg', 'image/jpeg')]);
    // Minus the footprint chunk: it carries each request's measured times.
    const bytes = (b64: string | undefined) => withoutFootprint(Buffer.from(b64!, 'base64')).toString('base64');
    expect(bytes(asArray.data![0].b64_json)).toBe(bytes(single.data![0].b64_json));
  });

  it('streams an edit: image_edit.partial_image then image_edit.completed', async () => {
    const stream = await client.images.edit({
      image: await file(picture, 'picture.jpg', 'image/jpeg'),
      mask: await file(mask, 'mask.png', 'image/png'),
      prompt: 'a green square',
      stream: true,
      partial_images: 2,
      candidates: 2,
    } as OpenAI.ImageEditParamsStreaming);
    const events: OpenAI.ImageEditStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).toEqual(['image_edit.partial_image', 'image_edit.partial_image', 'image_edit.completed']);
    const completed = events[2] as OpenAI.ImageEditCompletedEvent;
    expect(Buffer.from(completed.b64_json, 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it("completes an image: an edit with Tessera's keep_rows and no mask", async () => {
    const result = await client.images.edit({ image: await file(picture, 'picture.jpg', 'image/jpeg'), prompt: 'a red star', keep_rows: 3, candidates: 2, response_format: 'b64_json' } as OpenAI.ImageEditParamsNonStreaming);
    expect(result.data).toHaveLength(1);
  });

  it('makes variations of an image, ranked by likeness to it', async () => {
    const result = await client.images.createVariation({ image: await file(picture, 'picture.jpg', 'image/jpeg'), n: 3, response_format: 'url', candidates: 4, keep_share: 0.25 } as OpenAI.ImageCreateVariationParams);
    expect(result.data).toHaveLength(3);
    const scores = result.data!.map((d) => (d as unknown as { clip_score: number }).clip_score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect((await fetch(result.data![0].url!)).status).toBe(200);
  });
});

interface Envelope {
  error: { code: string; type: string; param: string | null; message: string };
}

async function post(route: string, parts: [string, Blob | string, string?][]): Promise<{ status: number; body: Envelope }> {
  const form = new FormData();
  for (const [name, value, filename] of parts) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, filename);
  }
  const response = await fetch(`${base}/v1/images/${route}`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as Envelope };
}

const blob = (data: Buffer, type = 'image/png') => new Blob([new Uint8Array(data)], { type });

describe('bad input: the OpenAI error envelope with a code, and nothing stored', () => {
  it('refuses non-images, oversized uploads, wrong masks, missing or extra images', async () => {
    const before = readdirCount();
    const jpeg = blob(picture, 'image/jpeg');
    const cases: [string, [string, Blob | string, string?][], number, string, string][] = [
      ['edits', [['image', blob(Buffer.from('not an image'), 'text/plain'), 'x.png'], ['prompt', 'a star']], 400, 'invalid_image', 'image'],
      ['variations', [['image', blob(Buffer.alloc(MAX_INPUT_BYTES + 1, 7)), 'big.png']], 413, 'image_too_large', 'image'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', blob(await maskPng(64, 64, { x0: 0, y0: 0, x1: 8, y1: 8 })), 'm.png'], ['prompt', 'a star']], 400, 'invalid_mask', 'mask'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', jpeg, 'm.jpg'], ['prompt', 'a star']], 400, 'invalid_mask', 'mask'],
      ['edits', [['image', jpeg, 'p.jpg'], ['prompt', 'a star']], 400, 'invalid_mask', 'mask'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', blob(await maskPng(96, 64, null)), 'm.png'], ['prompt', 'a star']], 400, 'invalid_mask', 'mask'],
      ['edits', [['prompt', 'a star']], 400, 'missing_required_parameter', 'image'],
      ['edits', [['image[]', jpeg, 'a.jpg'], ['image[]', jpeg, 'b.jpg'], ['prompt', 'a star']], 400, 'too_many_images', 'image'],
      ['variations', [['image', jpeg, 'a.jpg'], ['image', jpeg, 'b.jpg']], 400, 'too_many_images', 'image'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', blob(mask), 'm.png']], 400, 'missing_required_parameter', 'prompt'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', blob(mask), 'm.png'], ['prompt', 'a star'], ['n', 'two']], 400, 'invalid_type', 'n'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', blob(mask), 'm.png'], ['prompt', 'a star'], ['size', '100x100']], 400, 'invalid_value', 'size'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', blob(mask), 'm.png'], ['prompt', 'a star'], ['colour', 'red']], 400, 'unknown_parameter', 'colour'],
      ['variations', [['image', jpeg, 'p.jpg'], ['keep_share', '1.5']], 400, 'invalid_value', 'keep_share'],
      ['variations', [['image', jpeg, 'p.jpg'], ['stream', 'true']], 400, 'unknown_parameter', 'stream'],
      ['variations', [['image', jpeg, 'p.jpg'], ['mask', blob(mask), 'm.png']], 400, 'unknown_parameter', 'mask'],
      ['variations', [['image', jpeg, 'p.jpg'], ['model', 'nope']], 404, 'model_not_found', 'model'],
      ['edits', [['image', jpeg, 'p.jpg'], ['mask', blob(mask), 'm.png'], ['prompt', 'a star'], ['keep_rows', '2']], 400, 'invalid_value', 'keep_rows'],
      ['edits', [['image', jpeg, 'p.jpg'], ['prompt', 'a star'], ['keep_rows', '8']], 400, 'invalid_value', 'keep_rows'],
      ['variations', [['image', jpeg, 'p.jpg'], ['keep_rows', '2']], 400, 'unknown_parameter', 'keep_rows'],
    ];
    for (const [route, parts, status, code, param] of cases) {
      const { status: got, body } = await post(route, parts);
      expect([route, parts.map((p) => p[0]).join(','), got, body.error.code, body.error.param]).toEqual([route, parts.map((p) => p[0]).join(','), status, code, param]);
      expect(body.error.type).toBe('invalid_request_error');
    }
    const json = await fetch(`${base}/v1/images/edits`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a star' }) });
    expect(json.status).toBe(415);
    expect(((await json.json()) as Envelope).error.code).toBe('unsupported_media_type');
    expect(readdirCount()).toBe(before);
  });

  it('a model package without an image encoder answers 400 image_prompts_unsupported', async () => {
    const dir = copyTinyModel();
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    manifest.encoder = null;
    delete manifest.files['vae/encoder.onnx'];
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const bare = await testServer({ models: [dir], waitReady: true });
    try {
      const form = new FormData();
      form.append('image', blob(picture, 'image/jpeg'), 'p.jpg');
      const response = await bare.app.inject({ method: 'POST', url: '/v1/images/variations', payload: form });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('image_prompts_unsupported');
    } finally {
      await bare.close();
    }
  });
});

function readdirCount(): number {
  return server.app.tessera.store.count();
}
