import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelCost, type ModelCost } from '../../src/footprint/flops.js';
import { readOnnx } from '../../src/model/onnx-graph.js';
import { parseManifest } from '../../src/model/manifest.js';
import { verifyPackageFiles } from '../../src/model/verified-files.js';
import { ClipReranker } from '../../src/rerank/clip-reranker.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { loadReference, maxAbsDiff, ROOT, TINY_MODEL } from '../helpers/tiny.js';

// test/fixtures/tiny-model-int8 was written from the tiny model by the repo's own rewriting:
//   /usr/bin/python3 scripts/perf/quantize_int8.py --package test/fixtures/tiny-model \
//       --out test/fixtures/tiny-model-int8 --graphs generator,clip
// (issue 12's int8 option: every weight product -> com.microsoft.MatMulNBits, 8 bits, blocks
// of 32; the tiny model's K = 16 products are padded to one block, as Mini's K = 2730 are).
const INT8_MODEL = path.join(ROOT, 'test/fixtures/tiny-model-int8');
const manifestOf = (dir: string) => parseManifest(JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')));
const reference = loadReference();

describe('int8 package (scripts/perf/quantize_int8.py)', () => {
  let float: Tessera;
  let int8: Tessera;
  beforeAll(async () => {
    float = await Tessera.load({ model: TINY_MODEL });
    int8 = await Tessera.load({ model: INT8_MODEL });
  });
  afterAll(async () => {
    await float.dispose();
    await int8.dispose();
  });

  it('is a valid package whose weight products are all int8 (Gemm and MatMul alike), CLIP included', async () => {
    const manifest = manifestOf(INT8_MODEL);
    expect(manifest.name).toBe(`${manifestOf(TINY_MODEL).name}-int8`);
    await verifyPackageFiles(INT8_MODEL, manifest);
    const graphs = [manifest.generator.prefill, manifest.generator.step, 'clip/onnx/text_model.onnx', 'clip/onnx/vision_model.onnx'];
    for (const rel of graphs) {
      const graph = readOnnx(path.join(INT8_MODEL, rel));
      const floatProducts = graph.nodes.filter((n) => (n.op === 'MatMul' || n.op === 'Gemm') && graph.initializers.has(n.inputs[1] ?? ''));
      expect(floatProducts.map((n) => n.outputs[0]), rel).toEqual([]);
      expect(graph.nodes.some((n) => n.op === 'MatMulNBits'), rel).toBe(true);
    }
  });

  it('counts the same FLOPs as the float package (MatMulNBits carries K and N)', () => {
    const [int8, fp32] = [modelCost(INT8_MODEL, manifestOf(INT8_MODEL)), modelCost(TINY_MODEL, manifestOf(TINY_MODEL))];
    // The same products; only the bytes of their weights differ (int8: a byte a weight).
    expect(withoutWeightBytes(int8)).toEqual(withoutWeightBytes(fp32));
    expect(weightBytesOf(int8).step).toBeLessThan(weightBytesOf(fp32).step);
  });

  it('gives prefill logits close to the float graphs (weights rounded to 8 bits per block, K padded to whole blocks)', async () => {
    const ids = reference.graphs.prefill.input_ids;
    const a = await float.model.generator.prefill(ids);
    const b = await int8.model.generator.prefill(ids);
    const scale = Math.max(...Array.from(a.logits.data, Math.abs));
    const diff = maxAbsDiff(a.logits.data, b.logits.data);
    expect(diff).toBeGreaterThan(0); // it is a different graph
    expect(diff / scale).toBeLessThan(0.05);
  });

  it('generates and ranks end to end like the float package, from the same seed', async () => {
    const request = { prompt: 'a red circle', seed: 11, candidates: 8, keep: 2 };
    const [a, b] = [await float.generate(request), await int8.generate(request)];
    expect(b.kept).toHaveLength(2);
    expect(b.candidates.map((c) => c.tokens.length)).toEqual(a.candidates.map((c) => c.tokens.length));
    for (const c of b.candidates) expect(c.score).toBeGreaterThan(-1); // ranked by the int8 CLIP
    expect(b.footprint?.flops).toEqual(a.footprint?.flops);
    expect(b.footprint?.flops).not.toBeNull();
  });

  it('loads two CLIP folders of the same name at once without mixing them up (float and int8 score differently)', async () => {
    const solid = (r: number) => ({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(r) });
    const images = [solid(10), solid(200)];
    const dirs = [path.join(TINY_MODEL, 'clip'), path.join(INT8_MODEL, 'clip')];
    const alone: number[][] = [];
    for (const dir of dirs) {
      const clip = await ClipReranker.load(dir, 'cpu');
      alone.push(await clip.score('a red circle', images));
      await clip.dispose();
    }
    expect(maxAbsDiff(alone[0], alone[1])).toBeGreaterThan(0);
    const together = await Promise.all(dirs.map((dir) => ClipReranker.load(dir, 'cpu')));
    for (const [i, clip] of together.entries()) {
      expect(await clip.score('a red circle', images)).toEqual(alone[i]);
      await clip.dispose();
    }
  });
});

const weightBytesOf = (cost: ModelCost): { step: number } => (cost.generator as unknown as { weightBytes: { step: number } }).weightBytes;
const withoutWeightBytes = (cost: ModelCost): unknown => ({ ...cost, generator: { ...cost.generator, weightBytes: undefined } });
