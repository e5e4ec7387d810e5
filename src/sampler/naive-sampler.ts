import type { ModelManifest } from '../model/manifest.js';
import { ort } from '../model/runtime.js';
import { applyGuidance, buildProcessors, processAndSample } from './logits-processors.js';
import { CandidateStream } from './rng.js';
import type { SequenceSpec } from './sampler.js';

/**
 * The sampler without a KV cache: every step reruns the whole sequence so far through
 * the prefill graph (whose text axis is dynamic) and keeps only the last logits. It
 * exists as the benchmark's baseline and as a cross-check: with the same streams it
 * must draw exactly the tokens of BatchSampler.
 */
export class NaiveSampler {
  constructor(
    private readonly manifest: ModelManifest,
    private readonly prefillSession: ort.InferenceSession,
  ) {}

  async generate(sequences: readonly SequenceSpec[]): Promise<Int32Array[]> {
    const textVocab = this.manifest.text.vocabSize;
    const imageVocab = this.manifest.image.vocabSize;
    const vocab = textVocab + imageVocab;
    const tokens = this.manifest.image.grid.height * this.manifest.image.grid.width;
    const textLength = this.manifest.text.length;
    // Rows: every conditional text, then the unconditional twins of guided sequences.
    const rows: { sequence: number; text: readonly number[] }[] = sequences.map((s, i) => ({ sequence: i, text: s.textIds }));
    const twinRow = sequences.map((s, i) => (s.unconditionalIds !== null && s.guidanceScale !== 1 ? rows.push({ sequence: i, text: s.unconditionalIds }) - 1 : -1));
    const streams = sequences.map((s) => new CandidateStream(s.seed, s.candidateIndex));
    const chains = sequences.map((s) => buildProcessors(s.processors));
    const codes = sequences.map(() => new Int32Array(tokens));
    const mixed = new Float64Array(imageVocab);
    for (let j = 0; j < tokens; j++) {
      const length = textLength + j;
      const ids = new BigInt64Array(rows.length * length); // [rows, length]
      rows.forEach((row, r) => {
        row.text.forEach((id, t) => (ids[r * length + t] = BigInt(id)));
        for (let k = 0; k < j; k++) ids[r * length + textLength + k] = BigInt(textVocab + codes[row.sequence][k]);
      });
      const out = await this.prefillSession.run({ input_ids: new ort.Tensor('int64', ids, [rows.length, length]) });
      const logits = out.logits.data as Float32Array; // [rows, vocab]
      sequences.forEach((s, i) => {
        const conditional = logits.subarray(i * vocab + textVocab, (i + 1) * vocab);
        const twin = twinRow[i];
        const unconditional = twin < 0 ? null : logits.subarray(twin * vocab + textVocab, (twin + 1) * vocab);
        applyGuidance(conditional, unconditional, s.guidanceScale, mixed);
        codes[i][j] = processAndSample(mixed, chains[i], streams[i].uniform());
      });
    }
    return codes;
  }
}
