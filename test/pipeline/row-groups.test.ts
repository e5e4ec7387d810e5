/**
 * Row groups (issue 28): under a row cap, generateMany samples a run's candidates in
 * consecutive groups and gives exactly the codes and ranks of one batch; its events count
 * over the whole run. On the shipped default model (decoder-only, with its CLIP).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/model/manifest.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { checkMaxRows, requestGroupShares, rowGroups } from '../../src/sampler/row-groups.js';
import type { SequenceSpec } from '../../src/sampler/sequence.js';
import type { GenerateRequest, GenerationEvent, GenerationResult } from '../../src/types.js';
import { ROOT, sequenceSpec } from '../helpers/tiny.js';

const spec = sequenceSpec;
const indices = (groups: SequenceSpec[][]) => groups.map((g) => g.map((s) => s.candidateIndex));

describe('rowGroups', () => {
  it('splits in order into groups of at most maxRows rows, two per guided sequence', () => {
    const guided = [0, 1, 2, 3, 4].map((i) => spec(i, true));
    expect(indices(rowGroups(guided, undefined))).toEqual([[0, 1, 2, 3, 4]]);
    expect(indices(rowGroups(guided, 10))).toEqual([[0, 1, 2, 3, 4]]);
    expect(indices(rowGroups(guided, 4))).toEqual([[0, 1], [2, 3], [4]]);
    expect(indices(rowGroups(guided, 5))).toEqual([[0, 1], [2, 3], [4]]);
    expect(indices(rowGroups(guided, 6))).toEqual([[0, 1, 2], [3, 4]]);
    // A sequence larger than the cap still runs, alone.
    expect(indices(rowGroups(guided, 1))).toEqual([[0], [1], [2], [3], [4]]);
  });

  it('mixes guided and unguided sequences by their own rows', () => {
    const mixed = [spec(0, true), spec(1, false), spec(2, true), spec(3, false), spec(4, false)];
    expect(indices(rowGroups(mixed, 3))).toEqual([[0, 1], [2, 3], [4]]);
    expect(indices(rowGroups(mixed, 2))).toEqual([[0], [1], [2], [3, 4]]);
  });

  it("splits each request's candidates over the groups it sampled in", () => {
    expect(requestGroupShares([5], [2, 2, 1])).toEqual([[2, 2, 1]]);
    expect(requestGroupShares([5, 3], [4, 4])).toEqual([[4, 1], [3]]);
    expect(requestGroupShares([1, 1, 4], [2, 2, 2])).toEqual([[1], [1], [2, 2]]);
    expect(requestGroupShares([0, 2], [2])).toEqual([[0], [2]]);
  });

  it('refuses a cap that is not an integer from 1 with TESSERA_ERR_OPTION', () => {
    for (const bad of [0, -2, 1.5, Number.NaN, 70_000]) expect(() => checkMaxRows(bad)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION' }));
    expect(checkMaxRows(undefined)).toBeUndefined();
    expect(checkMaxRows(3)).toBe(3);
  });
});

let tessera: Tessera;
beforeAll(async () => {
  tessera = await Tessera.load({ model: path.join(ROOT, 'models/default'), precision: 'fp32' });
});
afterAll(async () => {
  await tessera.dispose();
});

const codesOf = (r: GenerationResult) => [...r.candidates].sort((a, b) => a.index - b.index).map((c) => Array.from(c.tokens));
const ranksOf = (r: GenerationResult) => [...r.candidates].sort((a, b) => a.index - b.index).map((c) => c.rank);

async function run(requests: GenerateRequest[], maxRows?: number): Promise<{ results: GenerationResult[]; events: GenerationEvent[] }> {
  const events: GenerationEvent[] = [];
  const results = await tessera.generateMany(requests, { maxRows, onEvent: (e) => events.push(e) });
  return { results, events };
}

describe('generateMany under a row cap (models/default)', () => {
  const guided: GenerateRequest = { prompt: 'a red circle above a blue square', seed: 21, candidates: 5, keep: 2, guidanceScale: 3, previewEvery: 16, previewCandidates: 3 };

  it('gives the codes and ranks of one batch, in uneven groups (cap 4: 2 + 2 + 1 guided candidates)', async () => {
    const whole = await run([guided]);
    const grouped = await run([guided], 4);
    expect(codesOf(grouped.results[0]!)).toEqual(codesOf(whole.results[0]!));
    expect(ranksOf(grouped.results[0]!)).toEqual(ranksOf(whole.results[0]!));
    // The cap sampled three groups: every candidate in one of them.
    const steps = 64;
    const start = grouped.events.find((e) => e.type === 'start');
    expect(start).toMatchObject({ candidates: 5, steps: 3 * steps, rows: 4 });
    expect(whole.events.find((e) => e.type === 'start')).toMatchObject({ candidates: 5, steps, rows: 10 });
  });

  it("counts each group's prefill, weight and text reads in the footprint; the rows' own work is the same", async () => {
    const whole = (await run([guided])).results[0]!.footprint!;
    const grouped = (await run([guided], 4)).results[0]!.footprint!;
    const close = (a: number, b: number) => expect(Math.abs(a - b) / b).toBeLessThan(1e-9);
    close(grouped.flops!.prefill, 3 * whole.flops!.prefill);
    close(grouped.flops!.decode, whole.flops!.decode);
    // Images decoded: 5 candidates + previews at steps 16, 32, 48 of the 3 shown (2 of them in the first group).
    close(grouped.flops!.vqDecode, (whole.flops!.vqDecode * (5 + 3 * 2)) / (5 + 3 * 3));
    close(grouped.bytes!.decode.weights, 3 * whole.bytes!.decode.weights);
    // The shipped step reads each text's keys/values once per text (generator.cache.text =
    // 'prefixes'): each of the 3 groups reads both texts (guided), one group alone would read
    // them once, so the cap adds 2 groups x 2 texts x 63 steps of text reads to the rows' own.
    const manifest = readManifest(path.join(ROOT, 'models/default'));
    const { layers, heads, headDim } = manifest.generator;
    expect(manifest.generator.cache?.text).toBe('prefixes');
    const textRead = layers * 2 * heads * headDim * manifest.text.length * 4; // one text's keys and values, bytes
    close(grouped.bytes!.decode.kvRead, whole.bytes!.decode.kvRead + 2 * 2 * 63 * textRead);
    close(grouped.bytes!.prefill.total, 3 * whole.bytes!.prefill.total);
  });

  it('counts steps over the whole run, monotonic, ending at steps; previews only while the first group samples', async () => {
    const { events } = await run([guided], 3);
    const stepEvents = events.filter((e) => e.type === 'step');
    expect(stepEvents).toHaveLength(5 * 64);
    stepEvents.forEach((e, i) => expect(e).toMatchObject({ step: i + 1, steps: 5 * 64 }));
    const previews = events.filter((e) => e.type === 'preview');
    // The first group holds candidate 0 only (two rows under a cap of 3): previews of it, at steps 16, 32, 48.
    expect(previews.map((p) => [p.step, p.steps, p.images.length])).toEqual([
      [16, 320, 1],
      [32, 320, 1],
      [48, 320, 1],
    ]);
    const prefills = events.filter((e) => e.type === 'stage' && e.stage === 'prefill');
    expect(prefills).toHaveLength(1);
  });

  it('several requests with and without guidance split across groups keep their codes and order', async () => {
    const plain: GenerateRequest = { prompt: 'two green stars', seed: 4, candidates: 3, keep: 1, guidanceScale: 1 };
    const whole = await run([guided, plain]);
    const grouped = await run([guided, plain], 5);
    expect(grouped.results.map(codesOf)).toEqual(whole.results.map(codesOf));
    expect(grouped.results.map(ranksOf)).toEqual(whole.results.map(ranksOf));
    expect(grouped.results.map((r) => r.prompt)).toEqual([guided.prompt, plain.prompt]);
  });

  it('a cap at or above the run rows changes nothing: one group, the same events', async () => {
    const { events } = await run([guided], 10);
    expect(events.find((e) => e.type === 'start')).toMatchObject({ steps: 64, rows: 10 });
    expect(events.filter((e) => e.type === 'preview').map((p) => p.images.length)).toEqual([3, 3, 3]);
  });

  it('a cancel during a later group stops the run with TESSERA_ERR_CANCELLED', async () => {
    const controller = new AbortController();
    const sampling = tessera.generateMany([guided], {
      maxRows: 4,
      signal: controller.signal,
      onEvent: (e) => e.type === 'step' && e.step === 64 + 10 && controller.abort(new Error('stop')),
    });
    await expect(sampling).rejects.toMatchObject({ code: 'TESSERA_ERR_CANCELLED' });
  });

  it('a bad cap fails with TESSERA_ERR_OPTION before sampling', async () => {
    await expect(tessera.generateMany([guided], { maxRows: 0 })).rejects.toMatchObject({ code: 'TESSERA_ERR_OPTION' });
  });
});
