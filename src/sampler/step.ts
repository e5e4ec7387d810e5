/** What every sampler (batch, continuous, naive) shares per image position: the step inputs and the per-sequence draw. */
import { FREE } from './conditioning.js';
import { applyGuidance, processAndSample, type LogitsProcessor, type ProcessorContext } from './logits-processors.js';
import type { CandidateStream } from './rng.js';
import type { BatchState, SequenceSpec } from './sequence.js';

/**
 * The generator inputs of one step for groups of sequences laid out contiguously in one
 * cache (a group's rows start at `offset`): each row is fed the code its sequence sampled
 * last, at that code's image position. Guided twins are fed the same code as their row.
 */
export function stepInputs(groups: readonly { state: BatchState; offset: number }[], rows: number): { codes: Int32Array; positions: Int32Array } {
  const codes = new Int32Array(rows); // [R]
  const positions = new Int32Array(rows); // [R]
  for (const { state, offset } of groups) {
    const fed = state.tokensDone - 1;
    positions.fill(fed, offset, offset + state.rows);
    state.sequences.forEach((_, i) => {
      const code = state.codes[i][fed];
      codes[offset + state.conditionalRow[i]] = code;
      if (state.unconditionalRow[i] >= 0) codes[offset + state.unconditionalRow[i]] = code;
    });
  }
  return { codes, positions };
}

/**
 * One image position of one sequence: draws its uniform (always, forced or not: the RNG
 * rule of conditioning.ts), then returns the forced code or mixes guidance, runs the
 * processor chain and samples. Logits are fetched lazily, so forced positions cost nothing.
 */
export function drawToken(
  sequence: SequenceSpec,
  stream: CandidateStream,
  chain: readonly LogitsProcessor[],
  context: ProcessorContext,
  conditional: () => Float32Array,
  unconditional: (() => Float32Array) | null,
  mixed: Float64Array,
  scratch?: Float64Array,
): number {
  const u = stream.uniform();
  const forced = sequence.forced?.[context.position] ?? FREE;
  if (forced !== FREE) return forced;
  applyGuidance(conditional(), unconditional === null ? null : unconditional(), sequence.guidanceScale, mixed);
  return processAndSample(mixed, chain, u, context, scratch);
}
