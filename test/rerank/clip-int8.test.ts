import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { variantPackage } from '../../bench/perf/variant-package.js';
import { renderScene } from '../../eval/shapes/render.js';
import { COLOR_NAMES, type Scene, type ShapeName } from '../../eval/shapes/world.js';
import { describePackage } from '../../src/cli/package-info.js';
import { modelCost } from '../../src/footprint/flops.js';
import { parseManifest, readManifest } from '../../src/model/manifest.js';
import { graphsFor, type Precision } from '../../src/model/precision.js';
import { loadModel } from '../../src/pipeline/loader.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ClipReranker, cosine } from '../../src/rerank/clip-reranker.js';
import type { RgbImage } from '../../src/types.js';
import { ROOT, TINY_MODEL, tempDir } from '../helpers/tiny.js';

// CLIP's vision tower at int8 (issue 27): scripts/perf/clip_int8.py wrote the shipped
// models/default/clip/onnx/vision_model.int8.onnx (its gate's figures are in the manifest and
// docs/benchmarks.md); `variants.int8.clipVision` declares it.
const SHIPPED = path.join(ROOT, 'models/default');
const INT8_VISION = 'onnx/vision_model.int8.onnx';

describe('manifest variants.int8.clipVision', () => {
  const tiny = () => JSON.parse(readFileSync(path.join(TINY_MODEL, 'manifest.json'), 'utf8'));
  const withVision = (file: string, hashed = true) => {
    const m = tiny();
    m.variants.int8.clipVision = file;
    if (hashed) m.files[file] = '0'.repeat(64);
    return m;
  };

  it('accepts a hashed graph in the CLIP onnx/ folder; graphsFor gives it at int8 only', () => {
    const m = parseManifest(withVision('clip/onnx/vision_model.int8.onnx'));
    expect(graphsFor(m, 'int8').clipVision).toBe('clip/onnx/vision_model.int8.onnx');
    expect(graphsFor(m, 'fp32').clipVision).toBeNull();
    expect(graphsFor(parseManifest(tiny()), 'int8').clipVision).toBeNull();
  });

  it('refuses it outside the CLIP onnx/ folder, unhashed, without a CLIP, or misspelt', () => {
    const refused = (m: unknown, text: string) => expect(() => parseManifest(m)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining(text) }));
    refused(withVision('clip/vision_model.int8.onnx'), 'must be clip/onnx/<name>.onnx');
    refused(withVision('vae/decoder.onnx'), 'must be clip/onnx/<name>.onnx');
    refused(withVision('clip/onnx/vision_model.int8.onnx', false), 'has no sha256 for "clip/onnx/vision_model.int8.onnx"');
    const noClip = withVision('clip/onnx/vision_model.int8.onnx');
    noClip.clip = null;
    refused(noClip, 'needs a CLIP');
    const misspelt = tiny();
    misspelt.variants.int8.clipVison = 'clip/onnx/vision_model.int8.onnx';
    refused(misspelt, '"clipVison"');
  });
});

