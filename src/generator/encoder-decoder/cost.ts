/**
 * The encoder-decoder generator's arithmetic (DALL·E Mini/Mega): a text encoder, a graph
 * that turns its states into cross keys/values once, and the image steps, whose attention
 * runs half over the self-attention slots and half over the text.
 */
import type { ModelManifest } from '../../model/manifest.js';
import { transformerCost, type TransformerCost } from '../../model/graph-cost.js';
import type { OnnxGraph } from '../../model/onnx-graph.js';
import type { GeneratorCost, GeneratorFlops, GeneratorWork } from '../generator.js';
import { costShapeOf, type CostShape } from '../cost-shape.js';
import { slotsLaidOut } from '../kv-slots.js';

export class EncoderDecoderCost implements GeneratorCost {
  readonly textEncoder: TransformerCost;
  /** The cross keys/values graph: weights only, no head. */
  readonly prefill: TransformerCost;
  readonly step: TransformerCost;
  readonly shape: CostShape;

  constructor(manifest: ModelManifest, graph: (relative: string) => OnnxGraph) {
    this.textEncoder = transformerCost(graph(manifest.encoderDecoder!.textEncoder), { head: false });
    this.prefill = transformerCost(graph(manifest.generator.prefill), { head: false });
    this.step = transformerCost(graph(manifest.generator.step));
    this.shape = costShapeOf(manifest);
  }

  flops(work: GeneratorWork): GeneratorFlops {
    const { textLength: T, attentionWidth: hd, maxLength, imageTokens, cache } = this.shape;
    // Each distinct text through the encoder (T×T attention), then its cross keys/values once.
    const encoder = this.textEncoder;
    const prefillMacs = work.prefillRows * (T * encoder.macsPerToken + encoder.attentionProducts * T * T * hd + T * this.prefill.macsPerToken);
    // Every image token is a step from the start token, whose attention products are half
    // over the S slots (+ its own key) and half over the T text states. One run per decoder
    // position p = 0 (the start token, in prefill) .. 255 (image code p - 1 fed); the run at
    // p needs slots 0..p.
    const half = this.step.attentionProducts / 2;
    let decodeMacs = 0;
    for (let p = 0; p < imageTokens; p++) {
      const slots = slotsLaidOut(cache, maxLength, p + 1);
      decodeMacs += work.stepRows * (this.step.macsPerToken + half * (slots + 1) * hd + half * T * hd + this.step.headMacs);
    }
    return { prefill: 2 * prefillMacs, decode: 2 * decodeMacs };
  }
}
