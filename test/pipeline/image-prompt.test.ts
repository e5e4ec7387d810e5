import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagePromptFromBytes, resampledPositions, resolveImagePrompt } from '../../src/pipeline/image-prompt.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { FREE } from '../../src/sampler/conditioning.js';
import type { GenerateRequest, ImagePromptInput } from '../../src/types.js';
import { maskPng, testPicture } from '../helpers/images.js';
import { copyTinyModel, TINY_MODEL } from '../helpers/tiny.js';

let tessera: Tessera;
let picture: Buffer;
let sourceCodes: number[];

beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL });
  picture = await testPicture(96, 64, 'jpeg');
  const prompt = await imagePromptFromBytes({ mode: 'vary', image: picture, keepShare: 0 }, tessera.manifest);
  const prepared = await tessera.prepareRequest({ prompt: '', image: prompt });
  sourceCodes = prepared.resolved.image!.codes!;
});
afterAll(async () => {
  await tessera.dispose();
});

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('image prompts on the tiny model', () => {
  it('encodes the source once: 64 codes in the vocabulary', () => {
    expect(sourceCodes).toHaveLength(64);
    expect(sourceCodes.every((c) => Number.isInteger(c) && c >= 0 && c < 64)).toBe(true);
  });

  it('completion keeps the first k rows of the source codes and samples the rest', async () => {
    const image = await imagePromptFromBytes({ mode: 'complete', image: picture, keepRows: 3 }, tessera.manifest);
    const result = await tessera.generate({ prompt: 'a red star', image, seed: 5, candidates: 4, keep: 2 });
    expect(result.warnings.some((w) => w.includes('resized from 96x64 and centre-cropped to 64x64'))).toBe(true);
    for (const c of result.candidates) expect(Array.from(c.tokens.subarray(0, 24))).toEqual(sourceCodes.slice(0, 24));
    // The sampled rows differ from the source somewhere (random weights draw noise).
    expect(result.candidates.some((c) => Array.from(c.tokens.subarray(24)).join() !== sourceCodes.slice(24).join())).toBe(true);
    // Usage: the 24 kept codes are input image tokens (given once); output is what was sampled.
    expect(result.usage?.input_tokens_details.image_tokens).toBe(24);
    expect(result.usage?.output_tokens).toBe(4 * (64 - 24));
    expect(result.usage?.input_tokens).toBe(result.usage!.input_tokens_details.text_tokens + 24);
  });

  it('an edit keeps every code outside the mask and samples inside', async () => {
    const mask = await maskPng(96, 64, { x0: 48, y0: 32, x1: 96, y1: 64 });
    const image = await imagePromptFromBytes({ mode: 'edit', image: picture, mask }, tessera.manifest);
    const inside = image.resample!;
    expect(inside.filter((v) => v === 1).length).toBeGreaterThan(0);
    const result = await tessera.generate({ prompt: 'a blue circle', image, seed: 9, candidates: 3 });
    for (const c of result.candidates) {
      c.tokens.forEach((code, j) => {
        if (inside[j] === 0) expect(code).toBe(sourceCodes[j]);
      });
    }
  });

  it('a variation keeps the chosen share of codes, at positions of its own per candidate, and ranks by likeness to the source', async () => {
    const image = await imagePromptFromBytes({ mode: 'vary', image: picture, keepShare: 0.25 }, tessera.manifest);
    const prepared = await tessera.prepareRequest({ prompt: '', image, seed: 3, candidates: 4 });
    // No text, nothing to guide: no unconditional twin rows even though the tiny model's guidance is 3.
    expect(prepared.resolved.settings.guidanceScale).toBe(3);
    expect(prepared.sequences.every((s) => s.unconditionalIds === null)).toBe(true);
    const captioned = await tessera.prepareRequest({ prompt: 'a red star', image, seed: 3, candidates: 1 });
    expect(captioned.sequences[0].unconditionalIds).not.toBeNull();
    const kept = prepared.sequences.map((s) => Array.from(s.forced!).filter((c) => c !== FREE).length);
    expect(kept).toEqual([16, 16, 16, 16]);
    expect(new Set(prepared.sequences.map((s) => Array.from(s.forced!).join())).size).toBe(4);
    const result = await tessera.generate({ prompt: '', image, seed: 3, candidates: 4 });
    const source = { width: 64, height: 64, data: new Uint8Array(Buffer.from(image.pixels, 'base64')) };
    const likeness = await tessera.model.reranker!.similarity(source, result.candidates.map((c) => c.image));
    result.candidates.forEach((c, i) => expect(c.score).toBeCloseTo(likeness[i], 5));
    expect(result.candidates.map((c) => c.rank)).toEqual([1, 2, 3, 4]);
  });

  it('the same image, mask, prompt and seed give the same outputs alone or batched with others', async () => {
    const mask = await maskPng(96, 64, { x0: 0, y0: 0, x1: 40, y1: 64 });
    const edit: GenerateRequest = { prompt: 'a green square', image: await imagePromptFromBytes({ mode: 'edit', image: picture, mask }, tessera.manifest), seed: 11, candidates: 3 };
    const vary: GenerateRequest = { prompt: '', image: await imagePromptFromBytes({ mode: 'vary', image: picture, keepShare: 0.5 }, tessera.manifest), seed: 12, candidates: 3 };
    const text: GenerateRequest = { prompt: 'a star', seed: 13, candidates: 2 };
    const [aloneEdit] = await tessera.generateMany([edit]);
    const [aloneVary] = await tessera.generateMany([vary]);
    const [, batchedEdit, batchedVary] = await tessera.generateMany([text, edit, vary]);
    const tokens = (r: typeof aloneEdit) => r.candidates.map((c) => `${c.index}:${Array.from(c.tokens).join(',')}`).sort();
    expect(tokens(batchedEdit)).toEqual(tokens(aloneEdit));
    expect(tokens(batchedVary)).toEqual(tokens(aloneVary));
    const [one] = await tessera.generateMany([{ ...vary, candidateIndices: [2] }]);
    expect(tokens(one)).toEqual([tokens(aloneVary).find((t) => t.startsWith('2:'))]);
  });

  it('refuses bad settings with codes', async () => {
    const m = tessera.manifest;
    const base = await imagePromptFromBytes({ mode: 'complete', image: picture, keepRows: 2 }, m);
    const bad = (change: Partial<ImagePromptInput>) => () => resolveImagePrompt({ ...base, ...change } as ImagePromptInput, m);
    expect(await codeOf(bad({ keepRows: 0 }))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(bad({ keepRows: 8 }))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(bad({ keepRows: 1.5 }))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(bad({ mode: 'paint' as never }))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(bad({ pixels: 'AAAA' }))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(bad({ keepShare: 0.5 }))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(bad({ mode: 'vary', keepRows: undefined, keepShare: 1 }))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(bad({ mode: 'edit', keepRows: undefined, resample: new Array(64).fill(0) }))).toBe('TESSERA_ERR_MASK');
    expect(await codeOf(imagePromptFromBytes({ mode: 'edit', image: picture }, m))).toBe('TESSERA_ERR_MASK');
    expect(await codeOf(imagePromptFromBytes({ mode: 'vary', image: picture, mask: await maskPng(96, 64, null) }, m))).toBe('TESSERA_ERR_OPTION');
    expect(await codeOf(imagePromptFromBytes({ mode: 'edit', image: picture, mask: await maskPng(64, 64, { x0: 0, y0: 0, x1: 8, y1: 8 }) }, m))).toBe('TESSERA_ERR_MASK');
    expect(await codeOf(imagePromptFromBytes({ mode: 'complete', image: Buffer.from('text'), keepRows: 2 }, m))).toBe('TESSERA_ERR_INPUT_IMAGE');
    // Text is required but for variations.
    expect(await codeOf(tessera.prepareRequest({ prompt: '', image: base }))).toBe('TESSERA_ERR_PROMPT');
  });

  it('an edit without a mask uses the transparent pixels of the image itself (OpenAI semantics)', async () => {
    const rgba = await maskPng(64, 64, { x0: 0, y0: 56, x1: 64, y1: 64 });
    const image = await imagePromptFromBytes({ mode: 'edit', image: rgba }, tessera.manifest);
    expect(image.resample).toEqual(Array.from({ length: 64 }, (_, j) => (j >= 56 ? 1 : 0)));
  });

  it('a package without an image encoder refuses image prompts with a code, before any work', async () => {
    const dir = copyTinyModel();
    const file = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.encoder = null;
    delete manifest.files['vae/encoder.onnx'];
    writeFileSync(file, JSON.stringify(manifest));
    const bare = await Tessera.load({ model: dir, rerank: false });
    try {
      expect(await codeOf(imagePromptFromBytes({ mode: 'vary', image: picture }, bare.manifest))).toBe('TESSERA_ERR_NO_IMAGE_ENCODER');
      const image = await imagePromptFromBytes({ mode: 'vary', image: picture }, tessera.manifest);
      expect(await codeOf(bare.generate({ prompt: '', image }))).toBe('TESSERA_ERR_NO_IMAGE_ENCODER');
    } finally {
      await bare.dispose();
    }
  });

  it('variation positions depend on (seed, candidate) only', () => {
    const a = resampledPositions(64, 0.5, 7, 1);
    expect(Array.from(a).filter((v) => v === 0)).toHaveLength(32);
    expect(Array.from(resampledPositions(64, 0.5, 7, 1))).toEqual(Array.from(a));
    expect(Array.from(resampledPositions(64, 0.5, 7, 2))).not.toEqual(Array.from(a));
    expect(Array.from(resampledPositions(64, 0, 7, 2)).every((v) => v === 1)).toBe(true);
  });
});
