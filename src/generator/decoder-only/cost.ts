/**
 * The decoder-only generator's arithmetic (the tiny GPT, DALL·E 2021's layout): one graph
 * runs the text prefix, one the image steps, over the KV slots the cache lays out.
 */
import type { ModelManifest } from '../../model/manifest.js';
import { transformerCost, type TransformerCost } from '../../model/graph-cost.js';
import type { OnnxGraph } from '../../model/onnx-graph.js';
import type { GeneratorCost, GeneratorFlops, GeneratorWork } from '../generator.js';
import { costShapeOf, type CostShape } from '../cost-shape.js';
import { slotsLaidOut } from '../kv-slots.js';

export class DecoderOnlyCost implements GeneratorCost {
  readonly prefill: TransformerCost;
  readonly step: TransformerCost;
  readonly shape: CostShape;

  constructor(manifest: ModelManifest, graph: (relative: string) => OnnxGraph) {
    this.prefill = transformerCost(graph(manifest.generator.prefill));
    this.step = transformerCost(graph(manifest.generator.step));
    this.shape = costShapeOf(manifest);
  }

  flops(work: GeneratorWork): GeneratorFlops {
    const { textLength: T, attentionWidth: hd, maxLength, imageTokens, cache } = this.shape;
    // Prefill: every text token through the weights, the full T×T score square (masked
    // afterwards), and the head only at the last text position ([P, V] logits).
    const prefillMacs = work.prefillRows * (T * this.prefill.macsPerToken + this.prefill.attentionProducts * T * T * hd + this.prefill.headMacs);
    // Image token 0 comes from the prefill's logits; each later one is one step over the
    // slots laid out (all S, or the filled ones rounded up: KvSlots) plus the row's own
    // new key. Step k feeds image code k - 1 at stream position T + k - 1.
    let decodeMacs = 0;
    for (let k = 1; k < imageTokens; k++) {
      const slots = slotsLaidOut(cache, maxLength, T + k);
      decodeMacs += work.stepRows * (this.step.macsPerToken + this.step.attentionProducts * (slots + 1) * hd + this.step.headMacs);
    }
    return { prefill: 2 * prefillMacs, decode: 2 * decodeMacs };
  }
}
