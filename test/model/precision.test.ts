import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/model/manifest.js';
import { sha256OfFile } from '../../src/model/verified-files.js';
import {
  cacheDir,
  cpuKey,
  decide,
  INT8_MARGIN,
  measurePrecisions,
  parsePrecision,
  PRECISION_CACHE_FILE,
  readDecisions,
  rowBucket,
  type Precision,
  type StepTimer,
} from '../../src/model/precision.js';
import { loadModel } from '../../src/pipeline/loader.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ROOT, tempDir } from '../helpers/tiny.js';
import { plainPackage, variantPackage } from '../helpers/variant.js';

/** The tiny package without its int8 variant (the no-variant paths). */
const PLAIN = plainPackage();

const MIN_DALLE_PACKAGE = path.join(ROOT, 'test/fixtures/min-dalle/package');
// vitest.config.ts pins the suite's default to fp32 (TESSERA_PRECISION); this file tests the
// real default, auto.
delete process.env.TESSERA_PRECISION;
const tinyManifest = () => JSON.parse(readFileSync(path.join(PLAIN, 'manifest.json'), 'utf8'));

/** A timer that runs the step and returns scripted times per precision (no real duration is asserted anywhere). */
function scriptedTimer(ms: Record<Precision, number>): StepTimer & { calls: Precision[] } {
  const calls: Precision[] = [];
  const timer = async (precision: Precision, step: () => Promise<unknown>) => {
    calls.push(precision);
    await step();
    return ms[precision];
  };
  return Object.assign(timer, { calls });
}

describe('manifest variants', () => {
  const withVariant = () => {
    const m = tinyManifest();
    m.files['generator/prefill.int8.onnx'] = 'a'.repeat(64);
    m.files['generator/step.int8.onnx'] = 'b'.repeat(64);
    m.variants = { int8: { generator: { prefill: 'generator/prefill.int8.onnx', step: 'generator/step.int8.onnx' } } };
    return m;
  };
  it('parses a variant (decoder, clip and fidelity optional)', () => {
    expect(parseManifest(withVariant()).variants?.int8?.generator.step).toBe('generator/step.int8.onnx');
    const full = withVariant();
    full.files['vae/decoder.int8.onnx'] = 'c'.repeat(64);
    full.files['clip-int8/onnx/text_model.onnx'] = 'd'.repeat(64);
    Object.assign(full.variants.int8, { decoder: 'vae/decoder.int8.onnx', clip: 'clip-int8', fidelity: { passed: true, measuredAt: '2026-12-05', cpu: 'x', checks: { cosine: 0.99 } } });
    expect(parseManifest(full).variants?.int8).toMatchObject({ decoder: 'vae/decoder.int8.onnx', clip: 'clip-int8' });
    expect(parseManifest(tinyManifest()).variants).toBeUndefined();
  });
  it('rejects unknown variant names and unknown keys, naming them', () => {
    const name = withVariant();
    name.variants.int4 = name.variants.int8;
    expect(() => parseManifest(name)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('"int4"') }));
    const key = withVariant();
    key.variants.int8.encoder = 'vae/encoder.onnx';
    expect(() => parseManifest(key)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('"encoder"') }));
    const fidelity = withVariant();
    fidelity.variants.int8.fidelity = { passed: 'yes', measuredAt: 'x', cpu: 'y', checks: {} };
    expect(() => parseManifest(fidelity)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', param: 'manifest.variants.int8.fidelity.passed' }));
    const noGenerator = withVariant();
    delete noGenerator.variants.int8.generator;
    expect(() => parseManifest(noGenerator)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('is missing') }));
    const outside = withVariant();
    outside.variants.int8.generator.step = '../step.onnx';
    expect(() => parseManifest(outside)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST' }));
  });
  it('requires a sha256 for every variant file, like the package own files', () => {
    const unhashed = withVariant();
    delete unhashed.files['generator/step.int8.onnx'];
    expect(() => parseManifest(unhashed)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('generator/step.int8.onnx') }));
    const clip = withVariant();
    clip.variants.int8.clip = 'clip-int8';
    expect(() => parseManifest(clip)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('clip-int8') }));
  });
  it('names a variant file missing on disk when the package loads', async () => {
    const dir = await variantPackage();
    rmSync(path.join(dir, 'generator/step.int8.onnx'));
    await expect(loadModel({ model: dir, precision: 'fp32' })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE', message: expect.stringContaining('generator/step.int8.onnx') });
  });
});