describe('the shipped int8 CLIP vision graph', () => {
  const promptsAndScenes = () => {
    const shapes: ShapeName[] = ['circle', 'square', 'triangle', 'star'];
    const scenes: Scene[] = [];
    for (const color of COLOR_NAMES.slice(0, 6)) for (const shape of shapes) scenes.push({ background: 'white', objects: [{ shape, color, size: 'large', x: 32, y: 32 }] });
    return { prompts: ['a large red circle', 'a large blue square', 'a large green triangle', 'a large yellow star'], scenes };
  };
  let images: RgbImage[];
  let fp32: ClipReranker;
  let int8: ClipReranker;
  beforeAll(async () => {
    const { scenes } = promptsAndScenes();
    images = await Promise.all(scenes.map(async (scene) => ({ width: 64, height: 64, data: await renderScene(scene) })));
    const clipDir = path.join(SHIPPED, 'clip');
    [fp32, int8] = [await ClipReranker.load(clipDir, 'cpu'), await ClipReranker.load(clipDir, 'cpu', { visionGraph: INT8_VISION })];
  });
  afterAll(async () => Promise.all([fp32?.dispose(), int8?.dispose()]));

  it('ranks a fixed set of images as fp32 does: scores within 0.03, ranks exact across gaps over 0.07, same top-1', async () => {
    expect(readManifest(SHIPPED).variants?.int8?.clipVision).toBe(`clip/${INT8_VISION}`);
    for (const prompt of promptsAndScenes().prompts) {
      const a = await fp32.scoreWithEmbeddings(prompt, images);
      const b = await int8.scoreWithEmbeddings(prompt, images);
      a.imageEmbeddings.forEach((e, i) => expect(cosine(e, b.imageEmbeddings[i])).toBeGreaterThan(0.99));
      expect(a.scores.some((s, i) => s !== b.scores[i])).toBe(true); // the int8 graph ran
      a.scores.forEach((s, i) => expect(Math.abs(s - b.scores[i])).toBeLessThan(0.03)); // 0.019 at most on the AMD EPYC (VNNI) here
      for (let i = 0; i < a.scores.length; i++) {
        for (let j = 0; j < a.scores.length; j++) if (a.scores[i] - a.scores[j] > 0.07) expect(b.scores[i], `${prompt}: ${i} over ${j}`).toBeGreaterThan(b.scores[j]);
      }
      const order = [...a.scores.keys()].sort((x, y) => a.scores[y] - a.scores[x]);
      expect(a.scores[order[0]] - a.scores[order[1]]).toBeGreaterThan(0.07); // each prompt's own scene wins clearly (0.11-0.19 here)
      expect(b.scores.indexOf(Math.max(...b.scores))).toBe(order[0]);
    }
  }, 60_000);

  it('refuses a vision graph outside onnx/ or missing, by code', async () => {
    const clipDir = path.join(SHIPPED, 'clip');
    await expect(ClipReranker.load(clipDir, 'cpu', { visionGraph: 'vision_model.int8.onnx' })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE' });
    await expect(ClipReranker.load(clipDir, 'cpu', { visionGraph: 'onnx/nothing.onnx' })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE', message: expect.stringContaining('onnx/nothing.onnx') });
  });
});

describe('which CLIP vision graph a precision loads', () => {
  it('int8 loads the int8 vision graph, fp32 never does, nor does --clip', async () => {
    const loaded = async (options: { precision: 'int8' | 'fp32'; clip?: string }) => {
      const tessera = await Tessera.load({ model: SHIPPED, ...options });
      try {
        return { vision: tessera.model.reranker?.visionGraph, precision: tessera.model.precision.precision };
      } finally {
        await tessera.dispose();
      }
    };
    expect(await loaded({ precision: 'int8' })).toEqual({ vision: INT8_VISION, precision: 'int8' });
    expect(await loaded({ precision: 'fp32' })).toEqual({ vision: 'onnx/vision_model.onnx', precision: 'fp32' });
    // Another CLIP (--clip) runs its own graphs, whatever the precision.
    expect(await loaded({ precision: 'int8', clip: path.join(SHIPPED, 'clip') })).toEqual({ vision: 'onnx/vision_model.onnx', precision: 'int8' });
  }, 60_000);

  it('auto runs it when its probe picks int8, not when it keeps fp32', async () => {
    const auto = async (times: Record<Precision, number>) => {
      // Scripted step times (no real duration is asserted): the probe's decision, then which vision graph loaded.
      const timer = async (precision: Precision, step: () => Promise<unknown>) => (await step(), times[precision]);
      const model = await loadModel({ model: SHIPPED, precision: 'auto', precisionRows: 2, probe: { cacheDir: tempDir(), cpu: 'test cpu', timer } });
      try {
        return { vision: model.reranker?.visionGraph, precision: model.precision.precision };
      } finally {
        await model.reranker?.dispose();
      }
    };
    expect(await auto({ fp32: 10, int8: 5 })).toEqual({ vision: INT8_VISION, precision: 'int8' });
    expect(await auto({ fp32: 5, int8: 10 })).toEqual({ vision: 'onnx/vision_model.onnx', precision: 'fp32' });
  }, 60_000);

  it('tessera info names it; the footprint counts its convs like fp32 (the variant package swaps it in)', () => {
    expect(describePackage(SHIPPED, tempDir())).toMatch(/int8 .*clip\/ \(vision clip\/onnx\/vision_model\.int8\.onnx, text fp32\)/);
    const manifest = readManifest(SHIPPED);
    const variant = variantPackage(SHIPPED);
    try {
      const swapped = readManifest(variant);
      expect(swapped.files['clip/onnx/vision_model.onnx']).toBe(manifest.files['clip/onnx/vision_model.int8.onnx']);
      expect(modelCost(variant, swapped).clipVision).toEqual(modelCost(SHIPPED, manifest).clipVision);
    } finally {
      rmSync(variant, { recursive: true, force: true });
    }
  });
});
