/**
 * Row groups on the tiny Janus package (issue 28): 16 guided Janus-Pro candidates are 32
 * rows of KV cache in one batch; under a row cap they sample in groups with the same
 * codes and ranks. Also the CLI's --max-batch-rows on generate and batch.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchSampler } from '../../src/sampler/sampler.js';
import { main } from '../../src/cli/main.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { GenerateRequest, GenerationEvent, GenerationResult } from '../../src/types.js';
import { captureCliOutput } from '../helpers/cli-output.js';
import { TINY_JANUS } from '../helpers/janus.js';
import { tempDir } from '../helpers/tiny.js';

const TINY_CLIP = path.resolve(import.meta.dirname, '../fixtures/tiny-clip');
const io = captureCliOutput();

let tessera: Tessera;
beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_JANUS, clip: TINY_CLIP, precision: 'fp32' });
});
afterAll(async () => {
  await tessera.dispose();
});

const byIndex = (r: GenerationResult) => [...r.candidates].sort((a, b) => a.index - b.index);

describe('Janus candidates in row groups', () => {
  // Guidance 5, the package's default: two rows per candidate, ten rows in one batch.
  const request: GenerateRequest = { prompt: 'a red circle', seed: 13, candidates: 5, keep: 2, previewEvery: 16, previewCandidates: 5 };

  it.each([
    [2, 5], // one candidate a group
    [3, 5], // a cap below two rows per candidate's multiple: still one a group
    [6, 2], // 3 + 2 candidates: uneven groups
  ])('under a cap of %i rows (%i groups): the codes and ranks of one batch, steps over the whole run', async (maxRows, groups) => {
    const [whole] = await tessera.generateMany([request]);
    const events: GenerationEvent[] = [];
    const [grouped] = await tessera.generateMany([request], { maxRows, onEvent: (e) => events.push(e) });
    expect(byIndex(grouped!).map((c) => Array.from(c.tokens))).toEqual(byIndex(whole!).map((c) => Array.from(c.tokens)));
    expect(byIndex(grouped!).map((c) => c.rank)).toEqual(byIndex(whole!).map((c) => c.rank));
    const steps = 64 * groups;
    expect(events.find((e) => e.type === 'start')).toMatchObject({ candidates: 5, steps });
    const stepEvents = events.filter((e) => e.type === 'step');
    stepEvents.forEach((e, i) => expect(e).toMatchObject({ step: i + 1, steps }));
    expect(stepEvents.at(-1)).toMatchObject({ step: steps, steps });
    // Previews only while the first group samples: its candidates only.
    const firstGroup = Math.floor(maxRows / 2);
    expect(events.filter((e) => e.type === 'preview').map((e) => [e.step, e.images.length])).toEqual([16, 32, 48].map((s) => [s, firstGroup]));
  });
});

describe('--max-batch-rows on the CLI', () => {
  const tokensOf = (stdout: string) => (JSON.parse(stdout) as { images: { candidateIndex: number; rank: number; tokens: number[] }[] }).images.map((i) => [i.candidateIndex, i.rank, i.tokens]);

  it('tessera generate samples the same images in row groups', async () => {
    const dir = tempDir();
    const args = ['generate', 'a red circle', '--model', TINY_JANUS, '--candidates', '4', '--keep', '4', '--seed', '3', '--precision', 'fp32', '--json'];
    expect(await main([...args, '--out', path.join(dir, 'a')]), io.stderr).toBe(0);
    const whole = tokensOf(io.stdout);
    io.stdout = '';
    const prefill = vi.spyOn(BatchSampler.prototype, 'prefill');
    expect(await main([...args, '--out', path.join(dir, 'b'), '--max-batch-rows', '3']), io.stderr).toBe(0);
    expect(tokensOf(io.stdout)).toEqual(whole);
    expect(whole).toHaveLength(4);
    // Two rows per guided candidate under a cap of 3: one candidate a group.
    expect(prefill.mock.calls.map(([sequences]) => sequences.length)).toEqual([1, 1, 1, 1]);
  });

  it.each(['0', '2.5', 'many', '-4'])('a bad value (%s) fails with TESSERA_ERR_OPTION before anything is written', async (value) => {
    const out = path.join(tempDir(), 'out');
    const code = await main(['generate', 'a red circle', '--model', TINY_JANUS, '--out', out, '--max-batch-rows', value]);
    expect(code).toBe(2);
    expect(io.stderr).toContain('[TESSERA_ERR_OPTION]');
    expect(io.stderr).toContain('--max-batch-rows');
  });

  it('tessera batch renders the same files in row groups', async () => {
    const dir = tempDir();
    const prompts = path.join(dir, 'prompts.txt');
    writeFileSync(prompts, 'a red circle\ntwo blue stars\n');
    const args = ['batch', prompts, '--model', TINY_JANUS, '--candidates', '3', '--keep', '2', '--seed', '5', '--precision', 'fp32', '--quiet'];
    expect(await main([...args, '--out', path.join(dir, 'a')]), io.stderr).toBe(0);
    const prefill = vi.spyOn(BatchSampler.prototype, 'prefill');
    expect(await main([...args, '--out', path.join(dir, 'b'), '--max-batch-rows', '4']), io.stderr).toBe(0);
    // One planned batch of both prompts' 3 guided candidates (12 rows): groups of two candidates.
    expect(prefill.mock.calls.map(([sequences]) => sequences.length)).toEqual([2, 2, 2]);
    const pngs = (out: string) => readdirSync(path.join(dir, out)).filter((f) => f.endsWith('.png')).sort();
    expect(pngs('b')).toEqual(pngs('a'));
    expect(pngs('a').length).toBeGreaterThan(0);
    for (const file of pngs('a')) {
      const [a, b] = await Promise.all(['a', 'b'].map((out) => sharp(path.join(dir, out, file)).raw().toBuffer()));
      expect(b!.equals(a!), file).toBe(true);
    }
  });

  it('tessera batch refuses --max-batch-rows with --queue (the workers sample)', async () => {
    const dir = tempDir();
    const prompts = path.join(dir, 'prompts.txt');
    writeFileSync(prompts, 'a red circle\n');
    const code = await main(['batch', prompts, '--out', path.join(dir, 'o'), '--model', TINY_JANUS, '--queue', 'redis://127.0.0.1:1', '--max-batch-rows', '4']);
    expect(code).toBe(2);
    expect(io.stderr).toContain('[TESSERA_ERR_OPTION]');
  });
});
