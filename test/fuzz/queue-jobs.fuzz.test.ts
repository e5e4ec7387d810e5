/**
 * Property-based fuzzing of what a request becomes on its way to a `tessera worker`
 * (issue 23: `requestOf` left out the image, so a queued edit ran as text alone and a
 * queued variation without a prompt failed its whole sampler batch).
 *
 * - Any valid request, text alone or with an image prompt of any mode (a variation with no
 *   prompt among them), survives the job's JSON and resolves on the worker to the request
 *   the client resolved: the batch path (previews off) and the serve path (its previews).
 * - Whatever a job's data holds in place of the image (hostile or foreign JSON), the
 *   worker's resolution fails with a catalogue code of a bad request (4xx), never a crash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { httpErrorOf, isTesseraError } from '../../src/errors.js';
import { readManifest } from '../../src/model/manifest.js';
import { resolveRequest } from '../../src/pipeline/settings.js';
import { requestOf } from '../../src/queue/jobs.js';
import type { GenerateRequest, ImagePromptInput } from '../../src/types.js';
import { TINY_MODEL } from '../server/helpers.js';
import { announce, FUZZ_SEED, runs } from './settings.js';

const manifest = readManifest(TINY_MODEL);
const { size, grid } = manifest.image;
const cells = grid.height * grid.width;

const pixels = fc.uint8Array({ minLength: size * size * 3, maxLength: size * size * 3 }).map((b) => Buffer.from(b).toString('base64'));
const adjusted = fc.option(fc.constantFrom('resized from 96x64 and centre-cropped to 64x64, converted from jpeg', 'converted from webp'), { nil: undefined });
const image: fc.Arbitrary<ImagePromptInput> = fc.oneof(
  fc.record({ mode: fc.constant('complete' as const), pixels, keepRows: fc.integer({ min: 1, max: grid.height - 1 }), adjusted }, { requiredKeys: ['mode', 'pixels', 'keepRows'] }),
  fc.record(
    { mode: fc.constant('edit' as const), pixels, resample: fc.array(fc.constantFrom(0, 1), { minLength: cells, maxLength: cells }).filter((r) => r.includes(1)), adjusted },
    { requiredKeys: ['mode', 'pixels', 'resample'] },
  ),
  fc.record({ mode: fc.constant('vary' as const), pixels, keepShare: fc.double({ min: 0, max: 0.99, noNaN: true }), adjusted }, { requiredKeys: ['mode', 'pixels'] }),
);
const words = fc.constantFrom('a', 'red', 'blue', 'circle', 'star', '😀', 'éclair');
const prompt = fc.array(words, { minLength: 1, maxLength: 5 }).map((w) => w.join(' '));
const settings = fc.record(
  {
    seed: fc.nat(2 ** 31),
    candidates: fc.integer({ min: 1, max: 8 }),
    temperature: fc.constantFrom(0.5, 1, 1.3),
    topK: fc.constantFrom(0, 16, 64),
    guidanceScale: fc.constantFrom(1, 2.5),
    negativePrompt: prompt,
    rerank: fc.boolean(),
    previewCandidates: fc.integer({ min: 0, max: 8 }),
  },
  { requiredKeys: ['seed'] },
);

/** A valid request: text alone, or an image prompt (a variation's prompt may be absent or empty). */
const request: fc.Arbitrary<GenerateRequest> = fc.oneof(
  fc.tuple(prompt, settings).map(([p, s]) => ({ prompt: p, ...s })),
  // A variation's absent prompt is '' (as a batch line without one plans it).
  fc.tuple(fc.option(prompt, { nil: undefined }), image, settings).map(([p, i, s]) => ({ ...s, image: i, prompt: p ?? (i.mode === 'vary' ? '' : 'a red star') })),
  fc.tuple(settings, pixels).map(([s, px]) => ({ ...s, prompt: '', image: { mode: 'vary' as const, pixels: px } })),
);

describe('a request on its way to a worker (issue 23)', () => {
  it('survives the job\'s JSON and resolves on the worker as it did on the client: batch and serve paths', () => {
    announce('queue request round trip');
    fc.assert(
      fc.property(request, (r) => {
        const resolved = resolveRequest(r, manifest);
        const batch = resolveRequest(JSON.parse(JSON.stringify(requestOf(resolved))) as GenerateRequest, manifest);
        expect(batch).toEqual({ ...resolved, previewCandidates: 0 });
        // serve --queue: the job carries the resolved request; the worker re-resolves it with its previews.
        const carried = JSON.parse(JSON.stringify(resolved)) as typeof resolved;
        expect(resolveRequest(requestOf(carried, carried.previewCandidates), manifest)).toEqual(resolved);
        // Text alone: no image key at all (its jobs and job ids are the ones they always were).
        if (r.image === undefined) expect('image' in requestOf(resolved)).toBe(false);
      }),
      { seed: FUZZ_SEED, numRuns: runs(300, 0.05), examples: [[{ prompt: '', seed: 1, image: { mode: 'vary', pixels: Buffer.alloc(size * size * 3, 7).toString('base64') } }]] },
    );
  });

  it('a job whose image is anything else fails as a bad request with a catalogue code, never a crash', () => {
    announce('queue hostile image');
    const base = resolveRequest({ prompt: 'a red star', seed: 3 }, manifest);
    const validPixels = Buffer.alloc(size * size * 3).toString('base64');
    const hostile = fc.oneof(
      fc.anything(),
      fc.record({
        mode: fc.oneof(fc.constantFrom('complete', 'edit', 'vary', 'paint', ''), fc.anything()),
        pixels: fc.oneof(fc.constant(validPixels), fc.string(), fc.anything()),
        keepRows: fc.oneof(fc.integer(), fc.double(), fc.anything()),
        resample: fc.oneof(fc.array(fc.integer({ min: -1, max: 2 }), { maxLength: cells + 2 }), fc.anything()),
        keepShare: fc.oneof(fc.double(), fc.anything()),
        adjusted: fc.anything(),
      }, { requiredKeys: [] }),
    );
    fc.assert(
      fc.property(hostile, (value) => {
        const job = JSON.parse(JSON.stringify({ ...base, image: value ?? null })) as typeof base;
        try {
          resolveRequest(requestOf(job, job.previewCandidates), manifest);
        } catch (error) {
          expect(isTesseraError(error), String(error)).toBe(true);
          if (isTesseraError(error)) expect(httpErrorOf(error.code).status).toBeLessThan(500);
        }
      }),
      { seed: FUZZ_SEED, numRuns: runs(500, 0.05) },
    );
  });
});
