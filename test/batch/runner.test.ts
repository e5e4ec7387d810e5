import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch, type BatchOptions } from '../../src/batch/runner.js';
import { promptSeed } from '../../src/batch/run-settings.js';
import { isTesseraError, type ErrorCode } from '../../src/errors.js';
import { readImageMetadata } from '../../src/image/index.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { comparableSnapshot, listFiles, snapshotDiff, tempDir, TINY_MODEL, writeText } from './helpers.js';

let tessera: Tessera;
const dir = tempDir('batch-runner');

beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL });
});
afterAll(async () => {
  await tessera.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const PROMPTS = 'a red circle\n# not a prompt\n\ntwo blue squares\na green triangle\n';
const prompts = writeText(dir, 'prompts.txt', PROMPTS);

function run(options: Partial<BatchOptions> & Pick<BatchOptions, 'prompts' | 'out'>) {
  return runBatch({ tessera, candidates: 3, keep: 1, seed: 42, batchPrompts: 2, ...options });
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (!isTesseraError(error)) throw error;
    expect(error.code).toBe(code);
    return error.message;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

describe('tessera batch runner', () => {
  const out = path.join(dir, 'run');

  it('writes a grid, the kept images, records and a manifest per prompt, with deterministic names', async () => {
    const summary = await run({ prompts, out });
    expect(summary).toMatchObject({ prompts: 3, generated: 3, skipped: 0, images: 9, batches: 2, invalid: [], failed: [], seed: 42 });
    const names = [...listFiles(out).keys()].sort();
    expect(names.filter((n) => !/-r\d+-c\d+\.png$/.test(n))).toEqual([
      '0000-a-red-circle-grid.png',
      '0001-two-blue-squares-grid.png',
      '0002-a-green-triangle-grid.png',
      'manifest.jsonl',
      'records/0000.json',
      'records/0000.timings.json',
      'records/0001.json',
      'records/0001.timings.json',
      'records/0002.json',
      'records/0002.timings.json',
      'run.json',
      'search.sqlite',
    ]);
    const kept = names.filter((n) => /-r\d+-c\d+\.png$/.test(n));
    expect(kept).toHaveLength(3);
    expect(kept[0]).toMatch(/^0000-a-red-circle-r1-c[0-2]\.png$/);
    expect(kept[1]).toMatch(/^0001-two-blue-squares-r1-c[0-2]\.png$/);
    expect(kept[2]).toMatch(/^0002-a-green-triangle-r1-c[0-2]\.png$/);
    const manifest = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(manifest.map((m) => [m.index, m.line, m.prompt, m.seed])).toEqual([
      [0, 1, 'a red circle', promptSeed(42, 0)],
      [1, 4, 'two blue squares', promptSeed(42, 1)],
      [2, 5, 'a green triangle', promptSeed(42, 2)],
    ]);
    const first = manifest[0];
    expect(first).toMatchObject({ model: 'tiny-random', device: 'cpu', negative_prompt: null, grid: '0000-a-red-circle-grid.png', record: 'records/0000.json' });
    expect(first.parameters).toEqual({ candidates: 3, keep: 1, temperature: 1, top_k: 0, top_p: 1, guidance: 3, rerank: true });
    expect(first.candidates).toHaveLength(3);
    expect(first.candidates.map((c: { rank: number }) => c.rank)).toEqual([1, 2, 3]);
    const scores = first.candidates.map((c: { score: number }) => c.score);
    expect(scores.every((s: unknown) => typeof s === 'number')).toBe(true);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(first.images).toEqual([{ file: expect.stringMatching(/^0000-a-red-circle-r1-c\d\.png$/), candidate: first.candidates[0].candidate, rank: 1, score: scores[0], seed: first.seed }]);
    expect(first.timings.batch).toMatchObject({ prompts: 2, candidates: 6 });
    expect(typeof first.timings.batch.total).toBe('number');
    // The kept image describes itself: prompt, the prompt's own seed, candidate, score.
    const meta = readImageMetadata(readFileSync(path.join(out, first.images[0].file)));
    expect(meta.tessera).toMatchObject({ prompt: 'a red circle', seed: first.seed, candidateIndex: first.images[0].candidate, rank: 1, candidates: 3, model: 'tiny-random' });
    expect(meta.tessera?.score).toBeCloseTo(scores[0], 12);
    const runJson = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(runJson).toMatchObject({ format: 'tessera-batch', version: 1, seed: 42, device: 'cpu', rerank: true, grid: true, model: { name: 'tiny-random' } });
    expect(runJson.defaults).toMatchObject({ candidates: 3, keep: 1, temperature: null });
  });

  it('skips complete prompts on a re-run and leaves the folder as it was', async () => {
    const before = comparableSnapshot(out);
    const summary = await run({ prompts, out });
    expect(summary).toMatchObject({ generated: 0, skipped: 3, images: 0, batches: 0 });
    expect(snapshotDiff(before, comparableSnapshot(out))).toEqual([]);
  });

  it('regenerates a prompt whose file was deleted or damaged, byte-identical', async () => {
    const before = comparableSnapshot(out);
    const files = [...listFiles(out).keys()];
    rmSync(path.join(out, files.find((f) => /^0001-.*-r1-/.test(f))!));
    writeFileSync(path.join(out, '0002-a-green-triangle-grid.png'), 'not a png');
    const summary = await run({ prompts, out });
    expect(summary).toMatchObject({ generated: 2, skipped: 1 });
    expect(snapshotDiff(before, comparableSnapshot(out))).toEqual([]);
  });

  it('gives the same bytes whatever the number of prompts per sampler batch', async () => {
    const single = path.join(dir, 'single');
    await run({ prompts, out: single, batchPrompts: 1 });
    const together = path.join(dir, 'together');
    await run({ prompts, out: together, batchPrompts: 3 });
    const reference = comparableSnapshot(out);
    expect(snapshotDiff(reference, comparableSnapshot(single))).toEqual([]);
    expect(snapshotDiff(reference, comparableSnapshot(together))).toEqual([]);
  });

  it('refuses a folder made with other settings unless --force, which regenerates and removes outdated files', async () => {
    const message = await rejectsWith(run({ prompts, out, keep: 2 }), 'TESSERA_ERR_RUN_CONFLICT');
    expect(message).toContain('keep: 1 in the folder, 2 now');
    await rejectsWith(run({ prompts, out, seed: 7 }), 'TESSERA_ERR_RUN_CONFLICT');
    await rejectsWith(run({ prompts, out, grid: false }), 'TESSERA_ERR_RUN_CONFLICT');
    const forced = path.join(dir, 'forced');
    await run({ prompts, out: forced });
    const summary = await run({ prompts, out: forced, keep: 2, force: true });
    expect(summary).toMatchObject({ generated: 3, skipped: 0 });
    const kept = [...listFiles(forced).keys()].filter((f) => /-r\d-c\d\.png$/.test(f));
    expect(kept).toHaveLength(6);
    const fresh = path.join(dir, 'fresh-keep2');
    await run({ prompts, out: fresh, keep: 2 });
    expect(snapshotDiff(comparableSnapshot(fresh), comparableSnapshot(forced))).toEqual([]);
  });

  it('refuses a folder whose run.json is not a batch run file unless --force', async () => {
    const foreign = path.join(dir, 'foreign');
    await run({ prompts, out: foreign });
    writeFileSync(path.join(foreign, 'run.json'), '{"format": "something else"}');
    await rejectsWith(run({ prompts, out: foreign }), 'TESSERA_ERR_RUN_CONFLICT');
    expect(await run({ prompts, out: foreign, force: true })).toMatchObject({ generated: 0, skipped: 3 });
    expect(JSON.parse(readFileSync(path.join(foreign, 'run.json'), 'utf8')).format).toBe('tessera-batch');
  });

  it('refuses a prompt file whose lines changed under a finished folder, but adds appended prompts', async () => {
    const grown = path.join(dir, 'grown');
    const file = writeText(dir, 'grow.txt', 'a red circle\ntwo blue squares\n');
    await run({ prompts: file, out: grown });
    writeFileSync(file, 'a red circle\ntwo blue squares\na green triangle\n');
    expect(await run({ prompts: file, out: grown })).toMatchObject({ generated: 1, skipped: 2 });
    writeFileSync(file, 'a red circle\nthree blue squares\na green triangle\n');
    const message = await rejectsWith(run({ prompts: file, out: grown }), 'TESSERA_ERR_RUN_CONFLICT');
    expect(message).toContain('line 2 (0001)');
    expect(await run({ prompts: file, out: grown, force: true })).toMatchObject({ generated: 1, skipped: 2 });
    expect(existsSync(path.join(grown, '0001-three-blue-squares-grid.png'))).toBe(true);
    expect(existsSync(path.join(grown, '0001-two-blue-squares-grid.png'))).toBe(false);
  });

  it('keeps a random base seed in run.json and resumes with it', async () => {
    const random = path.join(dir, 'random');
    const first = await runBatch({ tessera, prompts, out: random, candidates: 2, keep: 1 });
    const second = await runBatch({ tessera, prompts, out: random, candidates: 2, keep: 1 });
    expect(second.seed).toBe(first.seed);
    expect(second).toMatchObject({ generated: 0, skipped: 3 });
  });
});

describe('bad input', () => {
  const jsonl = writeText(
    dir,
    'mixed.jsonl',
    [
      '{"prompt": "a red circle", "seed": 5, "negative_prompt": "blue", "guidance": 2}',
      '{"prompt": broken',
      '{"prompt": "a green triangle", "keep": 99}',
      '{"prompt": "a star", "top_p": 0}',
      '',
      '{"prompt": "a yellow star", "candidates": 2, "keep": 2, "top_k": 4, "temperature": 0.5}',
    ].join('\n'),
  );

  it('skips a malformed line or an invalid override, reporting its line number; the rest goes on', async () => {
    const notices: string[] = [];
    const out = path.join(dir, 'mixed');
    const summary = await run({ prompts: jsonl, out, onNotice: (m) => notices.push(m) });
    expect(summary.invalid.map((p) => p.line)).toEqual([2, 3, 4]);
    expect(summary.invalid[1].message).toMatch(/"keep"/);
    expect(summary.invalid[2].message).toMatch(/"top_p"/);
    expect(notices.filter((n) => n.includes('skipped')).map((n) => /mixed\.jsonl:(\d+)/.exec(n)?.[1])).toEqual(['2', '3', '4']);
    expect(summary).toMatchObject({ prompts: 2, generated: 2 });
    const manifest = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(manifest.map((m) => [m.index, m.line, m.seed, m.negative_prompt])).toEqual([
      [0, 1, 5, 'blue'],
      [4, 6, promptSeed(42, 4), null],
    ]);
    expect(manifest[0].parameters).toMatchObject({ guidance: 2, candidates: 3, keep: 1 });
    expect(manifest[1].parameters).toMatchObject({ candidates: 2, keep: 2, top_k: 4, temperature: 0.5 });
    expect(manifest[1].images).toHaveLength(2);
  });

  it('--keep above the model default candidates is fine when lines set their own candidates', async () => {
    const out = path.join(dir, 'keep-per-line');
    const lines = writeText(dir, 'keep.jsonl', '{"prompt": "a red star", "candidates": 12}\n{"prompt": "a blue circle"}\n');
    // The tiny model's default is 8 candidates: line 2 (no override) cannot keep 10, line 1 can.
    const summary = await runBatch({ tessera, prompts: lines, out, keep: 10, seed: 3, grid: false });
    expect(summary).toMatchObject({ prompts: 1, generated: 1 });
    expect(summary.invalid.map((p) => p.line)).toEqual([2]);
    expect(summary.invalid[0].message).toMatch(/"keep"/);
  });

  it('--strict stops at the first bad line, before writing anything', async () => {
    const out = path.join(dir, 'strict');
    const message = await rejectsWith(run({ prompts: jsonl, out, strict: true }), 'TESSERA_ERR_INPUT_FILE');
    expect(message).toMatch(/^mixed\.jsonl:2: /);
    const overrideOnly = writeText(dir, 'override.jsonl', '{"prompt": "a"}\n{"prompt": "b", "keep": 99}\n');
    expect(await rejectsWith(run({ prompts: overrideOnly, out, strict: true }), 'TESSERA_ERR_INPUT_FILE')).toMatch(/^override\.jsonl:2: "keep"/);
    expect(existsSync(path.join(out, 'run.json'))).toBe(false);
  });

  it('fails at once for an empty or unreadable file, an unwritable folder, a bad flag or no valid prompt', async () => {
    const out = path.join(dir, 'bad');
    await rejectsWith(run({ prompts: writeText(dir, 'empty.txt', ''), out }), 'TESSERA_ERR_INPUT_FILE');
    await rejectsWith(run({ prompts: path.join(dir, 'missing.txt'), out }), 'TESSERA_ERR_INPUT_FILE');
    const notAFolder = writeText(dir, 'file.bin', 'x');
    // Checked before the model is even looked at.
    await rejectsWith(runBatch({ prompts, out: notAFolder, model: path.join(dir, 'no-model') }), 'TESSERA_ERR_OUTPUT');
    await rejectsWith(runBatch({ prompts, out: path.join(notAFolder, 'sub'), model: path.join(dir, 'no-model') }), 'TESSERA_ERR_OUTPUT');
    await rejectsWith(run({ prompts, out, keep: 5 }), 'TESSERA_ERR_OPTION');
    await rejectsWith(run({ prompts, out, batchPrompts: 0 }), 'TESSERA_ERR_OPTION');
    await rejectsWith(run({ prompts: writeText(dir, 'allbad.jsonl', '{"prompt": ""}\n{"x": 1}\n'), out }), 'TESSERA_ERR_INPUT_FILE');
  });
});
