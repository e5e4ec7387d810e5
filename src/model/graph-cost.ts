/**
 * Multiply-adds of an ONNX graph, counted from its own shapes (weights' initializer dims,
 * conv attributes): matrix products and convolutions, which are nearly all the arithmetic
 * (docs/footprint.md). The generators count their phases with these (src/generator/<architecture>/cost.ts),
 * the footprint the VQ codec's decoder graph and CLIP (src/footprint/flops.ts).
 */
import { TesseraError } from '../errors.js';
import type { OnnxGraph, OnnxNode } from './onnx-graph.js';

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

/** Ops that multiply by a matrix; MatMulNBits is the int8 variant's (scripts/perf/quantize_int8.py). */
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
  // An int8 decoder's convs (scripts/perf/conv_int8.py) take their weight through a
  // DequantizeLinear of an int8 initializer: the same dims, the same multiply-adds.
  const dequantized = new Map(graph.nodes.flatMap((n) => (n.op === 'DequantizeLinear' && graph.initializers.has(n.inputs[0] ?? '') ? [[n.outputs[0]!, n.inputs[0]!] as const] : [])));
  let macs = 0;
  for (const node of graph.nodes) {
    const from = node.inputs.map((name) => sizes.get(name)).find((s) => s !== undefined);
    let out = from;
    if (node.op === 'Conv') {
      const weight = node.inputs[1] ?? '';
      const w = graph.initializers.get(dequantized.get(weight) ?? weight)?.dims;
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

/** Bytes per element by TensorProto.data_type (onnx.proto3); 4-bit types count a byte per two. */
const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 0.5, 22: 0.5 };

/**
 * Bytes of a graph's initializers at their stored types: what one call reads of its
 * weights. An int8 variant's products store int8/uint8 weights (and their float scales),
 * so they count at a quarter of fp32's. Embedding tables count whole (a call gathers only
 * some of their rows: an upper bound, docs/footprint.md). External data counts too: its
 * dims and type are in the graph.
 */
export function weightBytes(graph: OnnxGraph): number {
  let bytes = 0;
  for (const init of graph.initializers.values()) {
    const size = ELEMENT_BYTES[init.dataType];
    if (size === undefined) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot size initializer ${init.name}: ONNX data type ${init.dataType}`);
    bytes += Math.ceil(init.dims.reduce((a, b) => a * b, 1) * size);
  }
  return bytes;
}