describe('precision rules', () => {
  it('parses --precision strictly (default auto)', () => {
    expect(parsePrecision(undefined)).toBe('auto');
    // TESSERA_PRECISION sets the default on every face, and is checked like the flag.
    expect(parsePrecision(undefined, 'precision', { TESSERA_PRECISION: 'fp32' })).toBe('fp32');
    expect(parsePrecision('int8', 'precision', { TESSERA_PRECISION: 'fp32' })).toBe('int8');
    expect(() => parsePrecision(undefined, 'precision', { TESSERA_PRECISION: 'fast' })).toThrow(
      expect.objectContaining({ code: 'TESSERA_ERR_OPTION', param: 'TESSERA_PRECISION' }),
    );
    expect(parsePrecision('int8')).toBe('int8');
    expect(() => parsePrecision('int4')).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION', param: 'precision' }));
  });
  it('buckets rows to powers of two', () => {
    expect([1, 2, 3, 32, 33, 64, 100, 512, 1e9].map(rowBucket)).toEqual([1, 2, 4, 32, 64, 64, 128, 512, 4096]);
  });
  it('keys the CPU by model name and a hash of its flags', () => {
    const a = cpuKey('model name\t: Some CPU\nflags\t\t: fpu sse avx2\n');
    expect(a).toMatch(/^Some CPU \[flags [0-9a-f]{12}\]$/);
    expect(cpuKey('model name\t: Some CPU\nflags\t\t: avx2 fpu sse\n')).toBe(a); // order does not matter
    expect(cpuKey('model name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512_vnni\n')).not.toBe(a);
  });
  it('finds the cache folder from the environment', () => {
    expect(cacheDir({ TESSERA_CACHE_DIR: '/a', XDG_CACHE_HOME: '/b' })).toBe('/a');
    expect(cacheDir({ XDG_CACHE_HOME: '/b' })).toBe(path.join('/b', 'tessera'));
    expect(cacheDir({})).toMatch(/[\\/]\.cache[\\/]tessera$/);
  });
  it('times alternating pairs after a warm-up and picks int8 only past the margin', async () => {
    const runs: Precision[] = [];
    const steps = { fp32: async () => runs.push('fp32'), int8: async () => runs.push('int8') };
    const timer = scriptedTimer({ fp32: 10, int8: 9.6 });
    const probe = await measurePrecisions(steps, 32, timer, 4);
    expect(runs).toEqual(['fp32', 'int8', 'fp32', 'int8', 'int8', 'fp32', 'fp32', 'int8', 'int8', 'fp32']);
    expect(probe).toEqual({ rows: 32, fp32Ms: 10, int8Ms: 9.6, ratio: 0.96, pairs: 4 });
    expect(decide(probe)).toBe('fp32'); // 4% faster is inside the margin
    expect(decide({ ...probe, int8Ms: 5, ratio: 0.5 })).toBe('int8');
    expect(decide({ ...probe, int8Ms: 12, ratio: 1.2 })).toBe('fp32');
    // The median of paired ratios ignores one disturbed pair.
    let call = 0;
    const noisy: StepTimer = async (precision, step) => {
      await step();
      call++;
      return precision === 'int8' ? 5 : call <= 2 ? 1 : 10; // the first pair's fp32 ran on a suddenly idle machine
    };
    expect(decide(await measurePrecisions(steps, 32, noisy, 4))).toBe('int8');
    // Long steps (a large row count): the probe stops at its time budget, after the fewest pairs.
    const slow = scriptedTimer({ fp32: 200, int8: 150 });
    expect(await measurePrecisions(steps, 512, slow, 4, 300)).toMatchObject({ pairs: 2, ratio: 0.75 });
    expect(slow.calls).toEqual(['fp32', 'int8', 'int8', 'fp32']);
  });
  it('keeps fp32 on a CPU where int8 does not pay (no VNNI): ties, small gains and split votes (injected timings)', async () => {
    const steps = { fp32: async () => undefined, int8: async () => undefined };
    /** A timer replaying per-pair times [fp32, int8] in call order (pairs alternate who goes first). */
    const replay = (pairs: Array<[number, number]>): StepTimer => {
      const seen = { fp32: 0, int8: 0 };
      return async (precision, step) => {
        await step();
        const pair = pairs[seen[precision]++];
        return precision === 'fp32' ? pair[0] : pair[1];
      };
    };
    const cases: Array<{ pairs: Array<[number, number]>; ratio: number }> = [
      { pairs: [[10, 10], [10, 10], [10, 10], [10, 10]], ratio: 1 }, // an exact tie
      { pairs: [[10, 9.8], [10, 9.7], [10, 9.9], [10, 9.8]], ratio: 0.98 }, // 2% faster: inside the margin
      { pairs: [[10, 13], [10, 12], [10, 14], [10, 13]], ratio: 1.3 }, // int8 slower, as without VNNI
      { pairs: [[10, 5], [10, 10.5], [10, 10], [10, 10.2]], ratio: 1.02 }, // one pair disturbed in int8's favour
      { pairs: [[10, 9], [10, 9.4], [10, 10], [10, 10.4]], ratio: 1 }, // pairs split 2:2 across the margin
    ];
    for (const { pairs, ratio } of cases) {
      const probe = await measurePrecisions(steps, 64, replay(pairs), 4, Infinity);
      expect(probe.ratio).toBeCloseTo(ratio, 9);
      expect(decide(probe)).toBe('fp32');
    }
    // At the budget's minimum of two pairs, one fast int8 pair is not enough: both must agree.
    expect(decide(await measurePrecisions(steps, 512, replay([[200, 150], [200, 196]]), 4, 300))).toBe('fp32');
    expect(decide(await measurePrecisions(steps, 512, replay([[200, 150], [200, 160]]), 4, 300))).toBe('int8');
    // Exactly at the margin int8 is chosen; anything above it is not.
    expect(decide({ rows: 64, fp32Ms: 10, int8Ms: 9.5, ratio: 1 - INT8_MARGIN, pairs: 4 })).toBe('int8');
    expect(decide({ rows: 64, fp32Ms: 10, int8Ms: 9.51, ratio: 1 - INT8_MARGIN + 0.001, pairs: 4 })).toBe('fp32');
  });
});

