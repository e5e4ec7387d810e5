import { TesseraError } from '../errors.js';
import { logitsRow, type ImageTokenGenerator } from '../generator/generator.js';
import { buildProcessors } from './logits-processors.js';
import { CandidateStream } from './rng.js';
import { isGuided, type SequenceSpec } from './sampler.js';
import { drawToken } from './step.js';

/**
 * The sampler without a KV cache: every step reruns the whole sequence so far through
 * the generator's cache-free path (`forwardFull`) and keeps only the last logits. It
 * exists as the benchmark's baseline and as a cross-check: with the same streams it
 * must draw exactly the tokens of BatchSampler.
 */
export class NaiveSampler {
  constructor(private readonly generator: ImageTokenGenerator) {}

  async generate(sequences: readonly SequenceSpec[]): Promise<Int32Array[]> {
    const { generator } = this;
    if (generator.forwardFull === undefined) {
      throw new TesseraError('TESSERA_ERR_INFERENCE', `the ${generator.architecture} generator has no cache-free path`);
    }
    const { imageVocab, imageTokens } = generator;
    // Rows: every conditional text, then the unconditional twins of guided sequences.
    const rows: { sequence: number; text: readonly number[] }[] = sequences.map((s, i) => ({ sequence: i, text: s.textIds }));
    const twinRow = sequences.map((s, i) => (isGuided(s) ? rows.push({ sequence: i, text: s.unconditionalIds as readonly number[] }) - 1 : -1));
    const streams = sequences.map((s) => new CandidateStream(s.seed, s.candidateIndex));
    const chains = sequences.map((s) => buildProcessors(s.processors));
    const codes = sequences.map(() => new Int32Array(imageTokens));
    const mixed = new Float64Array(imageVocab);
    for (let j = 0; j < imageTokens; j++) {
      const logits = await generator.forwardFull(
        rows.map((r) => r.text),
        rows.map((r) => codes[r.sequence].subarray(0, j)),
      ); // [rows, imageVocab] view
      sequences.forEach((s, i) => {
        const twin = twinRow[i];
        codes[i][j] = drawToken(s, streams[i], chains[i], { sequence: i, position: j }, () => logitsRow(logits, i, imageVocab), twin < 0 ? null : () => logitsRow(logits, twin, imageVocab), mixed);
      });
    }
    return codes;
  }
}
