import path from 'node:path';
import { readReference, type MinDalleReference } from '../../scripts/convert/min-dalle-check.js';
import type { SequenceSpec } from '../../src/sampler/sampler.js';
import { ROOT } from './tiny.js';

/** The tiny min-dalle package's folder and min-dalle's own outputs on its weights (docs/min-dalle.md). */
export const MIN_DALLE_FIXTURE = path.join(ROOT, 'test/fixtures/min-dalle');
export const minDalleReference: MinDalleReference = readReference(MIN_DALLE_FIXTURE);

/** A sequence sampled as min-dalle's greedy reference was (its top-k and supercondition factor), seed 1. */
export function greedySequence(c: MinDalleReference['greedy']['cases'][number], candidateIndex = 0): SequenceSpec {
  const { top_k: topK, supercondition_factor: guidanceScale } = minDalleReference.greedy.settings;
  return {
    textIds: c.conditionalIds,
    unconditionalIds: c.unconditionalIds,
    guidanceScale,
    seed: 1,
    candidateIndex,
    processors: { temperature: 1, topK, topP: 1 },
  };
}
