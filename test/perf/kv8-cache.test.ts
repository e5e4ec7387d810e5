import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareGenerators, gatePrefixes, loadGenerator } from '../../scripts/perf/int8-gate.js';
import { Int8KvSlots } from '../../src/generator/kv-slots-int8.js';
import { slotsFor } from '../../src/generator/self-slots.js';
import type { EncoderDecoderCache } from '../../src/generator/encoder-decoder/generator.js';
import { readOnnx } from '../../src/model/onnx-graph.js';
import { readManifest } from '../../src/model/manifest.js';
import { createSession } from '../../src/model/runtime.js';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

// The int8 KV cache (issue 27): scripts/perf/kv8_probe.py rewrites a package's int8 step graph
// to read s8 keys (transposed) and values with a scale per row, head and slot through
// MatMulInteger; the generators then keep their slots as Int8KvSlots. On the tiny packages:
// the rewrite's shape, and the generator on it against the same int8 graphs on a float cache.
const MIN_DALLE = path.join(ROOT, 'test/fixtures/min-dalle/package');
const PACKAGES = [
  ['decoder-only', TINY_MODEL],
  ['encoder-decoder', MIN_DALLE],
] as const;
const hasPythonOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;

let work = '';
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tessera-kv8-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!hasPythonOnnx).each(PACKAGES)('an int8 KV cache on the %s tiny package (kv8_probe.py)', (architecture, dir) => {
  const manifest = readManifest(dir);
  const int8 = manifest.variants?.int8?.generator;
  let variant = '';
  beforeAll(() => {
    variant = path.join(work, architecture, 'step.int8.kv8.onnx');
    const run = spawnSync('/usr/bin/python3', ['scripts/perf/kv8_probe.py', path.join(dir, int8?.step ?? ''), variant], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
    });
    expect(run.status, run.stderr).toBe(0);
  });

  it('reads every past key and value as s8 through MatMulInteger, with a float scale per row, head and slot', () => {
    const original = readOnnx(path.join(dir, int8?.step ?? ''));
    const graph = readOnnx(variant);
    const layers = manifest.generator.layers;
    const pasts = original.inputs.filter((name) => /^past_(key|value)_\d+$/.test(name));
    expect(pasts).toHaveLength(2 * layers);
    for (const name of pasts) expect(graph.inputs).toContain(name.replace(/^past_(key|value)_/, 'past_$1_scale_'));
    expect(graph.inputs.length).toBe(original.inputs.length + 2 * layers);
    expect(graph.outputs).toEqual(original.outputs);
    const count = (g: typeof graph, op: string) => g.nodes.filter((n) => n.op === op).length;
    expect(count(graph, 'MatMulInteger') - count(original, 'MatMulInteger')).toBe(2 * layers);
    for (const name of pasts) {
      expect(graph.nodes.filter((n) => n.inputs.includes(name)).map((n) => n.op)).toEqual(['MatMulInteger']);
    }
  });

  it('makes the generator keep Int8KvSlots, host only', async () => {
    const step = await createSession(variant, 'cpu');
    expect(slotsFor(step, false)({ layers: 1, heads: 1, slots: 16, headDim: 2 }, 1, { keys: 'plain', slots: 'filled' }, 1)).toBeInstanceOf(Int8KvSlots);
    expect(() => slotsFor(step, true)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_DEVICE' }));
    const generator = await loadGenerator(dir, manifest, { prefill: int8?.prefill ?? '', step: path.relative(dir, variant) });
    const cache = generator.allocate(2);
    expect(architecture === 'encoder-decoder' ? (cache as EncoderDecoderCache).self : cache).toBeInstanceOf(Int8KvSlots);
  });

  it('agrees with the same int8 graphs on a float cache: the top token on most (row, step) pairs, logits close', async () => {
    const float = await loadGenerator(dir, manifest, int8);
    const quantized = await loadGenerator(dir, manifest, { prefill: int8?.prefill ?? '', step: path.relative(dir, variant) });
    const result = await compareGenerators(float, quantized, gatePrefixes(dir, manifest, 4), { rows: 8, steps: 24, seed: 5 });
    expect(result.prefillTop1).toBeGreaterThanOrEqual(architecture === 'encoder-decoder' ? 0.75 : 1); // the encoder-decoder's prefill runs the step graph
    expect(result.maxRelativeDifference).toBeGreaterThan(0); // the cache is rounded
    expect(result.maxRelativeDifference).toBeLessThan(0.2);
    // The int8 variant's own gate thresholds (scripts/perf/quantize_int8.py); measured here 0.97-0.98 and 0.9998-0.9999.
    expect(result.stepCosineMean).toBeGreaterThan(0.995);
    expect(result.stepTop1).toBeGreaterThanOrEqual(0.85);
  });
});
