import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/model/manifest.js';
import { verifyPackageFiles } from '../../src/model/verified-files.js';
import { MinDallePackage, greedyTokens, maxAbsDiff, readNpyFloat32, readReference } from '../../scripts/convert/min-dalle-check.js';
import { ROOT } from '../helpers/tiny.js';

// The tiny package was written by scripts/convert/min_dalle.py (--external-data) from random
// weights in min-dalle's format; the reference holds min-dalle's own outputs on those weights
// (tokenizer ids, encoder states, greedy tokens) and this project's PyTorch outputs on fixed
// inputs (one step's logits, detokenized pixels). See docs/min-dalle.md.
const FIXTURE = path.join(ROOT, 'test/fixtures/min-dalle');
const PACKAGE = path.join(FIXTURE, 'package');
const ref = readReference(FIXTURE);

describe('min-dalle conversion (tiny random weights)', () => {
  let pkg: MinDallePackage;
  beforeAll(async () => {
    pkg = await MinDallePackage.load(PACKAGE);
  });

  it('writes a valid encoder-decoder manifest whose files (external data included) hash correctly', async () => {
    const manifest = parseManifest(JSON.parse(readFileSync(path.join(PACKAGE, 'manifest.json'), 'utf8')));
    expect(manifest.architecture).toBe('encoder-decoder');
    expect(manifest.encoder).toBeNull();
    expect(manifest.sampling).toMatchObject({ topK: 256, temperature: 1, guidanceScale: 16 });
    expect(manifest.text).toMatchObject({ length: 64, padId: 1 });
    expect(manifest.text.unconditionalIds.slice(0, 3)).toEqual([0, 2, 1]);
    await verifyPackageFiles(PACKAGE, manifest);
    for (const graph of ['text/encoder.onnx', 'generator/prefill.onnx', 'generator/step.onnx', 'vae/decoder.onnx']) {
      expect(Object.keys(manifest.files)).toContain(`${graph}.data`);
    }
    // The step graph's weights live in its external data file, not in the protobuf.
    expect(statSync(path.join(PACKAGE, 'generator/step.onnx')).size).toBeLessThan(statSync(path.join(PACKAGE, 'generator/step.onnx.data')).size / 10);
  });

  it.each(ref.tokenizer.map((t) => [JSON.stringify(t.prompt).slice(0, 60), t] as const))('tokenizes %s as min-dalle does', (_, t) => {
    expect(pkg.tokenize(t.prompt)).toEqual(t.ids.slice(0, 64));
  });

  it("encodes text as min-dalle's encoder does", async () => {
    const state = await pkg.encode(ref.encoder.input_ids);
    expect(state.length).toBe(ref.encoder.encoder_state.length);
    expect(maxAbsDiff(state, ref.encoder.encoder_state)).toBeLessThan(1e-4);
  });

  it('computes one decoder step as PyTorch does (slots, text mask, cross keys/values)', async () => {
    const step = await pkg.step(pkg.referenceStepFeeds());
    const logits = readNpyFloat32(path.join(FIXTURE, ref.step.logits));
    expect(logits.shape).toEqual([3, 16384]);
    expect(maxAbsDiff(step.logits, logits.data)).toBeLessThan(1e-3);
    const sum = (a: Float32Array) => a.reduce((s, x) => s + x, 0);
    expect(sum(step.newKeys)).toBeCloseTo(ref.step.new_keys_sum, 2);
    expect(sum(step.newValues)).toBeCloseTo(ref.step.new_values_sum, 2);
  });

  it.each(ref.greedy.cases.map((c) => [c.prompt, c] as const))("samples min-dalle's greedy tokens for %s (top-k 1, supercondition 16)", async (_, c) => {
    expect(pkg.pad(pkg.tokenize(c.prompt))).toEqual(c.conditionalIds);
    expect(c.unconditionalIds).toEqual(JSON.parse(readFileSync(path.join(PACKAGE, 'manifest.json'), 'utf8')).text.unconditionalIds);
    const [tokens] = await greedyTokens(PACKAGE, [c], ref.greedy.settings.supercondition_factor);
    expect(tokens).toEqual(c.tokens);
  });

  it('detokenizes a grid as PyTorch does, in [0, 1]', async () => {
    const pixels = await pkg.detokenize(ref.greedy.cases[0].tokens);
    expect(pixels.length).toBe(3 * 256 * 256);
    const sample = pixels.filter((_, i) => i % ref.detokenizer.stride === 0);
    expect(maxAbsDiff(sample, readNpyFloat32(path.join(FIXTURE, ref.detokenizer.sample)).data)).toBeLessThan(1e-4);
    expect(Math.min(...sample)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...sample)).toBeLessThanOrEqual(1);
  });
});
