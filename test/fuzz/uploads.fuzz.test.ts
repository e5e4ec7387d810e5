/**
 * Property-based fuzzing of the multipart routes (POST /v1/images/edits, /variations) with
 * issue 23's hostile inputs: forms cut short, without a boundary or with the wrong one,
 * fields over the field limit, and files that are SVG (the probe's), GIF, TIFF, AVIF,
 * lying or truncated PNGs, mutated bytes, noise, a transparent 4096x4096 mask. Whatever
 * arrives, the answer is below 500, every error is the OpenAI envelope, and the server
 * stays healthy. The queue is 0 long: a valid upload is decoded, then answered 429.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INPUT_BYTES } from '../../src/image/input.js';
import { flatImage, lyingPng, refusedImages, transparentPng } from '../helpers/hostile.js';
import { maskPng, testPicture } from '../helpers/images.js';
import { testServer, type TestServer } from '../server/helpers.js';
import { announce, FUZZ_SEED, runs } from './settings.js';

let server: TestServer;
let files: Buffer[] = [];
let big: { image: Buffer; mask: Buffer };
beforeAll(async () => {
  server = await testServer({ waitReady: true, maxQueue: 0 });
  files = [
    await testPicture(64, 64),
    await testPicture(96, 64, 'jpeg'),
    await testPicture(32, 48, 'webp'),
    await maskPng(96, 64, { x0: 48, y0: 32, x1: 96, y1: 64 }),
    await maskPng(64, 64, { x0: 0, y0: 0, x1: 16, y1: 16 }),
    ...(await refusedImages()).map((r) => r.data),
    lyingPng(5000, 5000),
    lyingPng(100, 100),
    (await testPicture(64, 64)).subarray(0, 100),
    Buffer.alloc(0),
  ];
  big = { image: await flatImage(4096, 4096, 'jpeg'), mask: await transparentPng(4096, 4096) };
});
afterAll(async () => server?.close());

const FIELDS = ['prompt', 'n', 'size', 'model', 'response_format', 'stream', 'partial_images', 'keep_rows', 'keep_share', 'input_fidelity', 'seed', 'candidates', 'quality', 'output_format'];
const value = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer({ min: -5, max: 70 }).map(String),
  fc.constantFrom('true', 'false', '0.5', '1.5', 'auto', 'high', '64x64', 'b64_json', 'nope', '9'.repeat(400), ''),
  fc.constant('1'.repeat(70_000)),
);
/** A file: one of the prepared ones, one mutated at a few bytes, or noise. */
const fileData = fc.oneof(
  { weight: 6, arbitrary: fc.nat().map((i) => files[i % files.length]) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })).map(([i, flips]) => mutate(files[i % 3], flips)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constant('too-large') },
);
const part = fc.oneof(
  { weight: 3, arbitrary: fc.record({ name: fc.constantFrom(...FIELDS, 'colour'), value }) },
  { weight: 2, arbitrary: fc.record({ name: fc.constantFrom('image', 'image', 'image[]', 'mask', 'other'), file: fileData }) },
);
const upload = fc.record({
  route: fc.constantFrom('edits', 'variations'),
  parts: fc.array(part, { maxLength: 5 }),
  bigMask: fc.integer({ min: 0, max: 59 }).map((n) => n === 0),
  ending: fc.constantFrom('closed', 'closed', 'closed', 'open', 'cut'),
  cutAt: fc.nat(),
  contentType: fc.constantFrom('multipart/form-data; boundary=B', 'multipart/form-data; boundary=B', 'multipart/form-data; boundary=B', 'multipart/form-data', 'multipart/form-data; boundary=other', 'multipart/form-data; boundary='),
});
type Upload = typeof upload extends fc.Arbitrary<infer T> ? T : never;

function mutate(data: Buffer, flips: [number, number][]): Buffer {
  const copy = Buffer.from(data);
  for (const [at, byte] of flips) copy[at % copy.length] = byte;
  return copy;
}

function body(u: Upload): Buffer {
  const chunks: Buffer[] = [];
  const add = (name: string, data: Buffer | string, filename?: string) => {
    const head = `--B\r\ncontent-disposition: form-data; name="${name}"${filename === undefined ? '' : `; filename="${filename}"\r\ncontent-type: application/octet-stream`}\r\n\r\n`;
    chunks.push(Buffer.from(head), Buffer.from(data), Buffer.from('\r\n'));
  };
  if (u.bigMask) {
    add('image', big.image, 'big.jpg');
    add('mask', big.mask, 'mask.png');
  }
  for (const p of u.parts) {
    if ('file' in p) add(p.name, p.file === 'too-large' ? Buffer.alloc(MAX_INPUT_BYTES + 1, 1) : p.file, 'f.bin');
    else add(p.name, p.value);
  }
  if (u.ending !== 'open') chunks.push(Buffer.from('--B--\r\n'));
  const all = Buffer.concat(chunks);
  return u.ending === 'cut' ? all.subarray(0, u.cutAt % (all.length + 1)) : all;
}

const UPLOAD_RUNS = runs(150, 0.2);
const tally = { requests: 0, envelopes: 0, byStatus: new Map<number, number>() };

describe('fuzzing the upload routes', () => {
  it('answers below 500 with the error envelope, and stays healthy', async () => {
    announce('uploads');
    await fc.assert(
      fc.asyncProperty(upload, async (u) => {
        const payload = body(u);
        const response = await server.app.inject({ method: 'POST', url: `/v1/images/${u.route}`, headers: { 'content-type': u.contentType }, payload });
        tally.requests += 1;
        tally.byStatus.set(response.statusCode, (tally.byStatus.get(response.statusCode) ?? 0) + 1);
        const label = `${u.route} ${u.contentType} ${u.ending} [${u.parts.map((p) => p.name).join(',')}]${u.bigMask ? ' +big mask' : ''} -> ${response.body.slice(0, 300)}`;
        expect(response.statusCode, label).toBeLessThan(500);
        expect(response.statusCode, label).toBeGreaterThanOrEqual(400);
        const error = (response.json() as { error?: Record<string, unknown> }).error ?? {};
        tally.envelopes += 1;
        expect(Object.keys(response.json() as object), label).toEqual(['error']);
        expect(Object.keys(error).sort(), label).toEqual(['code', 'message', 'param', 'type']);
        expect(String(error.message), label).not.toMatch(/vips|keepRows|keepShare/i);
      }),
      { seed: FUZZ_SEED, numRuns: UPLOAD_RUNS, endOnFailure: true },
    );
    const statuses = [...tally.byStatus].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status}:${n}`).join(' ');
    console.log(`[fuzz] uploads: ${tally.requests} requests, ${[...tally.byStatus].filter(([s]) => s >= 500).length} statuses 5xx, ${tally.envelopes} errors checked as the envelope; statuses ${statuses}`);
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  }, Math.max(180_000, UPLOAD_RUNS * 400));
});
