import path from 'node:path';
import { TesseraError } from '../errors.js';
import { DEFAULT_STEP_CACHE, type ModelManifest } from '../model/manifest.js';
import { slotsLaidOut } from '../generator/decoder-only/kv-slots.js';
import type { StageFlops } from '../types.js';
import { readOnnx, type OnnxGraph, type OnnxNode } from './onnx-graph.js';

/**
 * FLOPs per stage of one generation, counted from the shapes of the model's own ONNX
 * graphs (weights' initializer dims, conv attributes) and the manifest. One
 * multiply-add is 2 FLOPs. Counted: matrix products and convolutions, which are
 * nearly all the arithmetic; not counted: normalisation, activations, softmax, bias
 * adds and embedding lookups (a few per cent; docs/footprint.md).
 */

/** A transformer graph: weight products per token, its output head, its attention products. */
export interface TransformerCost {
  /** Multiply-adds of the weight products applied to every token (qkv, proj, MLP). */
  macsPerToken: number;
  /** Multiply-adds of the last weight product (logits head / text projection), applied once per row. */
  headMacs: number;
  /** Activation × activation products (2 per layer: q·kᵀ and attention × v). */
  attentionProducts: number;
}

/** A convolutional graph: multiply-adds per image at the graph's own input size. */
export interface ConvCost {
  macsPerImage: number;
}

export interface ModelCost {
  /** Encoder-decoder packages: the text encoder (prefill is then the cross keys/values graph). */
  textEncoder: TransformerCost | null;
  prefill: TransformerCost;
  step: TransformerCost;
  decoder: ConvCost;
  clipText: TransformerCost | null;
  clipVision: ConvCost | null;
  /** Heads × head width of the generator (the width q·kᵀ runs over). */
  generatorAttentionWidth: number;
  clipTextWidth: number;
  /** Tokens the CLIP text model runs over at most (its position table's rows). */
  clipTextTokens: number;
}

/**
 * Ops that multiply by a matrix: MatMulNBits is the weight-only int8 package's, MatMulInteger
 * and DynamicQuantizeMatMul the dynamic int8 variant's (scripts/perf/quantize_int8.py), whose
 * int8 weight [K, N] is their second operand like MatMul's.
 */
const PRODUCTS = new Set(['MatMul', 'Gemm', 'MatMulNBits', 'MatMulInteger', 'DynamicQuantizeMatMul']);

/** [K, N] (or [N, K]) of a product's weight; null for a product of two activations. */
function weightOf(graph: OnnxGraph, node: OnnxNode): number[] | null {
  const init = graph.initializers.get(node.inputs[1] ?? '');
  if (init === undefined) return null;
  if (node.op === 'MatMulNBits') {
    // Its weight is stored in blocks ([N, ceil(K/block), block] uint8): the attributes carry K and N.
    const k = node.attributes.K?.[0];
    const n = node.attributes.N?.[0];
    return k !== undefined && n !== undefined ? [k, n] : null;
  }
  return init.dims.length === 2 ? init.dims : null;
}

/**
 * Sums a graph's weight products: all but the last go per token, the last is the head
 * (`head: false` for graphs without one: a text encoder, the cross keys/values prefill).
 */
export function transformerCost(graph: OnnxGraph, { head = true }: { head?: boolean } = {}): TransformerCost {
  const weights: number[] = [];
  let attentionProducts = 0;
  for (const node of graph.nodes) {
    if (!PRODUCTS.has(node.op)) continue;
    const w = weightOf(graph, node);
    if (w === null) {
      if (!node.inputs.some((name) => graph.initializers.has(name))) attentionProducts += 1;
      continue;
    }
    weights.push(w[0]! * w[1]!); // K × N, whichever of them transB swaps
  }
  if (weights.length === 0) throw new TesseraError('TESSERA_ERR_MODEL_FILE', 'graph has no weight products to count');
  const headMacs = head ? weights.pop()! : 0;
  return { macsPerToken: weights.reduce((a, b) => a + b, 0), headMacs, attentionProducts };
}

/**
 * Walks a convolutional graph in node order, carrying each tensor's spatial size
 * ([height, width]) from the input: Conv shrinks or keeps it by its kernel, stride and
 * pads, DepthToSpace multiplies it by its block size, every other op keeps the size of
 * its first input that has one. Products after Flatten count once per image.
 */
