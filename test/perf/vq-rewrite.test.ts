import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/model/manifest.js';
import { verifyPackageFiles } from '../../src/model/verified-files.js';
import { readOnnx } from '../../src/model/onnx-graph.js';
import { ROOT } from '../helpers/tiny.js';

// scripts/perf/vq_rewrite.py: the passes that shrink the float work between the int8 VQ
// decoder's convolutions, on the tiny VQGAN of the min-dalle fixture (DALL·E Mini's decoder
// shape: 39 exported GroupNorms, 4 nearest upsamplings, 256 px). Floats with tolerances only.
const hasPythonOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;
const PACKAGE = path.join(ROOT, 'test/fixtures/min-dalle/package');

function python(args: string[]) {
  return spawnSync('/usr/bin/python3', args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
}

/** Random code grids [count, 16, 16], seeded. */
function codes(count: number, seed: number): ort.Tensor {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return new ort.Tensor('int64', BigInt64Array.from({ length: count * 256 }, () => BigInt(Math.floor(next() * 16384))), [count, 16, 16]);
}

async function decode(file: string, feed: ort.Tensor): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    return (await session.run({ codes: feed })).images.data as Float32Array; // [B, 3, 256, 256] in [0, 1]
  } finally {
    await session.release();
  }
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const count = (file: string, op: string) => readOnnx(file).nodes.filter((n) => n.op === op).length;

