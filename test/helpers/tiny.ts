import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SequenceSpec } from '../../src/sampler/sampler.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TINY_MODEL = path.join(ROOT, 'test/fixtures/tiny-model');
export const TINY_REFERENCE = path.join(ROOT, 'test/fixtures/tiny-reference.json');

export interface ReferenceCase {
  name: string;
  prompt: string;
  negative: string | null;
  seed: number;
  indices: number[];
  temperature: number;
  topK: number;
  topP: number;
  guidanceScale: number;
  textIds: number[];
  unconditionalIds: number[];
  tokens: number[][];
}

export interface Reference {
  graphs: {
    prefill: { input_ids: number[][]; logits: number[]; present_keys_sum: number; present_values_sum: number };
    step: {
      input_ids: number[][];
      position_ids: number[][];
      attention_mask: number[];
      past_keys: number[];
      past_values: number[];
      logits: number[];
      new_keys: number[];
      new_values: number[];
    };
  };
  sampling: ReferenceCase[];
}

export function loadReference(): Reference {
  return JSON.parse(readFileSync(TINY_REFERENCE, 'utf8')) as Reference;
}

/** A private copy of the tiny model package, for tests that damage it. */
export function copyTinyModel(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-model-'));
  const target = path.join(dir, 'tiny-model');
  cpSync(TINY_MODEL, target, { recursive: true });
  return target;
}

export function tempDir(prefix = 'tessera-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** The sampler sequences of a reference case (candidate indices default to the case's own). */
export function sequencesOf(c: ReferenceCase, indices = c.indices): SequenceSpec[] {
  return indices.map((candidateIndex) => ({
    textIds: c.textIds,
    unconditionalIds: c.guidanceScale !== 1 ? c.unconditionalIds : null,
    guidanceScale: c.guidanceScale,
    seed: c.seed,
    candidateIndex,
    processors: { temperature: c.temperature, topK: c.topK, topP: c.topP },
  }));
}

/** A sequence of text [1, 2], seed 1, default processors; guided: scale 3 with an unconditional twin row. */
export function sequenceSpec(candidateIndex: number, guided: boolean): SequenceSpec {
  return {
    textIds: [1, 2],
    unconditionalIds: guided ? [0, 0] : null,
    guidanceScale: guided ? 3 : 1,
    seed: 1,
    candidateIndex,
    processors: { temperature: 1, topK: 0, topP: 1 },
  };
}
