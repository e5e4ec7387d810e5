import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runBatch } from '../../src/batch/runner.js';
import type { GenerationRecord } from '../../src/output/server.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { tempDir, TINY_MODEL } from '../batch/helpers.js';
import { maskPng, testPicture } from '../helpers/images.js';
import { testServer, type TestServer } from '../server/helpers.js';
import { describeWebgpu } from './helpers.js';

// The faces on the GPU path (issue 29): `serve --device webgpu` through the official openai
// client (text and image prompts), and `tessera batch` with an image-prompt line, each
// against the same request on the CPU. Ranks and candidate indices are exact, CLIP scores
// within SCORE_TOLERANCE; pixels within PIXEL_TOLERANCE levels of 255 (the VQ decoder's
// floats differ in their last bits between providers, which can move a rounding by one).
const SCORE_TOLERANCE = 1e-3;
const PIXEL_TOLERANCE = 2;

async function maxPixelDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((png) => sharp(png).raw().toBuffer()));
  if (x.length !== y.length) return Infinity;
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  return max;
}

const ranking = (record: GenerationRecord) => record.candidates.map((c) => [c.rank, c.candidate_index, c.kept]);
function expectSameRecord(gpu: GenerationRecord, cpu: GenerationRecord): void {
  expect(ranking(gpu)).toEqual(ranking(cpu));
  for (const [i, c] of gpu.candidates.entries()) expect(Math.abs(c.clip_score! - cpu.candidates[i].clip_score!)).toBeLessThan(SCORE_TOLERANCE);
}

describeWebgpu('serve --device webgpu through the official client', () => {
  const servers: Record<'gpu' | 'cpu', { server: TestServer; client: OpenAI }> = {} as never;
  beforeAll(async () => {
    for (const device of ['webgpu', 'cpu'] as const) {
      const server = await testServer({ waitReady: true, device });
      const base = await server.app.listen({ host: '127.0.0.1', port: 0 });
      expect(server.app.tessera.options.device).toBe(device);
      servers[device === 'webgpu' ? 'gpu' : 'cpu'] = { server, client: new OpenAI({ apiKey: 'unused', baseURL: `${base}/v1`, maxRetries: 0 }) };
    }
  });
  afterAll(async () => {
    await servers.gpu?.server.close();
    await servers.cpu?.server.close();
  });
  const record = (side: 'gpu' | 'cpu', result: unknown) => servers[side].server.app.tessera.store.get((result as { id: string }).id) as Promise<GenerationRecord>;

  it('a text prompt: the same kept images (pixels within tolerance), ranks and scores as the CPU', async () => {
    const ask = (side: 'gpu' | 'cpu') =>
      servers[side].client.images.generate({ prompt: 'a red circle', n: 2, response_format: 'b64_json', candidates: 4, seed: 8 } as OpenAI.ImageGenerateParamsNonStreaming);
    const [gpu, cpu] = [await ask('gpu'), await ask('cpu')];
    expect(gpu.data).toHaveLength(2);
    for (const [i, image] of gpu.data!.entries()) {
      expect(await maxPixelDiff(Buffer.from(image.b64_json!, 'base64'), Buffer.from(cpu.data![i].b64_json!, 'base64'))).toBeLessThanOrEqual(PIXEL_TOLERANCE);
    }
    expectSameRecord(await record('gpu', gpu), await record('cpu', cpu));
  });

  it('an image prompt (edit with a mask: the VQ encoder runs on the device too): the same as the CPU', async () => {
    const picture = await testPicture(96, 64, 'jpeg');
    const mask = await maskPng(96, 64, { x0: 48, y0: 32, x1: 96, y1: 64 });
    const ask = async (side: 'gpu' | 'cpu') =>
      servers[side].client.images.edit({
        image: await toFile(picture, 'picture.jpg', { type: 'image/jpeg' }),
        mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
        prompt: 'a blue circle',
        response_format: 'b64_json',
        candidates: 3,
        seed: 4,
      } as OpenAI.ImageEditParamsNonStreaming);
    const [gpu, cpu] = [await ask('gpu'), await ask('cpu')];
    const [gpuRecord, cpuRecord] = [await record('gpu', gpu), await record('cpu', cpu)];
    expect(gpuRecord.image_prompt).toEqual(cpuRecord.image_prompt);
    expectSameRecord(gpuRecord, cpuRecord);
    expect(await maxPixelDiff(Buffer.from(gpu.data![0].b64_json!, 'base64'), Buffer.from(cpu.data![0].b64_json!, 'base64'))).toBeLessThanOrEqual(PIXEL_TOLERANCE);
  });
});

describeWebgpu('tessera batch on webgpu', () => {
  const dir = tempDir('webgpu-batch');
  let gpu: Tessera;
  let cpu: Tessera;
  beforeAll(async () => {
    gpu = await Tessera.load({ model: TINY_MODEL, device: 'webgpu' });
    cpu = await Tessera.load({ model: TINY_MODEL, device: 'cpu' });
    mkdirSync(path.join(dir, 'inputs'), { recursive: true });
    writeFileSync(path.join(dir, 'inputs/picture.jpg'), await testPicture(96, 64, 'jpeg'));
    const lines = [{ prompt: 'a red star' }, { prompt: 'a blue circle', image: 'inputs/picture.jpg', keep_rows: 3 }, { prompt: 'a green square' }];
    writeFileSync(path.join(dir, 'prompts.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  });
  afterAll(async () => {
    await gpu?.dispose();
    await cpu?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders every line (one with an image prompt) with the ranks and scores of the CPU run', async () => {
    const run = (tessera: Tessera, out: string) => runBatch({ tessera, prompts: path.join(dir, 'prompts.jsonl'), out: path.join(dir, out), batchPrompts: 2, candidates: 3, keep: 1, seed: 5 });
    const [onGpu, onCpu] = [await run(gpu, 'gpu'), await run(cpu, 'cpu')];
    expect(onGpu.failed).toEqual([]);
    expect([onGpu.generated, onCpu.generated]).toEqual([3, 3]);
    const manifest = (out: string) =>
      readFileSync(path.join(dir, out, 'manifest.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { candidates?: { candidate: number; rank: number; score: number | null }[] });
    const [g, c] = [manifest('gpu'), manifest('cpu')];
    expect(g).toHaveLength(3);
    for (const [i, line] of g.entries()) {
      expect(JSON.stringify(Object.keys(line))).toBe(JSON.stringify(Object.keys(c[i])));
      expect(line.candidates?.map((x) => [x.candidate, x.rank])).toEqual(c[i].candidates?.map((x) => [x.candidate, x.rank]));
      for (const [k, x] of (line.candidates ?? []).entries()) expect(Math.abs(x.score! - c[i].candidates![k].score!)).toBeLessThan(SCORE_TOLERANCE);
    }
  });
});