describe.skipIf(!hasPythonOnnx)('vq_rewrite.py: the int8 VQ decoder float work between convs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-vq-rewrite-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The float decoder rewritten by `passes` into `name`; the rewrite's printed site counts must include `sites`. */
  const rewrite = (name: string, passes: string, sites: string): string => {
    const fused = path.join(dir, name);
    const run = python(['scripts/perf/vq_rewrite.py', path.join(PACKAGE, 'vae/decoder.onnx'), fused, '--passes', passes]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(sites);
    return fused;
  };
  /** The rewritten decoder gives the original's pixels within 1e-4 on seeded codes. */
  const expectSameDecoder = async (fused: string, seed: number) => {
    const feed = codes(2, seed);
    const [a, b] = [await decode(path.join(PACKAGE, 'vae/decoder.onnx'), feed), await decode(fused, feed)];
    expect(maxAbs(a, b)).toBeLessThan(1e-4);
  };

  it('nearest 2x + 3x3 conv -> four 2x2 convs + DepthToSpace computes the same float decoder', async () => {
    const fused = rewrite('subpixel.onnx', 'subpixel', "'subpixel': 4");
    expect(count(fused, 'Resize')).toBe(0);
    expect(count(fused, 'DepthToSpace')).toBe(4);
    expect(count(fused, 'Conv')).toBe(59 - 4 + 16);
    await expectSameDecoder(fused, 3);
  }, 120_000);

  it('GroupNorm -> InstanceNormalization + BatchNormalization computes the same float decoder', async () => {
    const fused = rewrite('fused.onnx', 'groupnorm,affine', "'groupnorm': 39, 'affine': 39");
    expect(count(fused, 'InstanceNormalization')).toBe(39);
    expect(count(fused, 'BatchNormalization')).toBe(39);
    expect(count(fused, 'Pow')).toBe(0);
    expect(count(fused, 'Sqrt')).toBe(0);
    await expectSameDecoder(fused, 5);
  }, 120_000);

  it('an unknown pass is refused by name', () => {
    const run = python(['scripts/perf/vq_rewrite.py', path.join(PACKAGE, 'vae/decoder.onnx'), path.join(dir, 'x.onnx'), '--passes', 'groupnorm,fast']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("unknown pass(es) ['fast']");
  });

  it('conv_int8.py applies them after the QDQ rewrite: declared in the manifest, fidelity as without them', async () => {
    const variants: Record<string, string> = {};
    const psnrs: Record<string, number> = {};
    const all = 'shapes,groupnorm,affine,resize,subpixel';
    for (const passes of ['none', 'shapes,groupnorm,affine,resize', all]) {
      const copy = path.join(dir, passes.replaceAll(',', '-'));
      cpSync(PACKAGE, copy, { recursive: true });
      const run = python(['scripts/perf/conv_int8.py', '--package', copy, '--codes', 'random', '--grids', '4', '--rank-grids', '0', '--gate-rounds', '1', '--min-speedup', '0', '--min-psnr', '20', '--passes', passes]);
      expect(run.status, run.stderr).toBe(0);
      const manifest = readManifest(copy);
      await verifyPackageFiles(copy, manifest);
      const checks = manifest.variants?.int8?.fidelity?.checks.decoder as { passes: Record<string, number>; psnr: number; convs: number };
      // A tiny random-weight VQGAN loses more to int8 than a trained one: --min-psnr 20 here, as in
      // test/perf/vq-int8.test.ts (the Mini-shaped package passes the default 30 dB: docs/benchmarks.md).
      psnrs[passes] = checks.psnr;
      variants[passes] = path.join(copy, 'vae/decoder.int8.onnx');
      const graph = readOnnx(variants[passes]);
      const made = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
      if (passes === 'none') {
        expect(checks.passes).toEqual({});
        expect(checks.convs).toBe(59);
        continue;
      }
      // Every Shape that read a DequantizeLinear output (4 per GroupNorm after a conv) reads the quantized tensor.
      expect(graph.nodes.filter((n) => n.op === 'Shape').every((n) => made.get(n.inputs[0])?.op !== 'DequantizeLinear')).toBe(true);
      expect(count(variants[passes], 'InstanceNormalization')).toBe(39);
      if (passes !== all) {
        expect(checks.passes).toEqual({ shapes: 88, groupnorm: 39, affine: 39, resize: 4 });
        // The upsampling reads the quantized tensor (uint8), and its output is the conv's quantized input.
        const resizes = graph.nodes.filter((n) => n.op === 'Resize');
        expect(resizes).toHaveLength(4);
        for (const r of resizes) expect(made.get(r.inputs[0])?.op).toBe('QuantizeLinear');
        expect(graph.nodes.filter((n) => n.op === 'QuantizeLinear').length).toBe(count(variants.none, 'QuantizeLinear'));
        continue;
      }
      // subpixel: no Resize left; each upsampling conv is four 2x2 convs whose uint8 outputs are concatenated and interleaved.
      expect(checks.passes).toEqual({ subpixelConcat: 4, shapes: 88, groupnorm: 39, affine: 39, resize: 0, subpixel: 4 });
      expect(checks.convs).toBe(59 - 4 + 16);
      expect(count(variants[passes], 'Resize')).toBe(0);
      const spaces = graph.nodes.filter((n) => n.op === 'DepthToSpace');
      expect(spaces).toHaveLength(4);
      for (const d of spaces) {
        const concat = made.get(d.inputs[0])!;
        expect(concat.op).toBe('Concat');
        expect(concat.inputs.map((i) => made.get(i)?.op)).toEqual(['QuantizeLinear', 'QuantizeLinear', 'QuantizeLinear', 'QuantizeLinear']);
      }
    }
    // The passes move float rounding only (and no quantization step): the gate measures both
    // variants alike against fp32, and the two int8 decoders agree far more closely with each other.
    // subpixel re-quantizes summed weights and gives four convs one output range: a different
    // quantization of those convs, so it is held to the gate's measure (within 1 dB of the plain
    // int8 decoder's PSNR against fp32), not to closeness with the plain int8 pixels.
    expect(Math.abs(psnrs.none - psnrs['shapes,groupnorm,affine,resize'])).toBeLessThan(0.5);
    expect(Math.abs(psnrs.none - psnrs[all])).toBeLessThan(1);
    const feed = codes(2, 9);
    const [plain, moved] = [await decode(variants.none, feed), await decode(variants['shapes,groupnorm,affine,resize'], feed)];
    let squared = 0;
    for (let i = 0; i < plain.length; i++) squared += (Math.round(plain[i] * 255) - Math.round(moved[i] * 255)) ** 2;
    expect(10 * Math.log10((255 * 255) / Math.max(squared / plain.length, 1e-12))).toBeGreaterThan(40);
  }, 300_000);
});
