import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { variantPackage } from '../../bench/perf/variant-package.js';
import { compareGenerators, gatePrefixes, loadGenerator } from '../../scripts/perf/int8-gate.js';
import { modelCost, type ModelCost } from '../../src/footprint/flops.js';
import { readOnnx } from '../../src/model/onnx-graph.js';
import { readManifest } from '../../src/model/manifest.js';
import { verifyPackageFiles } from '../../src/model/verified-files.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

// The int8 variants inside the committed tiny packages were written by the repo's own rewriting
// (issue 27), e.g.
//   /usr/bin/python3 scripts/perf/quantize_int8.py --mode dynamic --package test/fixtures/tiny-model
// every weight product -> DynamicQuantizeLinear + MatMulInteger (u8 activations, per-channel s8
// weights) + scale, the logits head and attention's own products left in float.
const MIN_DALLE = path.join(ROOT, 'test/fixtures/min-dalle/package');
const PACKAGES = [
  ['decoder-only', TINY_MODEL],
  ['encoder-decoder', MIN_DALLE],
] as const;

const isWeightProduct = (graph: ReturnType<typeof readOnnx>, n: ReturnType<typeof readOnnx>['nodes'][number]) =>
  (n.op === 'MatMul' || n.op === 'Gemm') && graph.initializers.get(n.inputs[1] ?? '')?.dims.length === 2;
const count = (graph: ReturnType<typeof readOnnx>, op: string) => graph.nodes.filter((n) => n.op === op).length;

describe.each(PACKAGES)('int8 variant of the %s tiny package (quantize_int8.py --mode dynamic)', (_architecture, dir) => {
  const manifest = readManifest(dir);
  const variant = manifest.variants?.int8;

  it('is declared in the manifest, hashed like every other file, with a passed fidelity gate', async () => {
    expect(variant).toBeDefined();
    expect(variant?.fidelity?.passed).toBe(true);
    for (const rel of [variant?.generator.prefill, variant?.generator.step]) expect(manifest.files[rel ?? '']).toMatch(/^[0-9a-f]{64}$/);
    await verifyPackageFiles(dir, manifest);
  });

  it('has integer products where the weights are, and float where it must stay (head, attention, LayerNorm)', () => {
    for (const role of ['prefill', 'step'] as const) {
      const fp32 = readOnnx(path.join(dir, manifest.generator[role]));
      const int8 = readOnnx(path.join(dir, variant?.generator[role] ?? ''));
      // Same inputs and outputs: the runtime only swaps the file (the contract with precision-auto).
      expect(int8.inputs, role).toEqual(fp32.inputs);
      expect(int8.outputs, role).toEqual(fp32.outputs);
      const fp32Products = fp32.nodes.filter((n) => isWeightProduct(fp32, n));
      const floatLeft = int8.nodes.filter((n) => isWeightProduct(int8, n));
      // Only the vocabulary-wide logits head stays float (the prefill of an encoder-decoder has none).
      expect(floatLeft.length, role).toBeLessThanOrEqual(1);
      for (const n of floatLeft) expect(int8.initializers.get(n.inputs[1])?.dims.at(-1), role).toBeGreaterThanOrEqual(manifest.image.vocabSize);
      expect(count(int8, 'MatMulInteger'), role).toBe(fp32Products.length - floatLeft.length);
      expect(count(int8, 'DynamicQuantizeLinear'), role).toBe(fp32Products.length - floatLeft.length);
      for (const n of int8.nodes.filter((m) => m.op === 'MatMulInteger')) expect(int8.initializers.get(n.inputs[1])?.dims.length, role).toBe(2);
      // Attention's activation x activation products and the LayerNorms are untouched.
      const activationProducts = (g: typeof fp32) => g.nodes.filter((n) => n.op === 'MatMul' && !g.initializers.has(n.inputs[1])).length;
      expect(activationProducts(int8), role).toBe(activationProducts(fp32));
      expect(count(int8, 'ReduceMean'), role).toBe(count(fp32, 'ReduceMean'));
    }
  });

  it('computes the step scores keys-first: MatMul(past_key, q) without the transpose (attention_rewrite.py)', () => {
    const fp32 = readOnnx(path.join(dir, manifest.generator.step));
    const int8 = readOnnx(path.join(dir, variant?.generator.step ?? ''));
    const keys = fp32.inputs.filter((name) => name.startsWith('past_key'));
    const transposesOfKeys = (g: typeof fp32) => g.nodes.filter((n) => n.op === 'Transpose' && keys.includes(n.inputs[0])).length;
    expect(transposesOfKeys(fp32)).toBe(keys.length); // as exported: q · Transpose(K)
    expect(transposesOfKeys(int8)).toBe(0);
    const keysFirst = int8.nodes.filter((n) => n.op === 'MatMul' && keys.includes(n.inputs[0]));
    expect(keysFirst.map((n) => n.inputs[0]).sort()).toEqual([...keys].sort());
  });

  it('gives logits close to fp32 on the same prefixes and fed tokens, the top token agreeing on most rows', async () => {
    const fp32 = await loadGenerator(dir, manifest);
    const int8 = await loadGenerator(dir, manifest, variant?.generator);
    const result = await compareGenerators(fp32, int8, gatePrefixes(dir, manifest, 4), { rows: 8, steps: 24, seed: 5 });
    expect(result.maxRelativeDifference).toBeGreaterThan(0); // a different graph
    expect(result.maxRelativeDifference).toBeLessThan(0.2);
    expect(result.stepCosineMean).toBeGreaterThan(0.99);
    expect(result.stepTop1).toBeGreaterThan(0.75);
    expect(result.prefillTop1).toBeGreaterThanOrEqual(0.5);
  });
});

