import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generationBytes, modelCost } from '../../src/footprint/flops.js';
import { parseManifest, type ModelManifest } from '../../src/model/manifest.js';
import { graphsFor } from '../../src/model/precision.js';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

/**
 * The bytes each generator says its phases move (src/generator/<architecture>/cost.ts),
 * against counts written out by hand: the weights from the initializer lists of the
 * fixtures' graphs (the exporters share equal vectors, so the lists are what the graphs
 * hold, not a textbook layer), the KV cache and activations from the manifests.
 */
const manifestOf = (dir: string): ModelManifest => parseManifest(JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')));
const F = 4; // float32
const I = 8; // int64

describe('bytes of the tiny decoder-only model (T 12, V 28 + 64, 2 layers × 2 heads × 8, 76 slots, "filled")', () => {
  const manifest = manifestOf(TINY_MODEL);
  // prefill.onnx and step.onnx hold the same 10 448 floats: token and position tables
  // (92 + 76) × 16, the vectors they share (ln1 weight and bias 16 + 16, qkv bias 48, mlp.0
  // bias 64), per layer qkv 16×48, proj 16×16, mlp 16×64 and 64×16, and the head 16×92.
  const fp32Weights = F * ((92 + 76) * 16 + (16 + 16 + 48 + 64) + 2 * (16 * 48 + 16 * 16 + 16 * 64 + 64 * 16) + 16 * 92);
  // step.int8.onnx: the same tables, vectors and head in float; each layer's four products as
  // int8 (1 byte a weight) with one float scale per output column.
  // ... plus the two int64[4] Reshape targets of the keys-first score product (scripts/perf/attention_rewrite.py).
  const int8StepWeights = F * ((92 + 76) * 16 + (16 + 16 + 48 + 64) + 16 * 92) + 2 * (16 * 48 + 16 * 16 + 16 * 64 + 64 * 16) + F * 2 * (48 + 16 + 64 + 16) + 2 * 4 * 8;
  const P = 2; // a prompt and its unconditional twin
  const R = 16; // 8 candidates, guided
  const entry = 2 * 2 * 16 * F; // one slot's key and value in both layers
  // Step k (1..63) feeds stream position 12 + k - 1 over the slots laid out for 12 + k,
  // rounded up to 16: 4 steps at 16, 16 at 32, 16 at 48, 16 at 64, 11 at 76 (the cap).
  const slots = 4 * 16 + 16 * 32 + 16 * 48 + 16 * 64 + 11 * 76;

  it('counts prefill and decode from the graphs and the slot layout', () => {
    const b = generationBytes(modelCost(TINY_MODEL, manifest), { candidates: 8, guidance: true, rerank: false });
    expect(b.prefill).toEqual({
      weights: fp32Weights,
      kvRead: 0,
      kvWritten: P * 12 * entry, // present keys/values of the 12 text positions
      activations: P * 12 * I + P * 92 * F, // input_ids in, the last position's logits out
      total: fp32Weights + P * 12 * entry + P * 12 * I + P * 92 * F,
    });
    expect(b.decode.weights).toBe(63 * fp32Weights);
    expect(b.decode.kvRead).toBe(R * entry * slots);
    expect(b.decode.kvWritten).toBe(63 * R * entry);
    expect(b.decode.activations).toBe(R * (63 * (2 * I + 92 * F) + slots * F)); // ids, positions, logits; the mask over the slots
    expect(b.decode.total).toBe(b.decode.weights + b.decode.kvRead + b.decode.kvWritten + b.decode.activations);
    expect(b.total).toBe(b.prefill.total + b.decode.total);
  });

  it('the int8 variant reads its int8 weights: fewer bytes than fp32, the cache and activations the same', () => {
    const fp32 = generationBytes(modelCost(TINY_MODEL, manifest), { candidates: 8, guidance: true, rerank: false });
    const int8 = generationBytes(modelCost(TINY_MODEL, manifest, graphsFor(manifest, 'int8')), { candidates: 8, guidance: true, rerank: false });
    expect(int8.decode.weights).toBe(63 * int8StepWeights);
    expect(int8StepWeights).toBeLessThan(fp32Weights);
    expect(int8.prefill.weights).toBeLessThan(fp32.prefill.weights);
    expect({ ...int8.decode, weights: 0, total: 0 }).toEqual({ ...fp32.decode, weights: 0, total: 0 });
  });

  it('scales the cache and activations with rows, the weights with calls', () => {
    const cost = modelCost(TINY_MODEL, manifest);
    const one = generationBytes(cost, { candidates: 1, guidance: false, rerank: false });
    const many = generationBytes(cost, { candidates: 4, guidance: false, rerank: false });
    expect(many.decode.weights).toBe(one.decode.weights);
    expect(many.decode.kvRead).toBe(4 * one.decode.kvRead);
    expect(many.decode.activations).toBe(4 * one.decode.activations);
  });
});

describe('bytes of the min-dalle fixture (encoder-decoder: T 64, width 16, 2 layers × 4 heads × 4, 256 slots, "filled")', () => {
  const PACKAGE = path.join(ROOT, 'test/fixtures/min-dalle/package');
  const manifest = manifestOf(PACKAGE);
  const E = 16;
  const G = 40; // GLU width
  // text/encoder.onnx: tables (325 + 64) × 16; per layer the vectors 16, 16, 16, 16, 40 and
  // q, k, v, out 16×16 with the GLU's 16×40, 16×40, 40×16; three final vectors of 16.
  const encoder = F * ((325 + 64) * E + 2 * (4 * E + G) + 3 * E + 2 * (4 * E * E + 3 * E * G));
  const cross = F * 4 * E * E; // prefill.onnx: the cross k and v projections of both layers
  // step.onnx: tables (16385 + 256) × 16; per layer eight vectors (7 × 16 + 40), the self
  // q, k, v, out and the cross q, out 16×16, the GLU; three final vectors; the head 16×16385.
  const step = F * ((16385 + 256) * E + 2 * (7 * E + G) + 3 * E + 2 * (6 * E * E + 3 * E * G) + E * 16385);
  const P = 2;
  const R = 8; // 4 candidates, guided
  const entry = 2 * 2 * E * F; // one slot's key and value in both layers (4 heads × 4)
  // Decoder position p (0..255) runs over slots p + 1 rounded up to 16: 16 positions at each of 16, 32, …, 256.
  const slots = 16 * 16 * ((16 * 17) / 2);

  it('counts the encoder and cross graphs in prefill, every step (the start token included) in decode', () => {
    const b = generationBytes(modelCost(PACKAGE, manifest), { candidates: 4, guidance: true, rerank: false });
    expect(b.prefill.weights).toBe(encoder + cross);
    expect(b.prefill.kvRead).toBe(0);
    expect(b.prefill.kvWritten).toBe(P * 64 * entry); // cross keys/values of every text position
    expect(b.prefill.activations).toBe(P * 64 * I + 2 * P * 64 * E * F); // ids in; encoder states out and into the cross graph
    expect(b.decode.weights).toBe(256 * step);
    expect(b.decode.kvRead).toBe(R * entry * (slots + 256 * 64)); // self slots and the 64 cross entries, every step
    expect(b.decode.kvWritten).toBe(256 * R * entry);
    expect(b.decode.activations).toBe(R * (256 * (2 * I + 64 * F + 16384 * F) + slots * F)); // ids, positions, text mask, logits; the mask
  });

  it('the int8 step reads fewer weight bytes than fp32', () => {
    const fp32 = generationBytes(modelCost(PACKAGE, manifest), { candidates: 4, guidance: true, rerank: false });
    const int8 = generationBytes(modelCost(PACKAGE, manifest, graphsFor(manifest, 'int8')), { candidates: 4, guidance: true, rerank: false });
    expect(int8.decode.weights).toBeLessThan(fp32.decode.weights);
    expect(int8.decode.kvRead).toBe(fp32.decode.kvRead);
  });
});
