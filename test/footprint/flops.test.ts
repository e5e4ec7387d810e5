import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { generationFlops, modelCost, type ModelCost } from '../../src/footprint/flops.js';
import { parseOnnx } from '../../src/model/onnx-graph.js';
import { readManifest, type ModelManifest } from '../../src/model/manifest.js';
import { independentGenerator, layerMatmuls, macs } from './independent.js';

/**
 * The graph-walking count (src/footprint/flops.ts) against a count written the other
 * way round: every product of the shipped model enumerated by hand from the manifest,
 * the CLIP config and the GPT convention of a 4× MLP.
 */
const modelDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../models/default');
let manifest: ModelManifest;
let cost: ModelCost;
const clip = JSON.parse(readFileSync(path.join(modelDir, 'clip/config.json'), 'utf8')) as {
  projection_dim: number;
  text_config: { hidden_size: number; intermediate_size: number; num_hidden_layers: number; max_position_embeddings: number };
  tessera: { image_size: number; vision_channels: number[]; vision_reduce: number; vision_hidden: number };
};

beforeAll(() => {
  manifest = readManifest(modelDir);
  cost = modelCost(modelDir, manifest);
});

function independentClip(): { text: number; vision: number } {
  const t = clip.text_config;
  const tokens = t.max_position_embeddings + 1; // the class token the text model prepends
  const text = tokens * t.num_hidden_layers * macs(layerMatmuls(t.hidden_size, t.intermediate_size)) + t.num_hidden_layers * 2 * tokens * tokens * t.hidden_size + t.hidden_size * clip.projection_dim;
  const v = clip.tessera;
  const conv = (cout: number, cin: number, k: number, side: number): number => cout * cin * k * k * side * side;
  let side = v.image_size;
  let vision = conv(v.vision_channels[0]!, 3, 3, side); // stem
  let cin = v.vision_channels[0]!;
  for (const c of v.vision_channels) {
    side /= 2; // each stage opens with a stride-2 conv
    vision += conv(c, cin, 3, side) + conv(c, c, 3, side);
    cin = c;
  }
  vision += conv(v.vision_reduce, cin, 1, side) + v.vision_reduce * side * side * v.vision_hidden + v.vision_hidden * clip.projection_dim;
  return { text, vision };
}

/** The shipped VQ decoder, layer by layer: (cout, cin, kernel, side) at the token grid, then ×2 per DepthToSpace. */
function independentDecoder(): number {
  const layers: [number, number, number, number][] = [
    [128, 64, 3, 8], // codebook vectors (64) -> 128
    [64, 128, 3, 8], [128, 64, 1, 8], // residual block 1
    [64, 128, 3, 8], [128, 64, 1, 8], // residual block 2
    [256, 128, 3, 8], // -> DepthToSpace(2): 64 channels at 16×16
    [128, 64, 3, 16], // -> DepthToSpace(2): 32 channels at 32×32
    [12, 32, 3, 32], // -> DepthToSpace(2): 3 channels at 64×64
  ];
  return layers.reduce((s, [cout, cin, k, side]) => s + cout * cin * k * k * side * side, 0);
}

describe('FLOPs from the model shapes', () => {
  it('match an independent count for every stage of the shipped model', () => {
    for (const [candidates, guided] of [[32, false], [8, true]] as const) {
      const flops = generationFlops(cost, { candidates, guidance: guided, rerank: true });
      const gen = independentGenerator(manifest, candidates, guided);
      const c = independentClip();
      expect(flops.prefill).toBe(gen.prefill);
      expect(flops.decode).toBe(gen.decode);
      expect(flops.vqDecode).toBe(2 * candidates * independentDecoder());
      expect(flops.clipText).toBe(2 * c.text);
      expect(flops.clipVision).toBe(2 * candidates * c.vision);
      expect(flops.total).toBe(flops.prefill + flops.decode + flops.vqDecode + flops.clipText + flops.clipVision);
    }
  });

  it('scale with what ran: no CLIP without rerank, previews add decoder work, guidance doubles the rows', () => {
    const base = generationFlops(cost, { candidates: 4, guidance: false, rerank: false });
    expect(base.clipText).toBe(0);
    expect(base.clipVision).toBe(0);
    const previews = generationFlops(cost, { candidates: 4, guidance: false, rerank: false, previewImages: 4 });
    expect(previews.vqDecode).toBe(2 * base.vqDecode);
    const guided = generationFlops(cost, { candidates: 4, guidance: true, rerank: false });
    expect(guided.decode).toBe(2 * base.decode);
    expect(guided.prefill).toBe(2 * base.prefill);
  });

  it('reports a file that is not an ONNX graph', () => {
    let code: string | undefined;
    try {
      parseOnnx(new TextEncoder().encode('not a protobuf at all'), 'x.onnx');
    } catch (error) {
      code = isTesseraError(error) ? error.code : 'other';
    }
    expect(code).toBe('TESSERA_ERR_MODEL_FILE');
  });
});