describe('the int8 variant as a package (bench/perf/variant-package.ts)', () => {
  let fp32: Tessera;
  let int8: Tessera;
  let dir: string;
  beforeAll(async () => {
    dir = variantPackage(TINY_MODEL);
    fp32 = await Tessera.load({ model: TINY_MODEL });
    int8 = await Tessera.load({ model: dir });
  });
  afterAll(async () => {
    await fp32.dispose();
    await int8.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads with the int8 graphs as its generator and generates end to end from the same seed', async () => {
    expect(int8.manifest.generator.step).toBe(readManifest(TINY_MODEL).variants?.int8?.generator.step);
    expect(int8.manifest.variants).toBeUndefined();
    const request = { prompt: 'a red circle', seed: 11, candidates: 8, keep: 2 };
    const [a, b] = [await fp32.generate(request), await int8.generate(request)];
    expect(b.kept).toHaveLength(2);
    expect(b.candidates.map((c) => c.tokens.length)).toEqual(a.candidates.map((c) => c.tokens.length));
  });

  it('counts the same FLOPs as fp32 (MatMulInteger carries its weight as [K, N])', () => {
    const [int8, fp32] = [modelCost(dir, readManifest(dir)), modelCost(TINY_MODEL, readManifest(TINY_MODEL))];
    // The same products; only the bytes of their weights differ (int8: a byte a weight).
    expect(withoutWeightBytes(int8)).toEqual(withoutWeightBytes(fp32));
    expect(weightBytesOf(int8).step).toBeLessThan(weightBytesOf(fp32).step);
  });
});

const hasPythonOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasPythonOnnx)('quantize_int8.py --mode dynamic, its gate', () => {
  it('refuses a variant that fails its gate, says why, and leaves the package (and its earlier variant) as it was', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-gate-'));
    try {
      cpSync(TINY_MODEL, dir, { recursive: true });
      const manifestBefore = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
      const run = spawnSync('/usr/bin/python3', ['scripts/perf/quantize_int8.py', '--mode', 'dynamic', '--package', dir, '--min-cosine', '1.0001', '--gate-rows', '4', '--gate-steps', '4', '--gate-prefixes', '2'], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
      });
      expect(run.status, run.stderr).toBe(2);
      expect(run.stdout).toMatch(/REFUSED: .*step logit cosine \(mean\) 0\.9\d+ < 1\.0001/);
      expect(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe(manifestBefore);
      await verifyPackageFiles(dir, readManifest(dir)); // the committed variant's files untouched
      expect(existsSync(path.join(dir, '.int8-candidate'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

const weightBytesOf = (cost: ModelCost): { step: number } => (cost.generator as unknown as { weightBytes: { step: number } }).weightBytes;
const withoutWeightBytes = (cost: ModelCost): unknown => ({ ...cost, generator: { ...cost.generator, weightBytes: undefined } });
