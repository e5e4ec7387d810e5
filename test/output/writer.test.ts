/** The result writer's layouts: which files each face writes, their names, bytes and records. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeImage, encodePng, imageMetadataFor, readImageMetadata, upscale } from '../../src/image/index.js';
import { keptImageName, renderPrompt, stemOf, type RecordSpec } from '../../src/output/batch.js';
import { cliLayout, writeCliResult } from '../../src/output/cli.js';
import { serverLayout, writeServerResult, type GenerationRecord, type ServerOutput } from '../../src/output/server.js';
import { renderResult } from '../../src/output/writer.js';
import { tempDir } from '../helpers/tiny.js';
import { fakeResult } from './helpers.js';

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

describe('renderResult', () => {
  it('encodes kept images best first, then the grid, then every candidate, each with its metadata', async () => {
    const result = fakeResult([2, 0, 1], 2);
    const files = await renderResult(result, { keptName: (c) => `k${c.index}`, gridName: 'g', candidateName: (c) => `c${c.index}` });
    expect(files.map((f) => f.name)).toEqual(['k2', 'k0', 'g', 'c2', 'c0', 'c1']);
    expect(files.map((f) => f.kind)).toEqual(['kept', 'kept', 'grid', 'candidate', 'candidate', 'candidate']);
    expect(files[0].data.equals(await encodePng(result.kept[0].image, imageMetadataFor(result, result.kept[0])))).toBe(true);
    const grid = readImageMetadata(files[2].data).tessera;
    expect(grid?.candidateIndex).toBe(2);
    expect(grid?.score).toBeNull();
    expect(grid?.rank).toBeUndefined();
    expect((await sharp(files[2].data).metadata()).width).toBeGreaterThan(8 * 2 * 2);
  });
});

describe('CLI layout', () => {
  it('names kept images <slug>-<seed>-<candidate>.png and the grid <slug>-<seed>-grid.png', () => {
    const result = fakeResult([3, 1], 1);
    const layout = cliLayout(result, true);
    expect(layout.keptName(result.kept[0])).toBe('a-red-circle-on-blue-42-3.png');
    expect(layout.gridName).toBe('a-red-circle-on-blue-42-grid.png');
    expect(layout.candidateName).toBeNull();
    expect(cliLayout(result, false).gridName).toBeNull();
  });

  it('writes the kept images (and the grid when asked) and reports them by rank', async () => {
    const result = fakeResult([3, 1, 0], 2);
    const out = tempDir();
    const written = await writeCliResult(result, out, false);
    expect(readdirSync(out).sort()).toEqual(['a-red-circle-on-blue-42-1.png', 'a-red-circle-on-blue-42-3.png']);
    expect(written.grid).toBeNull();
    expect(written.images).toEqual([
      { rank: 1, score: 0.5, seed: 42, candidateIndex: 3, file: path.join(out, 'a-red-circle-on-blue-42-3.png') },
      { rank: 2, score: 0.25, seed: 42, candidateIndex: 1, file: path.join(out, 'a-red-circle-on-blue-42-1.png') },
    ]);
    expect(readFileSync(written.images[1].file).equals(await encodePng(result.kept[1].image, imageMetadataFor(result, result.kept[1])))).toBe(true);
    const withGrid = await writeCliResult(result, tempDir(), true);
    expect(path.basename(withGrid.grid ?? '')).toBe('a-red-circle-on-blue-42-grid.png');
  });
});

describe('batch layout', () => {
  const spec = (grid: boolean): RecordSpec => ({
    prompt: 'A red circle, on blue!',
    negative_prompt: null,
    seed: 42,
    candidates: 3,
    keep: 2,
    temperature: 1,
    top_k: 0,
    top_p: 1,
    guidance: 3,
    rerank: true,
    grid,
    model: 'shapes-tiny',
    model_sha256: 'ab'.repeat(32),
    device: 'cpu',
  });

  it('names files by index, slug, rank and candidate, and records every candidate with the files hashes', async () => {
    const result = fakeResult([2, 0, 1], 2);
    const stem = stemOf(7, 'A red circle, on blue!');
    const { files, record } = await renderPrompt(result, { index: 7, stem, spec: spec(true) });
    expect(files.map((f) => f.name)).toEqual(['0007-a-red-circle-on-blue-r1-c2.png', '0007-a-red-circle-on-blue-r2-c0.png', '0007-a-red-circle-on-blue-grid.png']);
    expect(record.grid).toBe('0007-a-red-circle-on-blue-grid.png');
    expect(record.candidates).toEqual([
      { index: 2, rank: 1, score: 0.5, kept: true, file: keptImageName(stem, 1, 2) },
      { index: 0, rank: 2, score: 0.25, kept: true, file: keptImageName(stem, 2, 0) },
      { index: 1, rank: 3, score: 0.125, kept: false, file: null },
    ]);
    expect(record.files).toEqual(Object.fromEntries(files.map((f) => [f.name, sha256(f.data)])));
    expect(record.warnings).toEqual(['a warning']);
    expect(record.spec).toEqual(spec(true));
  });

  it('leaves the grid out when the run has none', async () => {
    const { files, record } = await renderPrompt(fakeResult([0, 1, 2], 1), { index: 0, stem: stemOf(0, 'x'), spec: spec(false) });
    expect(files.map((f) => f.kind)).toEqual(['kept']);
    expect(record.grid).toBeNull();
  });
});

describe('server layout', () => {
  const output = (format: ServerOutput['format'], side: number): ServerOutput => ({
    id: '00000000-0000-4000-8000-000000000000',
    created: 1700000000,
    user: 'someone',
    size: { width: side, height: side, label: `${side}x${side}`, upscaled: side !== 8 },
    nativeSize: 8,
    format,
    kernel: 'lanczos3',
    quality: null,
  });

  function memorySink() {
    const files = new Map<string, Buffer>();
    const saved: GenerationRecord[] = [];
    return {
      files,
      saved,
      sink: {
        writeFile: async (id: string, name: string, data: Uint8Array) => void files.set(`${id}/${name}`, Buffer.from(data)),
        save: async (record: GenerationRecord) => void saved.push(record),
      },
    };
  }

  it('writes image-<rank>.<ext> at the requested size and every candidate-<index>.png, then saves the record', async () => {
    const result = fakeResult([2, 0, 1], 2);
    const { files, saved, sink } = memorySink();
    const out = output('webp', 32);
    const { record, kept } = await writeServerResult(result, out, sink);
    expect([...files.keys()].map((k) => k.split('/')[1])).toEqual(['image-1.webp', 'image-2.webp', 'candidate-2.png', 'candidate-0.png', 'candidate-1.png']);
    expect(saved).toEqual([record]);
    const first = files.get(`${out.id}/image-1.webp`) as Buffer;
    expect(first.equals(await encodeImage(await upscale(result.kept[0].image, 32, 'lanczos3'), 'webp', imageMetadataFor(result, result.kept[0])))).toBe(true);
    expect((await sharp(first).metadata()).width).toBe(32);
    expect(kept.map((k) => k.data.equals(files.get(`${out.id}/${k.stored.file}`) as Buffer))).toEqual([true, true]);
    expect(record).toMatchObject({
      id: out.id,
      object: 'generation',
      created: 1700000000,
      model: 'shapes-tiny',
      prompt: result.prompt,
      negative_prompt: null,
      seed: 42,
      user: 'someone',
      size: '32x32',
      native_size: '8x8',
      upscaled: true,
      output_format: 'webp',
      warnings: ['a warning'],
    });
    expect(record.images).toEqual([
      { rank: 1, candidate_index: 2, seed: 42, clip_score: 0.5, kept: true, file: 'image-1.webp' },
      { rank: 2, candidate_index: 0, seed: 42, clip_score: 0.25, kept: true, file: 'image-2.webp' },
    ]);
    expect(record.candidates.map((c) => [c.file, c.kept])).toEqual([['candidate-2.png', true], ['candidate-0.png', true], ['candidate-1.png', false]]);
    expect(record.settings).toEqual({ ...result.settings });
    expect(record.timings).toEqual({ ...result.timings });
  });

  it('upscales with the request\'s kernel and encodes with its jpeg quality (output_compression)', async () => {
    const result = fakeResult([0, 1], 1);
    const { files, sink } = memorySink();
    const out: ServerOutput = { ...output('jpeg', 32), kernel: 'nearest', quality: 40 };
    expect(serverLayout(out)).toMatchObject({ keptKernel: 'nearest', keptQuality: 40 });
    await writeServerResult(result, out, sink);
    const expected = await encodeImage(await upscale(result.kept[0].image, 32, 'nearest'), 'jpeg', imageMetadataFor(result, result.kept[0]), 40);
    expect((files.get(`${out.id}/image-1.jpeg`) as Buffer).equals(expected)).toBe(true);
    const lanczos = await encodeImage(await upscale(result.kept[0].image, 32, 'lanczos3'), 'jpeg', imageMetadataFor(result, result.kept[0]), 40);
    expect(lanczos.equals(expected)).toBe(false);
  });

  it('keeps native-size kept images as they are: a PNG kept image is its candidate file', async () => {
    const result = fakeResult([1, 0], 1);
    const { files, sink } = memorySink();
    const out = output('png', 8);
    expect(serverLayout(out).keptSize).toBeNull();
    await writeServerResult(result, out, sink);
    expect((files.get(`${out.id}/image-1.png`) as Buffer).equals(files.get(`${out.id}/candidate-1.png`) as Buffer)).toBe(true);
  });
});