export function convCost(graph: OnnxGraph, input: string, spatial: [number, number]): ConvCost {
  const sizes = new Map<string, [number, number]>([[input, spatial]]);
  // Constant values by output name: a Resize reads its scales from one.
  const constants = new Map(graph.nodes.flatMap((n) => (n.op === 'Constant' && n.floats !== undefined ? [[n.outputs[0]!, n.floats] as const] : [])));
  let macs = 0;
  for (const node of graph.nodes) {
    const from = node.inputs.map((name) => sizes.get(name)).find((s) => s !== undefined);
    let out = from;
    if (node.op === 'Conv') {
      const w = graph.initializers.get(node.inputs[1] ?? '')?.dims;
      if (w === undefined || w.length !== 4 || from === undefined) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot size conv ${node.outputs[0]}`);
      const [cout, cinPerGroup, kh, kw] = w as [number, number, number, number];
      const stride = node.attributes.strides ?? [1, 1];
      const pads = node.attributes.pads ?? [0, 0, 0, 0];
      const dil = node.attributes.dilations ?? [1, 1];
      const h = Math.floor((from[0] + pads[0]! + pads[2]! - dil[0]! * (kh - 1) - 1) / stride[0]!) + 1;
      const wd = Math.floor((from[1] + pads[1]! + pads[3]! - dil[1]! * (kw - 1) - 1) / stride[1]!) + 1;
      out = [h, wd];
      macs += cout * cinPerGroup * kh * kw * h * wd; // [cout, h, w] outputs, each cin/g·kh·kw terms
    } else if (node.op === 'DepthToSpace' && from !== undefined) {
      const block = node.attributes.blocksize?.[0] ?? 1;
      out = [from[0] * block, from[1] * block];
    } else if ((node.op === 'Resize' || node.op === 'Upsample') && from !== undefined) {
      // Resize(X, roi, scales) / Upsample(X, scales), NCHW scales from a Constant (the VQGAN's nearest ×2).
      const scales = constants.get(node.inputs[node.op === 'Resize' ? 2 : 1] ?? '');
      if (scales === undefined || scales.length !== 4) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot size ${node.op} ${node.outputs[0]}: no constant scales`);
      out = [Math.floor(from[0] * scales[2]!), Math.floor(from[1] * scales[3]!)];
    } else if (node.op === 'Flatten' || node.op === 'GlobalAveragePool') {
      out = undefined;
    } else if (PRODUCTS.has(node.op)) {
      const w = weightOf(graph, node);
      if (w !== null) macs += w[0]! * w[1]!;
      out = undefined;
    }
    if (out !== undefined) for (const name of node.outputs) sizes.set(name, out);
  }
  return { macsPerImage: macs };
}

/** Reads the model package's graphs once; the costs are then pure arithmetic per request. */
export function modelCost(modelDir: string, manifest: ModelManifest): ModelCost {
  const file = (rel: string): OnnxGraph => readOnnx(path.join(modelDir, rel));
  const { grid, size } = manifest.image;
  let clipText: TransformerCost | null = null;
  let clipVision: ConvCost | null = null;
  let clipTextWidth = 0;
  let clipTextTokens = 0;
  if (manifest.clip !== null) {
    const text = file(path.join(manifest.clip, 'onnx/text_model.onnx'));
    clipText = transformerCost(text);
    // The position table gives both the width and the longest token run (class token included).
    const positions = [...text.initializers.values()].find((t) => /pos/.test(t.name) && t.dims.length === 2);
    if (positions === undefined) throw new TesseraError('TESSERA_ERR_MODEL_FILE', 'CLIP text graph has no position table');
    [clipTextTokens, clipTextWidth] = positions.dims as [number, number];
    clipVision = convCost(file(path.join(manifest.clip, 'onnx/vision_model.onnx')), 'pixel_values', [size, size]);
  }
  const encoderDecoder = manifest.architecture === 'encoder-decoder';
  return {
    textEncoder: encoderDecoder ? transformerCost(file(manifest.encoderDecoder!.textEncoder), { head: false }) : null,
    prefill: transformerCost(file(manifest.generator.prefill), { head: !encoderDecoder }),
    step: transformerCost(file(manifest.generator.step)),
    decoder: convCost(file(manifest.decoder), 'codes', [grid.height, grid.width]),
    clipText,
    clipVision,
    generatorAttentionWidth: manifest.generator.heads * manifest.generator.headDim,
    clipTextWidth,
    clipTextTokens,
  };
}