describe('loading at a precision', () => {
  it('--precision int8 on a package without a variant fails with its code; auto falls back to fp32, saying why', async () => {
    await expect(loadModel({ model: PLAIN, precision: 'int8', rerank: false })).rejects.toMatchObject({ code: 'TESSERA_ERR_PRECISION_UNAVAILABLE', param: 'precision' });
    const cache = tempDir();
    const model = await loadModel({ model: PLAIN, rerank: false, probe: { cacheDir: cache, timer: scriptedTimer({ fp32: 1, int8: 1 }) } });
    expect(model.precision).toEqual({ requested: 'auto', precision: 'fp32', reason: 'no-variant', detail: 'package has no int8 variant' });
    expect(existsSync(path.join(cache, PRECISION_CACHE_FILE))).toBe(false);
    await expect(loadModel({ model: PLAIN, precision: 'bf16' as never })).rejects.toMatchObject({ code: 'TESSERA_ERR_OPTION' });
  });

  it('forced int8 opens the variant graphs; fp32 the package own, with today outputs', async () => {
    const dir = await variantPackage();
    const int8 = await loadModel({ model: dir, precision: 'int8', rerank: false });
    const fp32 = await loadModel({ model: dir, precision: 'fp32', rerank: false });
    const plain = await loadModel({ model: PLAIN, rerank: false });
    expect(int8.precision).toMatchObject({ requested: 'int8', precision: 'int8', reason: 'forced' });
    expect(fp32.precision).toMatchObject({ requested: 'fp32', precision: 'fp32', reason: 'forced' });
    const ids = [plain.manifest.text.unconditionalIds];
    const logits = async (m: typeof plain) => Array.from((await m.generator.prefill(ids)).logits.data);
    const [a, b, c] = [await logits(int8), await logits(fp32), await logits(plain)];
    expect(b).toEqual(c); // fp32 is the package's own graphs, bit for bit
    expect(a).not.toEqual(b); // int8 ran other files
    // A whole generation at fp32 from the variant package is today's generation.
    const request = { prompt: 'a red circle', seed: 7, candidates: 4, keep: 2 };
    const [withVariant, today] = [await Tessera.load({ model: dir, precision: 'fp32' }), await Tessera.load({ model: PLAIN })];
    const [x, y] = [await withVariant.generate(request), await today.generate(request)];
    expect(x.candidates.map((k) => Array.from(k.tokens))).toEqual(y.candidates.map((k) => Array.from(k.tokens)));
    expect(x.candidates.map((k) => k.rank)).toEqual(y.candidates.map((k) => k.rank));
    expect(x.precision).toMatchObject({ precision: 'fp32', reason: 'forced' });
    expect(y.precision).toMatchObject({ precision: 'fp32', reason: 'no-variant' });
    await Promise.all([withVariant.dispose(), today.dispose()]);
  });

  it("a variant's CLIP folder runs at int8; without one, and at fp32, the package's own CLIP does", async () => {
    const embed = async (model: string, precision: 'int8' | 'fp32') => {
      const loaded = await loadModel({ model, precision });
      const [embedding] = await loaded.reranker!.embedText(['a red circle']);
      await loaded.reranker!.dispose();
      return Array.from(embedding);
    };
    const withClip = await variantPackage({ clip: true });
    const withoutClip = await variantPackage();
    const own = await embed(withClip, 'fp32');
    expect(await embed(withClip, 'int8')).not.toEqual(own);
    expect(await embed(withoutClip, 'int8')).toEqual(own);
  });

  it('auto measures, caches per CPU, package and row bucket, and measures again when one changes', async () => {
    const dir = await variantPackage();
    const cache = tempDir();
    const load = (timer: StepTimer, cpu = 'CPU A [flags 000000000000]', rows = 16) => loadModel({ model: dir, rerank: false, precisionRows: rows, probe: { cacheDir: cache, cpu, timer } });

    const fast = scriptedTimer({ fp32: 10, int8: 4 });
    const first = await load(fast);
    expect(first.precision).toMatchObject({ requested: 'auto', precision: 'int8', reason: 'measured', probe: { rows: 16, fp32Ms: 10, int8Ms: 4, ratio: 0.4, pairs: 4 } });
    expect(fast.calls).toHaveLength(8);
    // The probe's steps do not count in the run's stats.
    expect(first.generator.stats).toMatchObject({ stepCalls: 0, decodeMs: 0, prefillRows: 0 });
    const decisions = Object.values(readDecisions(cache));
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ precision: 'int8', package: 'tiny-random', cpu: 'CPU A [flags 000000000000]', device: 'cpu', rows: 16 });

    // Reused: no timing at all, even with a timer that would now say fp32.
    const slow = scriptedTimer({ fp32: 10, int8: 12 });
    const again = await load(slow, 'CPU A [flags 000000000000]', 9); // 9 rows share the bucket of 16
    expect(again.precision).toMatchObject({ precision: 'int8', reason: 'cached', probe: { rows: 16, int8Ms: 4 } });
    expect(slow.calls).toEqual([]);

    // Another CPU: measured again (and here int8 is slower: fp32).
    const otherCpu = await load(slow, 'CPU B [flags 111111111111]');
    expect(otherCpu.precision).toMatchObject({ precision: 'fp32', reason: 'measured' });
    expect(slow.calls).toHaveLength(8);

    // Another row bucket: measured again; within the margin keeps fp32.
    const close = scriptedTimer({ fp32: 10, int8: 9.7 });
    expect((await load(close, 'CPU A [flags 000000000000]', 100)).precision).toMatchObject({ precision: 'fp32', reason: 'measured', probe: { rows: 128 } });

    // The package changes (any file, hence manifest.json's hash): measured again.
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    manifest.description = 'retrained';
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    const changed = scriptedTimer({ fp32: 10, int8: 12 });
    expect((await load(changed)).precision).toMatchObject({ precision: 'fp32', reason: 'measured' });
    expect(changed.calls).toHaveLength(8);
    expect(Object.values(readDecisions(cache))).toHaveLength(4);

    // A forced precision neither reads nor writes the cache.
    const forced = scriptedTimer({ fp32: 1, int8: 1 });
    expect((await loadModel({ model: dir, rerank: false, precision: 'fp32', probe: { cacheDir: cache, timer: forced } })).precision.reason).toBe('forced');
    expect(forced.calls).toEqual([]);
  });

  it('probes an encoder-decoder package through the same seam (a variant of copies samples what fp32 does)', async () => {
    const dir = path.join(tempDir(), 'min-dalle');
    cpSync(MIN_DALLE_PACKAGE, dir, { recursive: true });
    cpSync(path.join(dir, 'generator'), path.join(dir, 'generator-int8'), { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    for (const name of readdirSync(path.join(dir, 'generator-int8'))) manifest.files[`generator-int8/${name}`] = await sha256OfFile(path.join(dir, 'generator-int8', name));
    manifest.variants = { int8: { generator: { prefill: 'generator-int8/prefill.onnx', step: 'generator-int8/step.onnx' } } };
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    const timer = scriptedTimer({ fp32: 3, int8: 1 });
    const auto = await Tessera.load({ model: dir, probe: { cacheDir: tempDir(), cpu: 'x', timer } });
    expect(auto.model.precision).toMatchObject({ precision: 'int8', reason: 'measured', probe: { rows: 8 } }); // 4 candidates x guidance twins
    expect(timer.calls).toHaveLength(8);
    const fp32 = await Tessera.load({ model: dir, precision: 'fp32' });
    const request = { prompt: 'a red circle', seed: 11, candidates: 2, keep: 2 };
    const [x, y] = [await auto.generate(request), await fp32.generate(request)];
    expect(x.candidates.map((c) => Array.from(c.tokens))).toEqual(y.candidates.map((c) => Array.from(c.tokens)));
    await Promise.all([auto.dispose(), fp32.dispose()]);
  });

  it('an unreadable cache is only a cache: auto measures again', async () => {
    const dir = await variantPackage();
    const cache = tempDir();
    writeFileSync(path.join(cache, PRECISION_CACHE_FILE), '{ broken');
    const model = await loadModel({ model: dir, rerank: false, probe: { cacheDir: cache, cpu: 'x', timer: scriptedTimer({ fp32: 2, int8: 1 }) } });
    expect(model.precision).toMatchObject({ precision: 'int8', reason: 'measured' });
    expect(Object.values(readDecisions(cache))).toHaveLength(1);
  });
});
