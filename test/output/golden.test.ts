/**
 * `tessera generate` on the tiny fixture with a fixed seed writes what it wrote before the
 * result writer was unified: the same kept files, metadata and pixels, less the run's own
 * measurement (the tessera:footprint chunk). Compared as test/helpers/golden.ts says
 * (discrete things exactly, scores and pixels within tolerances; issue 22 replaced the
 * SHA-256 pins of e9de962, which held full-precision scores and failed on other CPUs),
 * under the default onnxruntime kernels and under others that change the last float bits.
 * The grid is not compared here (test/cli/golden-bytes.test.ts compares one).
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { roundScore } from '../../src/image/index.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { expectFolderLikeGolden, KERNEL_SETTINGS, OTHER_KERNELS } from '../helpers/golden.js';
import { tempDir, TINY_MODEL } from '../helpers/tiny.js';

beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const CASES: { golden: string; args: string[] }[] = [
  { golden: 'generate-circle-7', args: ['a red circle', '--candidates', '4', '--keep', '2', '--seed', '7', '--grid'] },
  { golden: 'generate-triangle-5', args: ['a green triangle', '--candidates', '2', '--keep', '1', '--seed', '5', '--guidance', '3', '--negative', 'red'] },
];

for (const kernels of KERNEL_SETTINGS) {
  describe(`tessera generate writes the recorded files (${kernels.name})`, () => {
    for (const { golden, args } of CASES) {
      it(golden, async () => {
        for (const [key, value] of Object.entries(kernels.env)) vi.stubEnv(key, value);
        const out = path.join(tempDir(), 'out');
        expect(await main(['generate', ...args, '--model', TINY_MODEL, '--out', out, '--quiet'])).toBe(0);
        await expectFolderLikeGolden(out, golden, undefined, (file) => !file.endsWith('-grid.png'));
      });
    }
  });
}

describe('the other kernels are another CPU, not the same one twice', () => {
  it('they change the last bits of the CLIP scores, not the ranks, tokens or rounded scores', async () => {
    const request = { prompt: 'a red circle', candidates: 4, keep: 2, seed: 7 };
    const runs = [];
    for (const env of [{}, OTHER_KERNELS] as Record<string, string>[]) {
      for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
      const tessera = await Tessera.load({ model: TINY_MODEL });
      try {
        runs.push(await tessera.generate(request));
      } finally {
        await tessera.dispose();
      }
    }
    const [a, b] = runs;
    const facts = (r: typeof a) => r.candidates.map((c) => ({ index: c.index, rank: c.rank, tokens: Array.from(c.tokens), score: roundScore(c.score) }));
    expect(facts(b)).toEqual(facts(a));
    // The same scores to 4 decimals, not to the last bit: without this the second run would prove nothing.
    expect(a.candidates.some((c, i) => c.score !== b.candidates[i].score)).toBe(true);
  });
});
