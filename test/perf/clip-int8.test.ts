import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnx } from '../../src/model/onnx-graph.js';
import { readManifest } from '../../src/model/manifest.js';
import { verifyPackageFiles } from '../../src/model/verified-files.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

// scripts/perf/clip_int8.py: CLIP's vision tower at int8 (conv_int8.py's QDQ convs, the stem kept
// float), calibrated and gated through scripts/perf/clip-int8.ts. Run on a copy of the tiny
// package with few images and --min-speedup 0: a tiny CLIP's speed is not the point here (the
// shipped model's gate asks 1.05x; docs/benchmarks.md has its figures).
const hasPythonOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;

function clipInt8(dir: string, ...extra: string[]) {
  return spawnSync('/usr/bin/python3', ['scripts/perf/clip_int8.py', '--package', dir, '--images', '8', '--prompts', '2', '--candidates', '8', '--rounds', '1', '--sizes', '8', ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
}

describe.skipIf(!hasPythonOnnx)('clip_int8.py: the CLIP vision int8 variant', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-clip-int8-'));
    cpSync(TINY_MODEL, dir, { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a graph that fails its gate, says why, and leaves the package as it was', async () => {
    const before = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
    const run = clipInt8(dir, '--min-speedup', '0', '--min-cosine', '2');
    expect(run.status, run.stderr).toBe(2);
    expect(run.stdout).toMatch(/REFUSED: the int8 CLIP vision graph is not written: embedding cosine \d\.\d+ < 2/);
    expect(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe(before);
    expect(readdirSync(path.join(dir, 'clip/onnx')).sort()).toEqual(['text_model.onnx', 'vision_model.onnx']);
    expect(existsSync(path.join(dir, '.int8-candidate'))).toBe(false);
    await verifyPackageFiles(dir, readManifest(dir));
  }, 120_000);

  it('writes clip/onnx/vision_model.int8.onnx: weight convs but the stem behind Quantize/Dequantize, hashed, declared, loaded at int8', async () => {
    const run = clipInt8(dir, '--min-speedup', '0', '--min-cosine', '0.9', '--min-spearman', '-1', '--min-top1', '0');
    expect(run.status, run.stderr).toBe(0);
    const manifest = readManifest(dir);
    expect(manifest.variants?.int8?.clipVision).toBe('clip/onnx/vision_model.int8.onnx');
    await verifyPackageFiles(dir, manifest);
    const checks = manifest.variants?.int8?.fidelity?.checks.clipVision as { convs: number; images: number; cosineMin: number; speed: { images: number }[] };
    expect(checks.images).toBe(16); // 2 prompts x 8 candidates
    expect(checks.cosineMin).toBeGreaterThanOrEqual(0.9);
    expect(checks.speed.map((s) => s.images)).toEqual([8]);
    const fp32 = readOnnx(path.join(dir, 'clip/onnx/vision_model.onnx'));
    const int8 = readOnnx(path.join(dir, 'clip/onnx/vision_model.int8.onnx'));
    const convs = fp32.nodes.filter((n) => n.op === 'Conv').length;
    expect(checks.convs).toBe(convs - 1); // the 3-channel stem stays float
    expect(int8.inputs).toEqual(fp32.inputs);
    expect(int8.outputs).toEqual(fp32.outputs);
    const floatWeights = int8.nodes.filter((n) => n.op === 'Conv' && int8.initializers.get(n.inputs[1])?.dims.length === 4);
    expect(floatWeights.map((n) => n.inputs[0])).toEqual(['pixel_values']); // the stem
    // The GroupNorms' Shape nodes read the batch from the input, not the dequantized maps.
    expect(int8.nodes.filter((n) => n.op === 'Shape').map((n) => n.inputs[0])).toEqual(['pixel_values']);
    const tessera = await Tessera.load({ model: dir, precision: 'int8' });
    try {
      expect(tessera.model.reranker?.visionGraph).toBe('onnx/vision_model.int8.onnx');
      const result = await tessera.generate({ prompt: 'a red circle', seed: 3, candidates: 4, keep: 4 });
      expect(result.candidates.every((c) => Number.isFinite(c.score))).toBe(true);
    } finally {
      await tessera.dispose();
    }
  }, 180_000);
});
