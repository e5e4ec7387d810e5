/**
 * Janus behind the generator seam against an independent reference: the tokens of
 * deepseek-ai/Janus generation_inference.py's loop written again in PyTorch over the same
 * random weights (scripts/janus/make_tiny_janus.py -> test/fixtures/tiny-janus-reference.json).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { SequenceSpec } from '../../src/sampler/sequence.js';
import { TINY_JANUS, TINY_JANUS_REFERENCE } from '../helpers/janus.js';

interface JanusCase {
  name: string;
  prompt: string;
  seed: number;
  indices: number[];
  temperature: number;
  topK: number;
  topP: number;
  guidanceScale: number;
  ids: number[];
  codes: number[][];
}
const reference = JSON.parse(readFileSync(TINY_JANUS_REFERENCE, 'utf8')) as { cases: JanusCase[] };
const caseNamed = (name: string): JanusCase => reference.cases.find((c) => c.name === name)!;

let tessera: Tessera;
beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_JANUS, rerank: false });
});

function sequencesOf(c: JanusCase, indices = c.indices): SequenceSpec[] {
  const prepared = tessera.prepare({ prompt: c.prompt, seed: c.seed, candidateIndices: indices, temperature: c.temperature, topK: c.topK, topP: c.topP, guidanceScale: c.guidanceScale, rerank: false });
  return prepared.sequences;
}

describe('Janus: tokens of the reference loop', () => {
  it('formats the prompt as the reference does (BOS, template, <begin_of_image>), right-padded', () => {
    for (const c of reference.cases) {
      const [s] = sequencesOf(c, [0]);
      const T = tessera.manifest.text.length;
      expect(s!.textIds.slice(0, c.ids.length)).toEqual(c.ids);
      expect(s!.textIds.slice(c.ids.length)).toEqual(Array(T - c.ids.length).fill(tessera.manifest.text.padId));
    }
  });

  it('builds the unconditional row as [BOS, pad..., <begin_of_image>] of the prompt length', () => {
    const c = caseNamed('guided');
    const [s] = sequencesOf(c, [0]);
    const { padId, length } = tessera.manifest.text;
    const expected = [c.ids[0]!, ...Array(c.ids.length - 2).fill(padId), c.ids.at(-1)!, ...Array(length - c.ids.length).fill(padId)];
    expect(s!.unconditionalIds).toEqual(expected);
    expect(sequencesOf(caseNamed('greedy'), [0])[0]!.unconditionalIds).toBeNull(); // guidance 1: no twin row
  });

  for (const name of ['greedy', 'greedy-guided', 'guided', 'guided-top']) {
    it(`reproduces the reference's ${name} tokens exactly`, async () => {
      const c = caseNamed(name);
      const codes = await tessera.model.sampler.generate(sequencesOf(c));
      expect(codes.map((row) => Array.from(row))).toEqual(c.codes);
    });
  }
});
