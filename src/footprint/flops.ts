import path from 'node:path';
import { TesseraError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import { convCost, transformerCost, type ConvCost, type TransformerCost } from '../model/graph-cost.js';
import { readOnnx, type OnnxGraph } from '../model/onnx-graph.js';
import { architectureOf } from '../generator/architectures.js';
import type { GeneratorCost, GeneratorGraphs } from '../generator/generator.js';
import type { PhaseBytes, StageBytes, StageFlops } from '../types.js';

/**
 * FLOPs per stage of one generation, counted from the shapes of the model's own ONNX
 * graphs (weights' initializer dims, conv attributes) and the manifest. One
 * multiply-add is 2 FLOPs. Counted: matrix products and convolutions, which are
 * nearly all the arithmetic; not counted: normalisation, activations, softmax, bias
 * adds and embedding lookups (a few per cent; docs/footprint.md). The generator counts
 * its own prefill and decode behind its seam (src/generator/<architecture>/cost.ts);
 * this file adds the VQ codec's decoder graph and CLIP, which every architecture shares. The
 * generator also counts the bytes its phases move (generationBytes).
 */

export interface ModelCost {
  /** The generator's prefill and decode, as its architecture counts them. */
  generator: GeneratorCost;
  /** The VQ codec's decoder graph (grids -> pixels). */
  vq: ConvCost;
  clipText: TransformerCost | null;
  clipVision: ConvCost | null;
  clipTextWidth: number;
  /** Tokens the CLIP text model runs over at most (its position table's rows). */
  clipTextTokens: number;
}

/**
 * Reads the model package's graphs once; the costs are then pure arithmetic per request.
 * `graphs`: the generator graphs that run (a precision variant's; default the package's
 * own), whose weights the bytes count.
 */
export function modelCost(modelDir: string, manifest: ModelManifest, graphs?: GeneratorGraphs): ModelCost {
  const read = new Map<string, OnnxGraph>();
  const file = (rel: string): OnnxGraph => {
    let graph = read.get(rel);
    if (graph === undefined) read.set(rel, (graph = readOnnx(path.join(modelDir, rel))));
    return graph;
  };
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
  return {
    generator: architectureOf(manifest).cost(manifest, file, graphs),
    // Janus's image_decode takes its codes as generated_tokens [B, h*w] (docs/janus.md).
    vq: convCost(file(manifest.decoder), manifest.architecture === 'janus' ? 'generated_tokens' : 'codes', [grid.height, grid.width]),
    clipText,
    clipVision,
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
  /** Images the VQ codec made for previews, on top of the final candidates. */
  previewImages?: number;
  rerank: boolean;
  /**
   * The request's candidates in each row group it sampled in, one group after another (a
   * row cap, `--max-batch-rows`); default all in one. Each group runs its own prefill and
   * reads the weights at each of its steps.
   */
  groups?: readonly number[];
}

export type { StageFlops };

/** The generator's work mix of each row group: rows through its prefill and through every step. */
function generatorWorks(work: GenerationWork): { prefillRows: number; stepRows: number }[] {
  const perCandidate = work.guidance ? 2 : 1;
  const prefillRows = work.prefillRows ?? perCandidate;
  return (work.groups ?? [work.candidates]).map((candidates) => ({ prefillRows, stepRows: candidates * perCandidate }));
}

function addPhases(a: PhaseBytes, b: PhaseBytes): PhaseBytes {
  return { weights: a.weights + b.weights, kvRead: a.kvRead + b.kvRead, kvWritten: a.kvWritten + b.kvWritten, activations: a.activations + b.activations, total: a.total + b.total };
}

/** Bytes the generator moves per phase for what ran, as it counts them (src/generator/<architecture>/cost.ts), summed over row groups. */
export function generationBytes(cost: ModelCost, work: GenerationWork): StageBytes {
  const parts = generatorWorks(work).map((w) => cost.generator.bytes(w));
  const prefill = parts.map((b) => b.prefill).reduce(addPhases);
  const decode = parts.map((b) => b.decode).reduce(addPhases);
  return { prefill, decode, total: prefill.total + decode.total };
}

export function generationFlops(cost: ModelCost, work: GenerationWork): StageFlops {
  const parts = generatorWorks(work).map((w) => cost.generator.flops(w));
  const generator = { prefill: parts.reduce((sum, f) => sum + f.prefill, 0), decode: parts.reduce((sum, f) => sum + f.decode, 0) };
  const decoded = work.candidates + (work.previewImages ?? 0);
  let clipTextMacs = 0;
  let clipVisionMacs = 0;
  if (work.rerank && cost.clipText !== null && cost.clipVision !== null) {
    const n = cost.clipTextTokens;
    clipTextMacs = n * cost.clipText.macsPerToken + cost.clipText.attentionProducts * n * n * cost.clipTextWidth + cost.clipText.headMacs;
    clipVisionMacs = work.candidates * cost.clipVision.macsPerImage;
  }
  const flops = {
    prefill: generator.prefill,
    decode: generator.decode,
    vqDecode: 2 * decoded * cost.vq.macsPerImage,
    clipText: 2 * clipTextMacs,
    clipVision: 2 * clipVisionMacs,
  };
  return { ...flops, total: flops.prefill + flops.decode + flops.vqDecode + flops.clipText + flops.clipVision };
}
