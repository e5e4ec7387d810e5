/**
 * The Janus generator's costs: the language model (no head of its own) on every token,
 * gen_head once per row and step, gen_img_embeds once per row and step; the text
 * embeddings are a lookup. The cache is the plain, filled KvSlots layout (JANUS_CACHE);
 * the language model reads the slots laid out and writes them all back grown by one
 * (`present`: onnxruntime copies the whole output), which the bytes count.
 */
import type { ModelManifest } from '../../model/manifest.js';
import { transformerCost, weightBytes, type TransformerCost } from '../../model/graph-cost.js';
import type { OnnxGraph } from '../../model/onnx-graph.js';
import type { GeneratorBytes, GeneratorCost, GeneratorFlops, GeneratorGraphs, GeneratorWork } from '../generator.js';
import { costShapeOf, FLOAT_BYTES, ID_BYTES, kvEntryBytes, phaseBytes, stepSlots, type CostShape } from '../cost-shape.js';
import { JANUS_CACHE } from './generator.js';

/** Multiply-adds of every weight product in a graph (a head or an embedding MLP: all of it runs per row). */
function allMacs(cost: TransformerCost): number {
  return cost.macsPerToken + cost.headMacs;
}

export class JanusCost implements GeneratorCost {
  readonly languageModel: TransformerCost;
  readonly shape: CostShape;
  private readonly headMacs: number;
  private readonly embedMacs: number;
  private readonly weights: { languageModel: number; head: number; embed: number };
  private readonly vocab: number;
  private readonly hidden: number;

  constructor(manifest: ModelManifest, graph: (relative: string) => OnnxGraph, graphs: GeneratorGraphs = manifest.generator) {
    const janus = manifest.janus!;
    this.languageModel = transformerCost(graph(manifest.generator.step), { head: false });
    this.headMacs = allMacs(transformerCost(graph(janus.genHead)));
    this.embedMacs = allMacs(transformerCost(graph(janus.genImgEmbeds)));
    this.shape = { ...costShapeOf(manifest), cache: JANUS_CACHE };
    this.weights = { languageModel: weightBytes(graph(graphs.step)), head: weightBytes(graph(janus.genHead)), embed: weightBytes(graph(janus.genImgEmbeds)) };
    this.vocab = manifest.image.vocabSize;
    this.hidden = janus.hiddenSize;
  }

  flops(work: GeneratorWork): GeneratorFlops {
    const { textLength: T, attentionWidth: hd, imageTokens } = this.shape;
    const lm = this.languageModel;
    // Prefill (counted at the full text length T, an upper bound: a prompt runs at its own length).
    const prefillMacs = work.prefillRows * (T * lm.macsPerToken + lm.attentionProducts * T * T * hd + this.headMacs);
    let decodeMacs = 0;
    for (let k = 1; k < imageTokens; k++) {
      const slots = stepSlots(this.shape, T + k);
      decodeMacs += work.stepRows * (lm.macsPerToken + lm.attentionProducts * (slots + 1) * hd + this.headMacs + this.embedMacs);
    }
    return { prefill: 2 * prefillMacs, decode: 2 * decodeMacs };
  }

  bytes(work: GeneratorWork): GeneratorBytes {
    const { textLength: T, imageTokens } = this.shape;
    const P = work.prefillRows;
    const R = work.stepRows;
    const { languageModel, head, embed } = this.weights;
    const prefill = phaseBytes(languageModel + head, 0, P * kvEntryBytes(this.shape, T), P * T * (ID_BYTES + this.hidden * FLOAT_BYTES) + P * this.vocab * FLOAT_BYTES);
    let kvRead = 0;
    let kvWritten = 0;
    let activations = 0;
    for (let k = 1; k < imageTokens; k++) {
      const slots = stepSlots(this.shape, T + k);
      kvRead += R * kvEntryBytes(this.shape, slots);
      kvWritten += R * kvEntryBytes(this.shape, slots + 1);
      activations += R * (2 * ID_BYTES + (slots + 1) * ID_BYTES + 2 * this.hidden * FLOAT_BYTES + this.vocab * FLOAT_BYTES);
    }
    const steps = imageTokens - 1;
    return { prefill, decode: phaseBytes(steps * (languageModel + head + embed), kvRead, kvWritten, activations) };
  }
}
