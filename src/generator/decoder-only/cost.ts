/**
 * The decoder-only generator's costs (the tiny GPT, DALL·E 2021's layout): one graph
 * runs the text prefix, one the image steps, over the KV slots the cache lays out.
 * FLOPs count its products; bytes what its graph calls move.
 */
import type { ModelManifest } from '../../model/manifest.js';
import { transformerCost, weightBytes, type TransformerCost } from '../../model/graph-cost.js';
import type { OnnxGraph } from '../../model/onnx-graph.js';
import type { GeneratorBytes, GeneratorCost, GeneratorFlops, GeneratorGraphs, GeneratorWork } from '../generator.js';
import { costShapeOf, FLOAT_BYTES, ID_BYTES, kvEntryBytes, phaseBytes, stepSlots, type CostShape } from '../cost-shape.js';

export class DecoderOnlyCost implements GeneratorCost {
  readonly prefill: TransformerCost;
  readonly step: TransformerCost;
  readonly shape: CostShape;
  /** Bytes of the prefill and step graphs' weights as they run (an int8 variant's at their int8 size). */
  readonly weightBytes: { prefill: number; step: number };
  /** Logits per row: the combined text + image vocabulary. */
  private readonly vocab: number;

  constructor(manifest: ModelManifest, graph: (relative: string) => OnnxGraph, graphs: GeneratorGraphs = manifest.generator) {
    this.prefill = transformerCost(graph(manifest.generator.prefill));
    this.step = transformerCost(graph(manifest.generator.step));
    this.shape = costShapeOf(manifest);
    this.weightBytes = { prefill: weightBytes(graph(graphs.prefill)), step: weightBytes(graph(graphs.step)) };
    this.vocab = manifest.text.vocabSize + manifest.image.vocabSize;
  }

  flops(work: GeneratorWork): GeneratorFlops {
    const { textLength: T, attentionWidth: hd, imageTokens } = this.shape;
    // Prefill: every text token through the weights, the full T×T score square (masked
    // afterwards), and the head only at the last text position ([P, V] logits).
    const prefillMacs = work.prefillRows * (T * this.prefill.macsPerToken + this.prefill.attentionProducts * T * T * hd + this.prefill.headMacs);
    // Image token 0 comes from the prefill's logits; each later one is one step over the
    // slots laid out (all S, or the filled ones rounded up: KvSlots) plus the row's own
    // new key. Step k feeds image code k - 1 at stream position T + k - 1. Each row's query
    // meets the text's T keys either way: in its slots, or fed once per text (then the graph
    // has twice the attention products, half of them over the text).
    let decodeMacs = 0;
    const products = this.textPrefixes ? this.step.attentionProducts / 2 : this.step.attentionProducts;
    for (let k = 1; k < imageTokens; k++) {
      const slots = this.textPrefixes ? T + this.imageSlots(k) : stepSlots(this.shape, T + k);
      decodeMacs += work.stepRows * (this.step.macsPerToken + products * (slots + 1) * hd + this.step.headMacs);
    }
    return { prefill: 2 * prefillMacs, decode: 2 * decodeMacs };
  }

  /** The text fed once per text beside per-row image slots (manifest generator.cache.text = 'prefixes'). */
  private get textPrefixes(): boolean {
    return this.shape.cache.text === 'prefixes';
  }

  /** Image slots a text-prefixed cache lays out for step k (image position k - 1 in slot k - 1, of maxLength - T). */
  private imageSlots(k: number): number {
    return stepSlots(this.shape, k, this.shape.maxLength - this.shape.textLength);
  }

  /**
   * One prefill call over the distinct texts (ids [P, T] in; logits [P, V] and the text's
   * keys/values [L, P, H, T, D] out), then one step call per image position after the
   * first over all rows: its weights, the keys/values of the slots laid out and the mask
   * in, ids and positions [R, 1] in, the new entries [L, R, H, 1, D] and logits [R, V] out.
   * With the text fed once per text, each step reads the text's keys/values and mask once
   * per distinct text (P, grouped feeds) and only the image slots per row.
   */
  bytes(work: GeneratorWork): GeneratorBytes {
    const { textLength: T, imageTokens } = this.shape;
    const P = work.prefillRows;
    const R = work.stepRows;
    const prefill = phaseBytes(this.weightBytes.prefill, 0, P * kvEntryBytes(this.shape, T), P * T * ID_BYTES + P * this.vocab * FLOAT_BYTES);
    let kvRead = 0;
    let activations = 0;
    for (let k = 1; k < imageTokens; k++) {
      if (this.textPrefixes) {
        const slots = this.imageSlots(k);
        kvRead += R * kvEntryBytes(this.shape, slots) + P * kvEntryBytes(this.shape, T);
        activations += R * (2 * ID_BYTES + slots * FLOAT_BYTES + this.vocab * FLOAT_BYTES) + P * T * FLOAT_BYTES;
        continue;
      }
      const slots = stepSlots(this.shape, T + k);
      kvRead += R * kvEntryBytes(this.shape, slots);
      activations += R * (2 * ID_BYTES + slots * FLOAT_BYTES + this.vocab * FLOAT_BYTES);
    }
    const steps = imageTokens - 1;
    const decode = phaseBytes(steps * this.weightBytes.step, kvRead, steps * R * kvEntryBytes(this.shape, 1), activations);
    return { prefill, decode };
  }
}
