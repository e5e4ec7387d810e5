import { describe, expect, it } from 'vitest';
import { runImagePromptEval } from '../../eval/harness/image-prompts.js';

describe('image prompt proof script (shapes model, one scene)', () => {
  it('reports every figure, and an edit keeps the pixels outside its mask up to the VQ reconstruction', async () => {
    const report = (await runImagePromptEval({ model: undefined, scenes: 1, candidates: 2, seed: 3, out: undefined })) as {
      completion: { keepRate: { rate: number } };
      edit: { outsideMeanAbsToReconstruction: number; insideMeanAbsToReconstruction: number };
      vary: { keepShare: number; clipToSource: number; clipUnrelatedToSource: number; codesChanged: number }[];
    };
    expect(report.completion.keepRate.rate).toBeGreaterThanOrEqual(0);
    // Forced codes decode to (nearly) the reconstruction's pixels; inside the mask something changed.
    expect(report.edit.outsideMeanAbsToReconstruction).toBeLessThan(3);
    expect(report.edit.insideMeanAbsToReconstruction).toBeGreaterThan(report.edit.outsideMeanAbsToReconstruction);
    expect(report.vary.map((v) => v.keepShare)).toEqual([0, 0.5]);
    // Keeping half the codes keeps at least half unchanged.
    expect(report.vary[1].codesChanged).toBeLessThanOrEqual(0.5);
    expect(report.vary[1].clipToSource).toBeGreaterThan(report.vary[1].clipUnrelatedToSource);
  }, 120_000);
});
