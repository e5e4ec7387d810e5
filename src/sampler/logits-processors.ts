/**
 * Logits processors: small functions with one signature, composed into a chain built
 * from the sampling settings and ending in a sampler (after transformers.js's
 * LogitsProcessorList and llama.cpp's sampler chain). Each works in place on one row of
 * image-token logits in float64 and marks removed tokens with -Infinity (this is plain
 * JS arithmetic, not an ONNX graph, so -Infinity is safe here).
 *
 * Ties are always broken towards the lower token index, so the chain is a pure function
 * of its input; scripts/train/reference_sampler.py follows the same rules.
 */
import { fastExp } from './exp.js';
import { kthLargest, sampleTopK } from './top-k.js';

export { kthLargest, sampleTopK };

export type LogitsProcessor = (logits: Float64Array, context: ProcessorContext) => void;

/** Where a row of logits is in the batch: position-aware processors (image prompts, edits) read it. */
export interface ProcessorContext {
  /** Index of the sequence in its batch. */
  sequence: number;
  /** Image position being sampled (0 .. imageTokens-1). */
  position: number;
}

/** Mixes conditional and unconditional logits: u + scale * (c - u) (Ho & Salimans 2022). */
export function applyGuidance(conditional: Float32Array, unconditional: Float32Array | null, scale: number, out: Float64Array): void {
  if (unconditional === null || scale === 1) {
    for (let i = 0; i < out.length; i++) out[i] = conditional[i];
    return;
  }
  for (let i = 0; i < out.length; i++) {
    const u = unconditional[i];
    out[i] = u + scale * (conditional[i] - u);
  }
}

/** Index of the largest value; ties go to the lower index. */
export function argmax(values: Float64Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Temperature 1 is a no-op; temperature 0 is greedy (only the argmax survives). */
export function temperature(value: number): LogitsProcessor | null {
  if (value === 1) return null;
  if (value === 0) {
    return (logits) => {
      const best = argmax(logits);
      for (let i = 0; i < logits.length; i++) if (i !== best) logits[i] = -Infinity;
    };
  }
  const inverse = 1 / value;
  return (logits) => {
    for (let i = 0; i < logits.length; i++) logits[i] *= inverse;
  };
}

/** The k of each processor topK made: processAndSample draws from its kept tokens directly (sampleTopK). */
const TOP_K = new WeakMap<LogitsProcessor, number>();

/** Keeps the k largest logits. k <= 0 or k >= vocabulary size is a no-op. */
export function topK(k: number): LogitsProcessor | null {
  if (k <= 0) return null;
  let scratch = new Float64Array(0);
  const processor: LogitsProcessor = (logits) => {
    if (k >= logits.length) return;
    if (scratch.length < logits.length) scratch = new Float64Array(logits.length);
    const threshold = kthLargest(logits, k, scratch);
    let above = 0;
    for (let i = 0; i < logits.length; i++) if (logits[i] > threshold) above++;
    let equalAllowed = k - above; // ties at the threshold: lower indices first
    for (let i = 0; i < logits.length; i++) {
      const v = logits[i];
      if (v > threshold) continue;
      if (v === threshold && equalAllowed > 0) {
        equalAllowed--;
        continue;
      }
      logits[i] = -Infinity;
    }
  };
  TOP_K.set(processor, k);
  return processor;
}

/** Softmax weights exp(l - max) (fastExp: exp.ts), unnormalised, with -Infinity mapping to 0. */
export function softmaxWeights(logits: Float64Array, out: Float64Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const w = logits[i] === -Infinity ? 0 : fastExp(logits[i] - max);
    out[i] = w;
    total += w;
  }
  return total;
}

/**
 * Nucleus sampling (Holtzman et al. 2020): keeps the smallest set of most likely tokens
 * whose probability mass reaches p. p >= 1 is a no-op; the most likely token always stays.
 */
export function topP(p: number): LogitsProcessor | null {
  if (p >= 1) return null;
  return (logits) => {
    const weights = new Float64Array(logits.length);
    const total = softmaxWeights(logits, weights);
    const order = Array.from({ length: logits.length }, (_, i) => i);
    order.sort((a, b) => weights[b] - weights[a] || a - b);
    const keep = new Uint8Array(logits.length);
    let mass = 0;
    for (const i of order) {
      keep[i] = 1;
      mass += weights[i] / total;
      if (mass >= p) break;
    }
    for (let i = 0; i < logits.length; i++) if (keep[i] === 0) logits[i] = -Infinity;
  };
}

export interface ProcessorSettings {
  temperature: number;
  topK: number;
  topP: number;
}

/** The processor chain for a set of settings, in the order temperature, top-k, top-p. */
export function buildProcessors(settings: ProcessorSettings): LogitsProcessor[] {
  return [temperature(settings.temperature), topK(settings.topK), topP(settings.topP)].filter(
    (p): p is LogitsProcessor => p !== null,
  );
}

/**
 * The end of the chain: an inverse-CDF draw. `u` in [0, 1) picks the first token whose
 * cumulative weight exceeds u * total, walking in index order.
 */
export function sampleIndex(logits: Float64Array, u: number, scratch: Float64Array = new Float64Array(logits.length)): number {
  const total = softmaxWeights(logits, scratch);
  const target = u * total;
  let cumulative = 0;
  let lastPositive = 0;
  for (let i = 0; i < scratch.length; i++) {
    const w = scratch[i];
    if (w > 0) lastPositive = i;
    cumulative += w;
    if (cumulative > target) return i;
  }
  return lastPositive; // only reachable through rounding when u is within an ulp of 1
}

/**
 * Runs the chain on a row (in place) and draws one token. A chain ending in top-k draws
 * from the k kept tokens directly (sampleTopK): the same token as masking the rest to
 * -Infinity and walking the whole row, in two passes over it instead of six.
 */
export function processAndSample(
  logits: Float64Array,
  processors: readonly LogitsProcessor[],
  u: number,
  context: ProcessorContext,
  scratch?: Float64Array,
): number {
  const last = processors.length - 1;
  const k = last >= 0 ? TOP_K.get(processors[last]) : undefined;
  for (let i = 0; i < (k === undefined ? processors.length : last); i++) processors[i](logits, context);
  return k === undefined ? sampleIndex(logits, u, scratch) : sampleTopK(logits, k, u, scratch ?? new Float64Array(logits.length));
}
