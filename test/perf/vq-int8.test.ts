import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { variantPackage } from '../../bench/perf/variant-package.js';
import { modelCost } from '../../src/footprint/flops.js';
import { readOnnx } from '../../src/model/onnx-graph.js';
import { readManifest } from '../../src/model/manifest.js';
import { verifyPackageFiles } from '../../src/model/verified-files.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

// scripts/perf/conv_int8.py: the VQ decoder's int8 variant (QDQ around every weight Conv, which
// onnxruntime fuses into QLinearConv), calibrated and gated through scripts/perf/vq-int8.ts.
// Run on a copy of the tiny package; --min-speedup 0 because a tiny decoder's speed is not the
// point here (the shipped model's gate asks 1.1x; docs/benchmarks.md has its figures).
const hasPythonOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;

function convInt8(dir: string, ...extra: string[]) {
  return spawnSync('/usr/bin/python3', ['scripts/perf/conv_int8.py', '--package', dir, '--codes', 'random', '--grids', '4', '--rank-grids', '8', '--min-spearman', '-1', ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
}

describe.skipIf(!hasPythonOnnx)('conv_int8.py: the VQ decoder int8 variant', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-vq-int8-'));
    cpSync(TINY_MODEL, dir, { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a decoder that fails its gate, says why, and leaves the package as it was', async () => {
    const before = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
    const run = convInt8(dir, '--min-speedup', '0', '--min-psnr', '200');
    expect(run.status, run.stderr).toBe(2);
    expect(run.stdout).toMatch(/REFUSED: the int8 decoder is not written: PSNR \d+\.\d+ dB < 200/);
    expect(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe(before);
    expect(existsSync(path.join(dir, '.int8-candidate'))).toBe(false);
    await verifyPackageFiles(dir, readManifest(dir));
  }, 120_000);

  it('writes vae/decoder.int8.onnx: every weight Conv behind Quantize/Dequantize, hashed, declared with its gate', async () => {
    const run = convInt8(dir, '--min-speedup', '0', '--min-psnr', '20');
    expect(run.status, run.stderr).toBe(0);
    const manifest = readManifest(dir);
    expect(manifest.variants?.int8?.decoder).toBe('vae/decoder.int8.onnx');
    await verifyPackageFiles(dir, manifest);
    const checks = manifest.variants?.int8?.fidelity?.checks.decoder as { psnr: number; convs: number; clipRanking: { images: number; spearman: number } };
    expect(checks.psnr).toBeGreaterThanOrEqual(20);
    // The package's CLIP scored 8 images decoded both ways. Not asserted: the tiny CLIP scores random
    // images almost alike, so their ranks are noise (the shipped model's figure is in docs/benchmarks.md).
    expect(checks.clipRanking.images).toBe(8);
    expect(Math.abs(checks.clipRanking.spearman)).toBeLessThanOrEqual(1);
    const fp32 = readOnnx(path.join(dir, manifest.decoder));
    const int8 = readOnnx(path.join(dir, 'vae/decoder.int8.onnx'));
    const convs = fp32.nodes.filter((n) => n.op === 'Conv').length;
    expect(checks.convs).toBe(convs);
    expect(int8.inputs).toEqual(fp32.inputs);
    expect(int8.outputs).toEqual(fp32.outputs);
    // Weights int8 per output channel (a DequantizeLinear over an int8 initializer feeds each Conv); no float conv weight left.
    const floatWeights = int8.nodes.filter((n) => n.op === 'Conv' && int8.initializers.get(n.inputs[1])?.dims.length === 4);
    expect(floatWeights).toHaveLength(0);
    expect(int8.nodes.filter((n) => n.op === 'QuantizeLinear').length).toBeGreaterThanOrEqual(convs + 1);
    // The footprint counts the int8 decoder's convs like fp32's (weights seen through their DequantizeLinear).
    const variant = variantPackage(dir);
    try {
      expect(modelCost(variant, readManifest(variant)).vq).toEqual(modelCost(dir, manifest).vq);
    } finally {
      rmSync(variant, { recursive: true, force: true });
    }
  }, 120_000);

  it('runs at --precision int8 end to end: same tokens as the int8 generator alone, pixels close to the fp32 decoder', async () => {
    const int8 = await Tessera.load({ model: dir, precision: 'int8', rerank: false });
    const request = { prompt: 'a red circle', seed: 3, candidates: 4, keep: 4 };
    const a = await int8.generate(request);
    await int8.dispose();
    // The same package without the decoder variant: same generator graphs, fp32 decoder.
    const plain = mkdtempSync(path.join(os.tmpdir(), 'tessera-vq-plain-'));
    try {
      cpSync(TINY_MODEL, plain, { recursive: true });
      const reference = await Tessera.load({ model: plain, precision: 'int8', rerank: false });
      const b = await reference.generate(request);
      await reference.dispose();
      expect(a.candidates.map((c) => Array.from(c.tokens))).toEqual(b.candidates.map((c) => Array.from(c.tokens)));
      let sum = 0;
      let n = 0;
      a.kept.forEach((k, i) => {
        const [x, y] = [k.image.data, b.kept[i].image.data];
        for (let j = 0; j < x.length; j++) sum += Math.abs(x[j] - y[j]);
        n += x.length;
      });
      expect(sum / n).toBeGreaterThan(0); // the int8 decoder ran
      expect(sum / n).toBeLessThan(12); // mean |difference| per 8-bit channel value
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  }, 120_000);
});
