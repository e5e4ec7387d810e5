import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readReference } from '../../scripts/convert/min-dalle-check.js';
import { DecoderOnlyGenerator } from '../../src/generator/decoder-only/generator.js';
import type { EncoderDecoderGenerator } from '../../src/generator/encoder-decoder/generator.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ContinuousBatch } from '../../src/sampler/continuous.js';
import type { SequenceSpec } from '../../src/sampler/sampler.js';
import type { GenerationResult } from '../../src/types.js';
import { loadReference, ROOT, sequencesOf, TINY_MODEL } from '../helpers/tiny.js';
import { describeWebgpu } from './helpers.js';

// The GPU code path against the CPU's, on Mesa's lavapipe where there is no GPU (issue 29):
// both architectures, greedy tokens exactly, fixed-seed sampling with the same kept
// candidates. Tokens and ranks are exact; CLIP scores may differ in the last bits of the
// floats (another provider's kernels sum in another order), so they are compared within
// SCORE_TOLERANCE, far below the gaps between the tiny models' candidate scores.
const SCORE_TOLERANCE = 1e-3;
const MIN_DALLE = path.join(ROOT, 'test/fixtures/min-dalle');
const MIN_DALLE_PACKAGE = path.join(MIN_DALLE, 'package');
const TINY_CLIP = path.join(ROOT, 'test/fixtures/tiny-clip');
const reference = loadReference();
const minDalle = readReference(MIN_DALLE);

function expectSameRanking(gpu: GenerationResult, cpu: GenerationResult): void {
  expect(gpu.kept.map((k) => k.index)).toEqual(cpu.kept.map((k) => k.index));
  expect(gpu.candidates.map((c) => Array.from(c.tokens))).toEqual(cpu.candidates.map((c) => Array.from(c.tokens)));
  for (const [i, c] of gpu.candidates.entries()) expect(Math.abs(c.score! - cpu.candidates[i].score!)).toBeLessThan(SCORE_TOLERANCE);
}

describeWebgpu('WebGPU against the CPU, decoder-only (tiny random model)', () => {
  let gpu: Tessera;
  let cpu: Tessera;
  beforeAll(async () => {
    gpu = await Tessera.load({ model: TINY_MODEL, device: 'webgpu' });
    cpu = await Tessera.load({ model: TINY_MODEL, device: 'cpu' });
  });
  afterAll(async () => {
    await gpu?.dispose();
    await cpu?.dispose();
  });

  it("samples PyTorch's pinned tokens for every reference case (fixed seeds)", async () => {
    for (const c of reference.sampling) {
      const codes = await gpu.model.sampler.generate(sequencesOf(c));
      expect(codes.map((grid) => Array.from(grid)), c.name).toEqual(c.tokens);
    }
  });

  it('greedy (top-k 1, guidance 3): the same tokens as the CPU', async () => {
    const c = reference.sampling[0];
    const greedy: SequenceSpec[] = [0, 1, 2].map((candidateIndex) => ({
      textIds: c.textIds,
      unconditionalIds: c.unconditionalIds,
      guidanceScale: 3,
      seed: 5,
      candidateIndex,
      processors: { temperature: 1, topK: 1, topP: 1 },
    }));
    const transfer = (gpu.model.generator as DecoderOnlyGenerator).transfer;
    const before = { ...transfer };
    const onGpu = await gpu.model.sampler.generate(greedy);
    const onCpu = await cpu.model.sampler.generate(greedy);
    expect(onGpu.map((g) => Array.from(g))).toEqual(onCpu.map((g) => Array.from(g)));
    // The cache stayed on the device: of 63 steps only the first uploaded it from the host
    // (its slots grew on the device, in chunks of 16 up to 76).
    expect(transfer.hostSteps - before.hostSteps).toBe(1);
    expect(transfer.deviceSteps - before.deviceSteps).toBe(62);
  });

  it('continuous batching with staggered admission (row copies between steps): the tokens of a plain batch on the CPU', async () => {
    const [a, b] = reference.sampling.slice(0, 2);
    const batch = new ContinuousBatch(gpu.model.sampler);
    await batch.admit('a', sequencesOf(a));
    for (let i = 0; i < 7; i++) await batch.step();
    await batch.admit('b', sequencesOf(b));
    const done = new Map<string, number[][]>();
    while (batch.size > 0) for (const f of (await batch.step()).finished) done.set(f.id, f.codes.map((g) => Array.from(g)));
    expect(done.get('a')).toEqual(a.tokens);
    expect(done.get('b')).toEqual(b.tokens);
  });

  it('fixed seed end to end (sample, decode, CLIP rerank): the same kept candidates, scores within tolerance', async () => {
    const request = { prompt: 'a red circle on a white background', seed: 11, candidates: 6, keep: 2 };
    expectSameRanking(await gpu.generate(request), await cpu.generate(request));
  });
});

