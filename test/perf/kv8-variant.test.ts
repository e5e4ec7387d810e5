import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncoderDecoderCache } from '../../src/generator/encoder-decoder/generator.js';
import { architectureOf } from '../../src/generator/architectures.js';
import { packedBlockLengths, releaseBuffers, spareFloats } from '../../src/generator/kv-buffers.js';
import { Int8KvSlots, int8KvSlotsFloats } from '../../src/generator/kv-slots-int8.js';
import { stepFileReadsInt8Cache } from '../../src/generator/self-slots.js';
import { KvSlots, kvSlotsFloats } from '../../src/generator/kv-slots.js';
import { readManifest } from '../../src/model/manifest.js';
import { loadModel } from '../../src/pipeline/loader.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ROOT } from '../helpers/tiny.js';

// scripts/perf/kv8_variant.py (issue 27, tenth session): a package's int8 step rewritten to read
// an int8 KV cache, named by the manifest only when the int8 variant's fidelity gate passes. On a
// copy of the tiny encoder-decoder package: the manifest it writes, a refusal, and the pipeline
// on the result at int8 and under auto's probe (whose two generators then keep different caches).
const MIN_DALLE = path.join(ROOT, 'test/fixtures/min-dalle/package');
const hasPythonOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;

function kv8Variant(dir: string, ...args: string[]) {
  return spawnSync('/usr/bin/python3', ['scripts/perf/kv8_variant.py', '--package', dir, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
}

function manifestOf(dir: string): { files: Record<string, string>; variants: { int8: { generator: { step: string }; fidelity: { checks: Record<string, { gate: Record<string, number>; source: string }> } } } } {
  return JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
}

let work = '';
let cacheBefore: string | undefined;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tessera-kv8-variant-'));
  cacheBefore = process.env.TESSERA_CACHE_DIR;
  process.env.TESSERA_CACHE_DIR = path.join(work, 'cache'); // auto's decisions stay in this test
});
afterAll(() => {
  if (cacheBefore === undefined) delete process.env.TESSERA_CACHE_DIR;
  else process.env.TESSERA_CACHE_DIR = cacheBefore;
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!hasPythonOnnx)('scripts/perf/kv8_variant.py on a copy of the tiny encoder-decoder package', () => {
  let dir = '';
  beforeAll(() => {
    dir = path.join(work, 'package');
    cpSync(MIN_DALLE, dir, { recursive: true });
    const run = kv8Variant(dir);
    expect(run.status, run.stderr).toBe(0);
  }, 120_000);

  it('names the int8-cache step in variants.int8 with its hash and the gate it passed; the source package is untouched', () => {
    const manifest = manifestOf(dir);
    expect(manifest.variants.int8.generator.step).toBe('generator/step.int8.kv8.onnx');
    expect(manifest.files['generator/step.int8.kv8.onnx']).toMatch(/^[0-9a-f]{64}$/);
    const check = manifest.variants.int8.fidelity.checks.kv8;
    expect(check.source).toBe('generator/step.int8.onnx');
    expect(check.gate.stepTop1).toBeGreaterThanOrEqual(0.85);
    expect(check.gate.stepCosineMean).toBeGreaterThanOrEqual(0.995);
    expect(manifestOf(MIN_DALLE).variants.int8.generator.step).toBe('generator/step.int8.onnx');
    expect(existsSync(path.join(MIN_DALLE, 'generator/step.int8.kv8.onnx'))).toBe(false);
  });

  it('refuses a second run: the step already reads an int8 cache', () => {
    const run = kv8Variant(dir);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('already reads an int8 cache');
  });

  it('samples at int8 on an Int8KvSlots cache, and auto probes both precisions, each on its own kind of cache', async () => {
    const int8 = await Tessera.load({ model: dir, device: 'cpu', precision: 'int8', rerank: false });
    try {
      expect((int8.model.generator.allocate(1) as EncoderDecoderCache).self).toBeInstanceOf(Int8KvSlots);
      const result = await int8.generate({ prompt: 'a red circle', candidates: 2, seed: 3 });
      expect(result.precision?.precision).toBe('int8');
      expect(result.candidates).toHaveLength(2);
    } finally {
      await int8.dispose();
    }
    const auto = await Tessera.load({ model: dir, device: 'cpu', precision: 'auto', rerank: false });
    try {
      const result = await auto.generate({ prompt: 'a red circle', candidates: 2, seed: 3 });
      expect(result.precision?.reason).toBe('measured'); // the probe ran (a shared float cache fed to the int8-cache step failed here before)
      const slots = (auto.model.generator.allocate(1) as EncoderDecoderCache).self;
      expect(slots).toBeInstanceOf(result.precision?.precision === 'int8' ? Int8KvSlots : KvSlots);
    } finally {
      await auto.dispose();
    }
  }, 120_000);

  it('maps an int8 first cache for an int8-cache step (not a float one it would not use), and a float one for fp32', async () => {
    expect(stepFileReadsInt8Cache(path.join(dir, 'generator/step.int8.kv8.onnx'))).toBe(true);
    expect(stepFileReadsInt8Cache(path.join(dir, 'generator/step.int8.onnx'))).toBe(false);
    expect(stepFileReadsInt8Cache(path.join(dir, 'generator/no-such-step.onnx'))).toBe(false);
    const manifest = readManifest(dir);
    const shape = architectureOf(manifest).rowSlots!(manifest);
    const floatsOf = (blocks: { count: number; size: number } | null) => packedBlockLengths(blocks!.count, blocks!.size).reduce((a, b) => a + b, 0);
    // (Not auto: its probe's caches, released, become the spare themselves.)
    for (const [precision, blocks] of [['int8', int8KvSlotsFloats(shape, 4)], ['fp32', kvSlotsFloats(shape, 4)]] as const) {
      releaseBuffers([]); // this thread's spare, emptied
      await loadModel({ model: dir, rerank: false, precision, firstRows: 4 });
      expect(spareFloats(), precision).toBe(floatsOf(blocks));
      releaseBuffers([]);
    }
  }, 120_000);
});

describe.skipIf(!hasPythonOnnx)('scripts/perf/kv8_variant.py refusing a variant that fails its gate', () => {
  it('leaves the package as it was and says which threshold failed', () => {
    const dir = path.join(work, 'refused');
    cpSync(MIN_DALLE, dir, { recursive: true });
    const before = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
    const run = kv8Variant(dir, '--min-cosine', '1.01');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('REFUSED');
    expect(run.stderr).toContain('step logit cosine (mean)');
    expect(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe(before);
    expect(existsSync(path.join(dir, 'generator/step.int8.kv8.onnx'))).toBe(false);
  }, 120_000);
});
