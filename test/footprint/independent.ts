import type { ModelManifest } from '../../src/model/manifest.js';

/**
 * An independent count of the generator's FLOPs, written from the manifest's shapes
 * alone (not from the ONNX graphs that src/footprint/flops.ts walks): layers, heads,
 * head width, vocabularies, lengths and the GPT convention of a 4× MLP.
 */
/** Multiply-adds of one transformer layer per token: qkv, output projection, MLP in and out. */
export function layerMatmuls(width: number, mlp: number): [number, number][] {
  return [
    [width, 3 * width],
    [width, width],
    [width, mlp],
    [mlp, width],
  ];
}

export const macs = (shapes: [number, number][]): number => shapes.reduce((s, [k, n]) => s + k * n, 0);

export function independentGenerator(m: ModelManifest, candidates: number, guided: boolean): { prefill: number; decode: number } {
  const W = m.generator.heads * m.generator.headDim;
  const L = m.generator.layers;
  const V = m.text.vocabSize + m.image.vocabSize;
  const T = m.text.length;
  const S = m.generator.maxLength;
  const perToken = L * macs(layerMatmuls(W, 4 * W));
  const head = W * V;
  const prefillRow = T * perToken + L * (T * T * W + T * T * W) + head; // q·kᵀ and p·v over the T×T square
  // A step attends over the slots the cache lays out: all S, or with the manifest's
  // generator.cache.slots = 'filled' (docs/model-package.md) the slots written so far
  // plus the new one, rounded up to a multiple of 16 (at least 16, at most S).
  const filled = m.generator.cache?.slots === 'filled';
  const rows = guided ? 2 : 1;
  const steps = m.image.grid.height * m.image.grid.width - 1;
  let decode = 0;
  for (let k = 1; k <= steps; k++) {
    const slots = filled ? Math.min(S, Math.max(16, 16 * Math.ceil((T + k) / 16))) : S;
    decode += 2 * candidates * rows * (perToken + L * (2 * (slots + 1) * W) + head);
  }
  return { prefill: 2 * rows * prefillRow, decode };
}