describeWebgpu('WebGPU against the CPU, encoder-decoder (min-dalle format fixture)', () => {
  let gpu: Tessera;
  let cpu: Tessera;
  const { top_k: topK, supercondition_factor: guidanceScale } = minDalle.greedy.settings;
  beforeAll(async () => {
    gpu = await Tessera.load({ model: MIN_DALLE_PACKAGE, device: 'webgpu', clip: TINY_CLIP });
    cpu = await Tessera.load({ model: MIN_DALLE_PACKAGE, device: 'cpu', clip: TINY_CLIP });
  });
  afterAll(async () => {
    await gpu?.dispose();
    await cpu?.dispose();
  });

  // One case: 255 steps on lavapipe take ~15 s on two cores (the CPU suite checks every case).
  it("greedy: exactly min-dalle's own tokens", async () => {
    const specs: SequenceSpec[] = minDalle.greedy.cases.slice(0, 1).map((c) => ({
      textIds: c.conditionalIds,
      unconditionalIds: c.unconditionalIds,
      guidanceScale,
      seed: 1,
      candidateIndex: 0,
      processors: { temperature: 1, topK, topP: 1 },
    }));
    const transfer = (gpu.model.generator as EncoderDecoderGenerator).transfer;
    const before = { ...transfer };
    const codes = await gpu.model.sampler.generate(specs);
    expect(codes.map((grid) => Array.from(grid))).toEqual([minDalle.greedy.cases[0].tokens]);
    // Self-attention cache, cross keys/values and text mask uploaded once, then kept on the device.
    expect([transfer.hostSteps - before.hostSteps, transfer.deviceSteps - before.deviceSteps]).toEqual([1, 254]);
  }, 300_000);

  it('continuous batching with staggered admission (row copies re-upload the cache once): min-dalle\'s tokens', async () => {
    const [a, b] = minDalle.greedy.cases;
    const spec = (c: typeof a): SequenceSpec => ({ textIds: c.conditionalIds, unconditionalIds: c.unconditionalIds, guidanceScale, seed: 1, candidateIndex: 0, processors: { temperature: 1, topK, topP: 1 } });
    const batch = new ContinuousBatch(gpu.model.sampler);
    await batch.admit('a', [spec(a)]);
    for (let i = 0; i < 5; i++) await batch.step();
    await batch.admit('b', [spec(b)]);
    const done = new Map<string, number[]>();
    while (batch.size > 0) for (const f of (await batch.step()).finished) done.set(f.id, Array.from(f.codes[0]));
    expect(done.get('a')).toEqual(a.tokens);
    expect(done.get('b')).toEqual(b.tokens);
  }, 300_000);

  // Two candidates without guidance (two step rows): its VQGAN decodes 256x256 images, ~10 s each on lavapipe.
  it('fixed seed end to end (sample, decode, CLIP rerank): the same kept candidates, scores within tolerance', async () => {
    const request = { prompt: minDalle.greedy.cases[0].prompt, seed: 3, candidates: 2, keep: 1, topK: 8, guidanceScale: 1 };
    expectSameRanking(await gpu.generate(request), await cpu.generate(request));
  }, 300_000);
});
