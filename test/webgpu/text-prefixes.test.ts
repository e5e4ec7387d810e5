import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DecoderOnlyGenerator } from '../../src/generator/decoder-only/generator.js';
import type { TextPrefixedSlots } from '../../src/generator/decoder-only/text-slots.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { SequenceSpec } from '../../src/sampler/sampler.js';
import { loadReference, ROOT, tempDir, TINY_MODEL } from '../helpers/tiny.js';
import { describeWebgpu } from './helpers.js';

// The text prefix fed once per text (scripts/convert/text_prefixes.py) on the GPU path: the
// text's keys/values travel with the cache's device copy (carried, as the encoder-decoder's
// cross keys/values are), and the greedy tokens are the CPU's, grouped and per row.
const reference = loadReference();

describeWebgpu('WebGPU against the CPU, decoder-only with the text per text (tiny random model, rewritten)', () => {
  let gpu: Tessera;
  let cpu: Tessera;
  beforeAll(async () => {
    const pkg = path.join(tempDir('tessera-text-gpu-'), 'package');
    cpSync(TINY_MODEL, pkg, { recursive: true });
    const done = spawnSync('/usr/bin/python3', ['scripts/convert/text_prefixes.py', '--package', pkg], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
    expect(done.status, done.stderr).toBe(0);
    gpu = await Tessera.load({ model: pkg, device: 'webgpu', rerank: false });
    cpu = await Tessera.load({ model: TINY_MODEL, device: 'cpu', rerank: false });
  }, 120_000);
  afterAll(async () => {
    await gpu?.dispose();
    await cpu?.dispose();
  });

  it('greedy (top-k 1, guidance 3): the same tokens as the CPU with the text in every row, the cache kept on the device', async () => {
    const c = reference.sampling[0];
    const greedy = (candidateIndex: number, textIds = c.textIds): SequenceSpec => ({
      textIds,
      unconditionalIds: c.unconditionalIds,
      guidanceScale: 3,
      seed: 5,
      candidateIndex,
      processors: { temperature: 1, topK: 1, topP: 1 },
    });
    const other = [...c.textIds].reverse();
    for (const specs of [[0, 1, 2].map((i) => greedy(i)), [greedy(0), greedy(1), greedy(0, other)]]) {
      const transfer = (gpu.model.generator as DecoderOnlyGenerator).transfer;
      const before = transfer.deviceSteps;
      const codes = await gpu.model.sampler.generate(specs);
      expect(codes.map((g) => Array.from(g))).toEqual((await cpu.model.sampler.generate(specs)).map((g) => Array.from(g)));
      expect(transfer.deviceSteps - before).toBeGreaterThan(50); // the steady state fed the device copy
    }
    const state = await gpu.model.sampler.prefill([greedy(0), greedy(1)]);
    await gpu.model.sampler.decodeSteps(state, 2);
    expect((state.cache as TextPrefixedSlots).text.fedCount).toBe(2);
  }, 300_000);
});
