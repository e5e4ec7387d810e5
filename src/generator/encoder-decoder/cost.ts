/**
 * The encoder-decoder generator's costs (DALL·E Mini/Mega): a text encoder, a graph that
 * turns its states into cross keys/values once, and the image steps, whose attention runs
 * half over the self-attention slots and half over the text. FLOPs count its products;
 * bytes what its graph calls move.
 */
import type { ModelManifest } from '../../model/manifest.js';
import { transformerCost, weightBytes, type TransformerCost } from '../../model/graph-cost.js';
import type { OnnxGraph } from '../../model/onnx-graph.js';
import type { GeneratorBytes, GeneratorCost, GeneratorFlops, GeneratorGraphs, GeneratorWork } from '../generator.js';
import { costShapeOf, FLOAT_BYTES, ID_BYTES, kvEntryBytes, phaseBytes, stepSlots, type CostShape } from '../cost-shape.js';

export class EncoderDecoderCost implements GeneratorCost {
  readonly textEncoder: TransformerCost;
  /** The cross keys/values graph: weights only, no head. */
  readonly prefill: TransformerCost;
  readonly step: TransformerCost;
  readonly shape: CostShape;
  /** Bytes of the graphs' weights as they run: the text encoder (no variant has one), the cross graph and the step graph. */
  readonly weightBytes: { textEncoder: number; prefill: number; step: number };
  /** Width of the text encoder's states ([P, T, width]). */
  private readonly encoderWidth: number;
  /** Logits per row: the image vocabulary. */
  private readonly vocab: number;
  /** The step reads cross keys/values once per text, not per row (manifest encoderDecoder.cross). */
  private readonly crossPerPrefix: boolean;

  constructor(manifest: ModelManifest, graph: (relative: string) => OnnxGraph, graphs: GeneratorGraphs = manifest.generator) {
    const textEncoder = graph(manifest.encoderDecoder!.textEncoder);
    this.textEncoder = transformerCost(textEncoder, { head: false });
    this.prefill = transformerCost(graph(manifest.generator.prefill), { head: false });
    this.step = transformerCost(graph(manifest.generator.step));
    this.shape = costShapeOf(manifest);
    this.weightBytes = { textEncoder: weightBytes(textEncoder), prefill: weightBytes(graph(graphs.prefill)), step: weightBytes(graph(graphs.step)) };
    this.encoderWidth = manifest.encoderDecoder!.width;
    this.vocab = manifest.image.vocabSize;
    this.crossPerPrefix = manifest.encoderDecoder!.cross === 'prefixes';
  }

  flops(work: GeneratorWork): GeneratorFlops {
    const { textLength: T, attentionWidth: hd, imageTokens } = this.shape;
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
      const slots = stepSlots(this.shape, p + 1);
      decodeMacs += work.stepRows * (this.step.macsPerToken + half * (slots + 1) * hd + half * T * hd + this.step.headMacs);
    }
    return { prefill: 2 * prefillMacs, decode: 2 * decodeMacs };
  }

  /**
   * Prefill: the text encoder (ids [P, T] in, states [P, T, width] out) and the cross
   * graph (the states in, cross keys/values [L, P, H, T, D] out), one call each. Decode,
   * one step call per decoder position as the FLOP count has it (the start token's
   * included): its weights, the self-attention slots laid out and the row's cross
   * keys/values in (once per text with encoderDecoder.cross = 'prefixes': a request's rows
   * form one group per text), ids, positions, mask and text mask in, new entries and logits [R, V] out.
   */
  bytes(work: GeneratorWork): GeneratorBytes {
    const { textLength: T, imageTokens } = this.shape;
    const P = work.prefillRows;
    const R = work.stepRows;
    const states = P * T * this.encoderWidth * FLOAT_BYTES;
    const prefill = phaseBytes(this.weightBytes.textEncoder + this.weightBytes.prefill, 0, P * kvEntryBytes(this.shape, T), P * T * ID_BYTES + 2 * states);
    const crossRows = this.crossPerPrefix ? Math.min(P, R) : R;
    let kvRead = 0;
    let activations = 0;
    for (let p = 0; p < imageTokens; p++) {
      const slots = stepSlots(this.shape, p + 1);
      kvRead += R * kvEntryBytes(this.shape, slots) + crossRows * kvEntryBytes(this.shape, T);
      activations += R * (2 * ID_BYTES + (slots + T) * FLOAT_BYTES + this.vocab * FLOAT_BYTES);
    }
    const decode = phaseBytes(imageTokens * this.weightBytes.step, kvRead, imageTokens * R * kvEntryBytes(this.shape, 1), activations);
    return { prefill, decode };
  }
}
