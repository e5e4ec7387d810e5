/**
 * Sampling lanes (src/pipeline/lanes.ts): a row group split over threads gives exactly the
 * codes, ranks, events and previews of one thread on fp32; each lane counts as a group in
 * the footprint; a cancel stops every lane; a process with idle lanes still exits.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LANE_WEIGHT_LIMIT, laneParts, laneRows, lanesFor, laneStepBytes, MIN_LANE_ROWS, SamplingLanes, stepGraphBytes } from '../../src/pipeline/lanes.js';
import { loadModel } from '../../src/pipeline/loader.js';
import type { Precision } from '../../src/model/precision.js';
import { readManifest } from '../../src/model/manifest.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { rowsFor, type SequenceSpec } from '../../src/sampler/sequence.js';
import type { GenerateRequest, GenerationEvent, GenerationResult } from '../../src/types.js';
import { ROOT, sequenceSpec } from '../helpers/tiny.js';

const spec = sequenceSpec;

describe('laneParts', () => {
  it('splits in order into parts of about equal rows, a guided pair never apart', () => {
    const indices = (parts: SequenceSpec[][]) => parts.map((p) => p.map((s) => s.candidateIndex));
    const plain = Array.from({ length: 8 }, (_, i) => spec(i, false));
    expect(indices(laneParts(plain, 2))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(indices(laneParts(plain, 3))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]); // 8 rows: at most 8 / MIN_LANE_ROWS parts
    expect(indices(laneParts(plain.slice(0, 7), 2))).toEqual([[0, 1, 2, 3, 4, 5, 6]]); // too few rows for two lanes
    expect(indices(laneParts(plain, 1))).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    const guided = Array.from({ length: 5 }, (_, i) => spec(i, true));
    expect(indices(laneParts(guided, 2))).toEqual([[0, 1, 2], [3, 4]]);
  });

  it('keeps every sequence once, in order, in at most min(lanes, rows / MIN_LANE_ROWS) non-empty parts within two rows of an even share', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (guidedFlags, lanes) => {
        const sequences = guidedFlags.map((g, i) => spec(i, g));
        const parts = laneParts(sequences, lanes);
        const total = rowsFor(sequences);
        expect(parts.flat().map((s) => s.candidateIndex)).toEqual(sequences.map((s) => s.candidateIndex));
        expect(parts.length).toBe(Math.max(1, Math.min(lanes, Math.floor(total / MIN_LANE_ROWS), sequences.length)));
        for (const part of parts) {
          expect(part.length).toBeGreaterThan(0);
          expect(rowsFor(part)).toBeLessThanOrEqual(total / parts.length + 2);
        }
      }),
    );
  });
});

describe('laneRows', () => {
  it("is a lane's share of the rows, as laneParts splits them", () => {
    expect([1, 4, 7, 8, 9, 32, 128].map((rows) => laneRows(rows, 2))).toEqual([1, 4, 7, 4, 5, 16, 64]);
    expect(laneRows(12, 4)).toBe(4);
    expect(laneRows(128, 1)).toBe(128);
    for (const count of [8, 9, 32, 40]) expect(laneRows(count, 2)).toBe(Math.max(...laneParts(Array.from({ length: count }, (_, i) => spec(i, false)), 2).map((p) => p.length)));
  });
});

describe('lanesFor', () => {
  const small = 21 * 1024 * 1024; // the shipped model's step graph
  it('is one per intra-op thread on the CPU for a small step graph, one for a large one or elsewhere, TESSERA_LANES when set', () => {
    expect(lanesFor('cpu', small, {})).toBe(2);
    expect(lanesFor('cpu', small, { TESSERA_THREADS: '4' })).toBe(4);
    expect(lanesFor('cpu', LANE_WEIGHT_LIMIT + 1, {})).toBe(1);
    expect(lanesFor('webgpu', small, {})).toBe(1);
    expect(lanesFor('cpu', small, { TESSERA_LANES: '1' })).toBe(1);
    expect(lanesFor('cpu', LANE_WEIGHT_LIMIT + 1, { TESSERA_LANES: '2' })).toBe(2);
  });

  it('refuses a TESSERA_LANES that is not an integer from 1 to 64 with TESSERA_ERR_OPTION', () => {
    for (const bad of ['0', '-1', '1.5', 'two', '65']) expect(() => lanesFor('cpu', small, { TESSERA_LANES: bad })).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION', param: 'TESSERA_LANES' }));
  });

  it("counts a package's step graph with its external data", () => {
    const dir = path.join(ROOT, 'models/default');
    const manifest = readManifest(dir);
    expect(stepGraphBytes(dir, manifest)).toBe(statSync(path.join(dir, manifest.generator.step)).size);
    // An encoder-decoder package with external data: step.onnx and step.onnx.data, not the int8 variant's.
    const mini = path.join(ROOT, 'test/fixtures/min-dalle/package');
    const size = (f: string) => statSync(path.join(mini, 'generator', f)).size;
    expect(stepGraphBytes(mini, readManifest(mini))).toBe(size('step.onnx') + size('step.onnx.data'));
    // A precision's own: the int8 variant's graph and its data; auto decides on int8's when there is one.
    expect(stepGraphBytes(mini, readManifest(mini), 'int8')).toBe(size('step.int8.onnx') + size('step.int8.onnx.data'));
    expect(laneStepBytes(mini, readManifest(mini), 'auto')).toBe(stepGraphBytes(mini, readManifest(mini), 'int8'));
    expect(laneStepBytes(mini, readManifest(mini), 'fp32')).toBe(stepGraphBytes(mini, readManifest(mini)));
    expect(laneStepBytes(dir, manifest, 'auto')).toBe(statSync(path.join(dir, 'generator/step.int8.onnx')).size);
  });
});

describe("the loader's lanes follow the precision that runs", () => {
  const dir = path.join(ROOT, 'models/default');
  const manifest = readManifest(dir);
  // A limit between the shipped model's int8 step graph (7 MB) and its fp32 one (21 MB), as Mini's 313 MB and 840 MB sit about LANE_WEIGHT_LIMIT.
  const laneWeightLimit = (stepGraphBytes(dir, manifest, 'int8') + stepGraphBytes(dir, manifest, 'fp32')) / 2;
  const timer = (ms: Record<Precision, number>) => async (precision: Precision, step: () => Promise<unknown>) => {
    await step();
    return ms[precision];
  };
  const load = (precision: 'auto' | 'fp32' | 'int8', ms: Record<Precision, number>, cacheDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-lanes-'))) =>
    loadModel({ model: dir, rerank: false, lanes: 'auto', precision, laneWeightLimit, probe: { cacheDir, timer: timer(ms) } });
  const env = { ...process.env };
  beforeAll(() => {
    delete process.env.TESSERA_LANES;
    process.env.TESSERA_THREADS = '2';
  });
  afterAll(() => {
    process.env.TESSERA_LANES = env.TESSERA_LANES;
    process.env.TESSERA_THREADS = env.TESSERA_THREADS;
    if (env.TESSERA_LANES === undefined) delete process.env.TESSERA_LANES;
    if (env.TESSERA_THREADS === undefined) delete process.env.TESSERA_THREADS;
  });

  it('auto keeping int8 keeps the lanes started for it; auto keeping fp32 (over the limit) closes them and samples as fp32 alone does', async () => {
    const int8 = await load('auto', { fp32: 10, int8: 5 });
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-lanes-'));
    const fp32 = await load('auto', { fp32: 5, int8: 10 }, cacheDir);
    // The same decision read from the cache: the generator opens at once with the default threads.
    const cached = await load('auto', { fp32: 10, int8: 5 }, cacheDir);
    const forced = await load('fp32', { fp32: 5, int8: 10 });
    try {
      expect(int8.precision.precision).toBe('int8');
      expect(int8.lanes?.count).toBe(2);
      expect(fp32.precision).toMatchObject({ precision: 'fp32', reason: 'measured' });
      expect(fp32.lanes).toBeNull();
      expect(cached.precision).toMatchObject({ precision: 'fp32', reason: 'cached' });
      expect(cached.lanes).toBeNull();
      expect(forced.lanes).toBeNull();
      // The generator kept after the lanes closed samples the codes of a plain fp32 load.
      const text = manifest.text.unconditionalIds;
      const sequences = Array.from({ length: 4 }, (_, i) => ({ ...spec(i, true), textIds: text, unconditionalIds: text, processors: { temperature: 1, topK: 8, topP: 1 } }));
      const codes = async (model: typeof fp32) => {
        const state = await model.sampler.prefill(sequences);
        await model.sampler.decodeSteps(state, model.sampler.imageTokens);
        return state.codes.map((c) => Array.from(c));
      };
      const plain = await codes(forced);
      expect(await codes(fp32)).toEqual(plain);
      expect(await codes(cached)).toEqual(plain);
    } finally {
      await Promise.all([int8, fp32, cached, forced].map((m) => m.lanes?.close()));
    }
  });
});

let alone: Tessera;
let laned: Tessera;
beforeAll(async () => {
  const model = path.join(ROOT, 'models/default');
  [alone, laned] = await Promise.all([Tessera.load({ model, precision: 'fp32' }), Tessera.load({ model, precision: 'fp32', lanes: 2 })]);
});
afterAll(async () => {
  await Promise.all([alone.dispose(), laned.dispose()]);
});

const codesOf = (r: GenerationResult) => [...r.candidates].sort((a, b) => a.index - b.index).map((c) => Array.from(c.tokens));
const ranksOf = (r: GenerationResult) => [...r.candidates].sort((a, b) => a.index - b.index).map((c) => c.rank);

async function run(tessera: Tessera, requests: GenerateRequest[], signal?: AbortSignal): Promise<{ results: GenerationResult[]; events: GenerationEvent[] }> {
  const events: GenerationEvent[] = [];
  const results = await tessera.generateMany(requests, { onEvent: (e) => events.push(e), signal });
  return { results, events };
}

describe('generateMany over two lanes (models/default, fp32)', () => {
  const guided: GenerateRequest = { prompt: 'a red circle above a blue square', seed: 21, candidates: 5, keep: 2, guidanceScale: 3, previewEvery: 16, previewCandidates: 5 };
  const plain: GenerateRequest = { prompt: 'two green stars', seed: 4, candidates: 3, keep: 1, guidanceScale: 1, previewEvery: 16, previewCandidates: 2 };

  it('gives the codes, ranks, events and previews of one thread', async () => {
    const one = await run(alone, [guided, plain]);
    const two = await run(laned, [guided, plain]);
    expect(two.results.map(codesOf)).toEqual(one.results.map(codesOf));
    expect(two.results.map(ranksOf)).toEqual(one.results.map(ranksOf));
    const shape = (events: GenerationEvent[]) => events.filter((e) => e.type !== 'stage').map((e) => (e.type === 'step' ? [e.type, e.step, e.steps] : e.type === 'preview' ? [e.type, e.step, e.images.length] : [e.type, JSON.stringify(e)]));
    expect(shape(two.events)).toEqual(shape(one.events));
    // Previews show every shown candidate, the second lane's too (candidates 3-4 and the plain request's run there).
    const previews = (events: GenerationEvent[]) => events.flatMap((e) => (e.type === 'preview' ? e.images.map((image) => Buffer.from(image.data).toString('base64')) : []));
    expect(previews(two.events)).toEqual(previews(one.events));
    expect(previews(two.events)).toHaveLength(3 * 7);
  });

  it('counts each lane as a group: its prefill and weight reads; the rows’ own work is the same', async () => {
    const one = (await run(alone, [guided])).results[0]!.footprint!;
    const two = (await run(laned, [guided])).results[0]!.footprint!;
    const close = (a: number, b: number) => expect(Math.abs(a - b) / b).toBeLessThan(1e-9);
    close(two.flops!.prefill, 2 * one.flops!.prefill);
    close(two.flops!.decode, one.flops!.decode);
    close(two.bytes!.decode.weights, 2 * one.bytes!.decode.weights);
  });

  it('samples concurrent calls one after another, each with its own codes', async () => {
    const other: GenerateRequest = { ...guided, prompt: 'two green stars', seed: 5 };
    const one = await Promise.all([run(alone, [guided]), run(alone, [other])]);
    const two = await Promise.all([run(laned, [guided]), run(laned, [other])]);
    expect(two.map((r) => r.results.map(codesOf))).toEqual(one.map((r) => r.results.map(codesOf)));
  });

  it('runs a group too small to split on the calling thread alone', async () => {
    const small: GenerateRequest = { prompt: 'a yellow star', seed: 3, candidates: 3, keep: 1, guidanceScale: 1 };
    const one = (await run(alone, [small])).results[0]!;
    const two = (await run(laned, [small])).results[0]!;
    expect(codesOf(two)).toEqual(codesOf(one));
    expect(two.footprint!.flops!.prefill).toBe(one.footprint!.flops!.prefill);
  });

  it('a cancel stops every lane with TESSERA_ERR_CANCELLED, and the lanes sample again after it', async () => {
    const controller = new AbortController();
    const events: GenerationEvent[] = [];
    const cancelled = laned.generateMany([guided], {
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'step' && e.step === 10) controller.abort();
      },
    });
    await expect(cancelled).rejects.toMatchObject({ code: 'TESSERA_ERR_CANCELLED' });
    expect(events.filter((e) => e.type === 'step').length).toBeLessThan(64);
    // Cancelled before it starts: no step at all, as without lanes.
    const before: GenerationEvent[] = [];
    await expect(laned.generateMany([guided], { signal: AbortSignal.abort(), onEvent: (e) => before.push(e) })).rejects.toMatchObject({ code: 'TESSERA_ERR_CANCELLED' });
    expect(before.filter((e) => e.type === 'step')).toEqual([]);
    const again = await run(laned, [guided]);
    expect(again.results.map(codesOf)).toEqual((await run(alone, [guided])).results.map(codesOf));
  });
});

describe('a worker lane that fails', () => {
  it("rejects open with the worker's own error code, and a closed lane's sample with TESSERA_ERR_INTERNAL", async () => {
    const broken = SamplingLanes.start({ dir: path.join(ROOT, 'no-such-package'), device: 'cpu' }, 2);
    await expect(broken.open('fp32')).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_NOT_FOUND' });
    await broken.close();
    const lanes = SamplingLanes.start({ dir: path.join(ROOT, 'models/default'), device: 'cpu' }, 2);
    await lanes.open('fp32');
    await lanes.close();
    const sequences = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ ...spec(i, false), textIds: laned.model.manifest.text.unconditionalIds }));
    const parts = laneParts(sequences, 2);
    await expect(lanes.sample(laned.model.sampler, parts)).rejects.toMatchObject({ code: 'TESSERA_ERR_INTERNAL', message: expect.stringContaining('TESSERA_LANES=1') });
  });
});

describe('a process with sampling lanes', () => {
  // Loaded only (a batch with nothing left to do), and after sampling over both lanes; the load's
  // wait for the lanes must hold the process (an unheld one exited 13, its await unsettled).
  for (const work of ['', `await t.generate({ prompt: 'a red circle', seed: 1, candidates: 8 });`]) {
    it(`exits when its work is done (idle lanes do not hold it)${work === '' ? ', having only loaded' : ', having sampled'}`, () => {
      const script = `import { Tessera } from './src/pipeline/tessera.ts';
const t = await Tessera.load({ precision: 'fp32', rerank: false, lanes: 2 });
${work}
console.log('done');`;
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect({ status: child.status, signal: child.signal, stdout: child.stdout.trim() }).toEqual({ status: 0, signal: null, stdout: 'done' });
    });
  }
});