/** What one generation ran: enough to count every graph call. */
export interface GenerationWork {
  candidates: number;
  /** Classifier-free guidance on: each candidate has an unconditional twin row. */
  guidance: boolean;
  /** Rows through the prefill graph (distinct text prefixes); defaults to 1, or 2 with guidance. */
  prefillRows?: number;
  /** Images the VQ decoder decoded for previews, on top of the final candidates. */
  previewImages?: number;
  rerank: boolean;
}

export type { StageFlops };

export function generationFlops(cost: ModelCost, manifest: ModelManifest, work: GenerationWork): StageFlops {
  const T = manifest.text.length;
  const S = manifest.generator.maxLength;
  const imageTokens = manifest.image.grid.height * manifest.image.grid.width;
  const prefillRows = work.prefillRows ?? (work.guidance ? 2 : 1);
  const stepRows = work.candidates * (work.guidance ? 2 : 1);
  const hd = cost.generatorAttentionWidth;
  const layout = manifest.generator.cache ?? DEFAULT_STEP_CACHE;
  let prefillMacs: number;
  let decodeMacs = 0;
  if (cost.textEncoder === null) {
    // Prefill: every text token through the weights, the full T×T score square (masked
    // afterwards), and the head only at the last text position ([P, V] logits).
    prefillMacs = prefillRows * (T * cost.prefill.macsPerToken + cost.prefill.attentionProducts * T * T * hd + cost.prefill.headMacs);
    // Image token 0 comes from the prefill's logits; each later one is one step over the
    // slots laid out (all S, or the filled ones rounded up: KvSlots) plus the row's own
    // new key. Step k feeds image code k - 1 at stream position T + k - 1.
    for (let k = 1; k < imageTokens; k++) {
      const slots = slotsLaidOut(layout, S, T + k);
      decodeMacs += stepRows * (cost.step.macsPerToken + cost.step.attentionProducts * (slots + 1) * hd + cost.step.headMacs);
    }
  } else {
    // Encoder-decoder (DALL·E Mini/Mega): each distinct text through the encoder (T×T
    // attention), then its cross keys/values once; every image token is a step from the
    // start token, whose attention products are half over the S slots (+ its own key)
    // and half over the T text states.
    const encoder = cost.textEncoder;
    prefillMacs = prefillRows * (T * encoder.macsPerToken + encoder.attentionProducts * T * T * hd + T * cost.prefill.macsPerToken);
    const half = cost.step.attentionProducts / 2;
    // One run per decoder position p = 0 (the start token, in prefill) .. 255 (image code
    // p - 1 fed); the run at p needs slots 0..p.
    for (let p = 0; p < imageTokens; p++) {
      const slots = slotsLaidOut(layout, S, p + 1);
      decodeMacs += stepRows * (cost.step.macsPerToken + half * (slots + 1) * hd + half * T * hd + cost.step.headMacs);
    }
  }
  const decoded = work.candidates + (work.previewImages ?? 0);
  let clipTextMacs = 0;
  let clipVisionMacs = 0;
  if (work.rerank && cost.clipText !== null && cost.clipVision !== null) {
    const n = cost.clipTextTokens;
    clipTextMacs = n * cost.clipText.macsPerToken + cost.clipText.attentionProducts * n * n * cost.clipTextWidth + cost.clipText.headMacs;
    clipVisionMacs = work.candidates * cost.clipVision.macsPerImage;
  }
  const flops = {
    prefill: 2 * prefillMacs,
    decode: 2 * decodeMacs,
    vqDecode: 2 * decoded * cost.decoder.macsPerImage,
    clipText: 2 * clipTextMacs,
    clipVision: 2 * clipVisionMacs,
  };
  return { ...flops, total: flops.prefill + flops.decode + flops.vqDecode + flops.clipText + flops.clipVision };
}
