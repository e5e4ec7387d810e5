import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrompts } from '../../src/batch/prompts.js';
import { runBatch, type BatchTestSeams } from '../../src/batch/runner.js';
import { promptSeed } from '../../src/batch/run-settings.js';
import { imagePromptFromBytes } from '../../src/pipeline/image-prompt.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { maskPng, testPicture } from '../helpers/images.js';
import { comparableSnapshot, listFiles, snapshotDiff, tempDir, TINY_MODEL, writeText } from './helpers.js';

let tessera: Tessera;
const dir = tempDir('batch-images');
let prompts: string;

// Paths on the lines are relative to the prompt file, which sits in a sub-folder beside its inputs.
const LINES = [
  { prompt: 'a red star', image: 'inputs/picture.jpg', keep_rows: 3 },
  { prompt: 'a blue circle', image: 'inputs/picture.jpg', mask: 'inputs/mask.png' },
  { image: 'inputs/picture.jpg', mode: 'vary', keep_share: 0.25 },
  { prompt: 'a green square' },
  { prompt: 'a star', image: 'inputs/missing.png', mode: 'vary' },
  { prompt: 'a star', image: 'inputs/picture.jpg', mask: 'inputs/small-mask.png' },
  { prompt: 'a star', image: 'inputs/picture.jpg', mode: 'edit', keep_rows: 2, mask: 'inputs/mask.png' },
];

beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL });
  const folder = path.join(dir, 'job');
  mkdirSync(path.join(folder, 'inputs'), { recursive: true });
  writeFileSync(path.join(folder, 'inputs/picture.jpg'), await testPicture(96, 64, 'jpeg'));
  writeFileSync(path.join(folder, 'inputs/mask.png'), await maskPng(96, 64, { x0: 0, y0: 32, x1: 96, y1: 64 }));
  writeFileSync(path.join(folder, 'inputs/small-mask.png'), await maskPng(10, 10, { x0: 0, y0: 0, x1: 5, y1: 5 }));
  prompts = writeText(folder, 'prompts.jsonl', LINES.map((l) => JSON.stringify(l)).join('\n') + '\n');
});
afterAll(async () => {
  await tessera.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const SETTINGS = { candidates: 3, keep: 1, seed: 5 } as const;
const run = (out: string, batchPrompts: number, seams: BatchTestSeams = {}) => runBatch({ tessera, prompts, out, batchPrompts, ...SETTINGS }, seams);

describe('batch lines with image, mask, keep_rows, keep_share and mode', () => {
  it('parses the keys and infers the mode; bad keys are line problems', () => {
    const parsed = parsePrompts(
      [
        '{"prompt":"x","image":"a.png","keep_rows":2}',
        '{"prompt":"x","image":"a.png","mask":"m.png"}',
        '{"image":"a.png"}',
        '{"prompt":"x","mask":"m.png"}',
        '{"prompt":"x","image":"a.png","mode":"paint"}',
        '{"prompt":"x","image":"a.png","keep_rows":"3"}',
      ].join('\n'),
      'jsonl',
    );
    expect(parsed.entries.map((e) => [e.prompt, e.imagePrompt?.mode])).toEqual([
      ['x', 'complete'],
      ['x', 'edit'],
      ['', 'vary'],
    ]);
    expect(parsed.problems.map((p) => p.line)).toEqual([4, 5, 6]);
  });

  it('generates image prompts beside text ones, skips bad lines with their numbers, and is byte-identical however batched', async () => {
    const notices: string[] = [];
    const a = path.join(dir, 'a');
    const summary = await runBatch({ tessera, prompts, out: a, batchPrompts: 4, onNotice: (m) => notices.push(m), ...SETTINGS });
    expect(summary.generated).toBe(4);
    expect(summary.invalid.map((p) => p.line)).toEqual([5, 6, 7]);
    expect(summary.invalid[0].message).toMatch(/"image": .*missing\.png/);
    expect(summary.invalid[1].message).toMatch(/"mask": mask is 10x10/);
    expect(summary.invalid[2].message).toMatch(/"keep_rows": /);
    // Alone (one prompt per sampler batch) gives the same bytes.
    const b = path.join(dir, 'b');
    await run(b, 1);
    expect(snapshotDiff(comparableSnapshot(a), comparableSnapshot(b))).toEqual([]);

    const record = JSON.parse(readFileSync(path.join(a, 'records/0000.json'), 'utf8'));
    expect(record.spec.image).toMatchObject({ mode: 'complete', file: 'inputs/picture.jpg', keep_rows: 3, mask: null });
    expect(record.spec.image.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(record.warnings.some((w: string) => w.startsWith('input image resized'))).toBe(true);

    // The kept completion is the library's candidate for the same request.
    const image = await imagePromptFromBytes({ mode: 'complete', image: readFileSync(path.join(path.dirname(prompts), 'inputs/picture.jpg')), keepRows: 3 }, tessera.manifest);
    const alone = await tessera.generate({ prompt: 'a red star', image, seed: promptSeed(5, 0), candidates: 3, keep: 1 });
    const keptFile = record.candidates.find((c: { kept: boolean }) => c.kept).file as string;
    expect(keptFile).toMatch(new RegExp(`-c${alone.kept[0].index}\\.png$`));
  });

  it('resumes after a crash with the same files, and a changed input image outdates only its prompts', async () => {
    const reference = comparableSnapshot(path.join(dir, 'a'));
    const out = path.join(dir, 'crashed');
    class Crash extends Error {}
    await expect(run(out, 4, { crash: (_kind, count) => { if (count.record === 2) throw new Crash('crash'); } })).rejects.toBeInstanceOf(Crash);
    const resumed = await run(out, 4);
    expect(resumed.skipped + resumed.generated).toBe(4);
    expect(resumed.generated).toBeGreaterThan(0);
    expect(snapshotDiff(reference, comparableSnapshot(out))).toEqual([]);
    expect([...listFiles(out).keys()].filter((n) => n.endsWith('.tmp'))).toEqual([]);

    // A different mask: the edit's record no longer matches, and the run says so rather than mixing results.
    writeFileSync(path.join(path.dirname(prompts), 'inputs/mask.png'), await maskPng(96, 64, { x0: 0, y0: 0, x1: 30, y1: 64 }));
    await expect(run(out, 4)).rejects.toMatchObject({ code: 'TESSERA_ERR_RUN_CONFLICT' });
  });
});
