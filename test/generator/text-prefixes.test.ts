import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { textPrefixFeeds, maxAbsDiff } from '../../bench/perf/text-prefix-feeds.js';
import { TextPrefixedSlots, TextRows, type TextEntry } from '../../src/generator/decoder-only/text-slots.js';
import { generationBytes, generationFlops, modelCost } from '../../src/footprint/flops.js';
import { parseManifest } from '../../src/model/manifest.js';
import { createSession } from '../../src/model/runtime.js';
import { ContinuousBatch } from '../../src/sampler/continuous.js';
import type { SequenceSpec } from '../../src/sampler/sequence.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { MIN_DALLE_FIXTURE } from '../helpers/min-dalle.js';
import { ROOT, tempDir } from '../helpers/tiny.js';

// scripts/convert/text_prefixes.py on a copy of the tiny decoder-only fixture (committed with
// the text in every row's slots; the embedded models/default ships rewritten, so both paths
// stay tested): the rewritten step graphs take the text prefix's keys/values once per text
// when the rows form equal groups, once per row otherwise, and each row's slots hold its
// image entries only.
const PYTHON = '/usr/bin/python3';
const ORIGINAL = path.join(ROOT, 'test/fixtures/tiny-model');
const SHAPE = parseManifest(JSON.parse(readFileSync(path.join(ORIGINAL, 'manifest.json'), 'utf8')));
const T = SHAPE.text.length;
const rewrite = (pkg: string) => spawnSync(PYTHON, ['scripts/convert/text_prefixes.py', '--package', pkg], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });

/** A copy of the package's manifest, tokenizer and generator graphs; the VQ codec and CLIP linked, not copied. */
function copyPackage(): string {
  const pkg = path.join(tempDir('tessera-text-'), 'package');
  mkdirSync(pkg, { recursive: true });
  for (const name of ['manifest.json', 'tokenizer.json', 'generator']) cpSync(path.join(ORIGINAL, name), path.join(pkg, name), { recursive: true });
  for (const name of ['vae', 'clip']) symlinkSync(path.join(ORIGINAL, name), path.join(pkg, name));
  return pkg;
}

const ids = (seed: number) => Array.from({ length: T }, (_, i) => (i < 6 ? 2 + ((seed * 7 + i * 11) % (SHAPE.text.vocabSize - 2)) : 0));
const spec = (text: number, candidateIndex: number, guidanceScale = 3): SequenceSpec => ({
  textIds: ids(text),
  unconditionalIds: guidanceScale === 1 ? null : new Array<number>(T).fill(0),
  guidanceScale,
  seed: 40 + text,
  candidateIndex,
  processors: { temperature: 1, topK: 16, topP: 1 },
});
const grids = (codes: readonly Int32Array[]) => codes.map((g) => Array.from(g));

describe('text keys/values per prefix (scripts/convert/text_prefixes.py)', () => {
  let pkg: string;
  let model: LoadedModel;
  let original: LoadedModel;
  beforeAll(async () => {
    pkg = copyPackage();
    const done = rewrite(pkg);
    expect(done.status, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).rewritten).toEqual(['generator/step.onnx', 'generator/step.int8.onnx']);
    model = await loadModel({ model: pkg, rerank: false, precision: 'fp32' }); // hashes verified on load
    original = await loadModel({ model: ORIGINAL, rerank: false, precision: 'fp32' });
  }, 180_000);

  it('marks the manifest, and a second run changes nothing', () => {
    const manifest = parseManifest(JSON.parse(readFileSync(path.join(pkg, 'manifest.json'), 'utf8')));
    expect(manifest.generator.cache?.text).toBe('prefixes');
    const again = rewrite(pkg);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).rewritten).toEqual([]);
  });

  it('writes graphs onnx.checker accepts', () => {
    const code = `import onnx\nfor f in ['step.onnx', 'step.int8.onnx']: onnx.checker.check_model(onnx.load('${pkg}/generator/' + f), full_check=True)`;
    const checked = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' });
    expect(checked.status, checked.stderr).toBe(0);
  });

  // The int8 variant quantizes activations per tensor (DynamicQuantizeLinear): the rewrite's
  // other summation order (text and image value products added) moves a few values across a
  // rounding step, so its logits are compared along a path below, not to 1e-4 on random caches.
  it('gives the original fp32 step graph its logits and new entries within 1e-4 (grouped and per-row text)', async () => {
    for (const graph of ['generator/step.onnx']) {
      const [a, b] = [await createSession(path.join(ORIGINAL, graph), 'cpu'), await createSession(path.join(pkg, graph), 'cpu')];
      for (const c of [{ rows: 8, texts: 2, filled: 5 }, { rows: 6, texts: 3, filled: 0 }, { rows: 4, texts: 2, filled: 20, perRow: true }]) {
        const { layers, heads, headDim } = SHAPE.generator;
        const feeds = textPrefixFeeds({ layers, heads, headDim, textLength: T, imageSlots: 32, vocab: SHAPE.text.vocabSize + SHAPE.image.vocabSize, imageVocab: SHAPE.image.vocabSize, ...c });
        const [x, y] = [await a.run(feeds.original), await b.run(feeds.rewritten)];
        expect(maxAbsDiff(x.logits, y.logits), `${graph} ${JSON.stringify(c)}`).toBeLessThan(1e-4);
        expect(maxAbsDiff(x.new_keys, y.new_keys)).toBeLessThan(1e-4);
        expect(maxAbsDiff(x.new_values, y.new_values)).toBeLessThan(1e-4);
      }
      await Promise.all([a.release(), b.release()]);
    }
  }, 60_000);

  it('samples the same tokens with several candidates per prompt, the rows fed as one text per group', async () => {
    const specs = [0, 1, 2, 3].flatMap((i) => [spec(1, i), spec(2, i)]).sort((p, q) => p.textIds[0] - q.textIds[0]);
    expect(grids(await model.sampler.generate(specs))).toEqual(grids(await original.sampler.generate(specs)));
    const greedy = [0, 1, 2].map((i) => ({ ...spec(3, i, 1), processors: { temperature: 1, topK: 1, topP: 1 } }));
    expect(grids(await model.sampler.generate(greedy))).toEqual(grids(await original.sampler.generate(greedy)));
    const state = await model.sampler.prefill([spec(1, 0), spec(1, 1), spec(1, 2)]);
    await model.sampler.decodeSteps(state, 2);
    const cache = state.cache as TextPrefixedSlots;
    expect(cache.rows).toBe(6);
    expect(cache.text.fedCount).toBe(2); // the prompt's 3 rows, the empty text's 3
    expect(cache.image.capacity).toBe(16); // image slots only
  }, 120_000);

  it('falls back to one text per row when the rows do not form equal groups, with the same tokens', async () => {
    const specs = [spec(1, 0), spec(1, 1), spec(2, 0)]; // runs 2, 1, then 3 empty texts
    expect(grids(await model.sampler.generate(specs))).toEqual(grids(await original.sampler.generate(specs)));
    const state = await model.sampler.prefill(specs);
    await model.sampler.decodeSteps(state, 2);
    expect((state.cache as TextPrefixedSlots).text.fedCount).toBe(6);
  }, 120_000);

  it('gives each group its tokens in a continuous batch with staggered admission', async () => {
    const run = async (m: LoadedModel) => {
      const batch = new ContinuousBatch(m.sampler);
      await batch.admit('a', [spec(1, 0), spec(1, 1)]);
      for (let i = 0; i < 5; i++) await batch.step();
      await batch.admit('b', [spec(2, 0, 1)]);
      const done = new Map<string, number[][]>();
      while (batch.size > 0) for (const f of (await batch.step()).finished) done.set(f.id, grids(f.codes));
      return done;
    };
    const [x, y] = [await run(model), await run(original)];
    expect(x.get('a')).toEqual(y.get('a'));
    expect(x.get('b')).toEqual(y.get('b'));
  }, 120_000);

  it('on the int8 variant: the same greedy tokens, and along one path logits closer to the original int8 than fp32 is', async () => {
    const [r8, o8] = [await loadModel({ model: pkg, rerank: false, precision: 'int8' }), await loadModel({ model: ORIGINAL, rerank: false, precision: 'int8' })];
    const greedy = [0, 1, 2, 3].flatMap((i) => [spec(4, i), spec(5, i)]).map((s) => ({ ...s, processors: { temperature: 1, topK: 1, topP: 1 } }));
    expect(grids(await r8.sampler.generate(greedy))).toEqual(grids(await o8.sampler.generate(greedy)));
    // Sampled rows follow the original int8's codes (forced), so every model sees the same prefixes.
    const sampled = [0, 1, 2, 3].flatMap((i) => [spec(4, i), spec(5, i)]);
    const codes = await o8.sampler.generate(sampled);
    const forced = sampled.map((s, i) => ({ ...s, forced: Int32Array.from(codes[i]) }));
    const states = [await r8.sampler.prefill(forced), await o8.sampler.prefill(forced), await original.sampler.prefill(forced)];
    const worst = [0, 0]; // |rewritten int8 - int8|, |fp32 - int8|
    for (let step = 0; step < 63; step++) {
      for (const [i, m] of [r8, o8, original].entries()) await m.sampler.decodeSteps(states[i], 1);
      const [u, v, w] = states.map((s) => s.logits.data);
      for (let i = 0; i < v.length; i++) [worst[0], worst[1]] = [Math.max(worst[0], Math.abs(u[i] - v[i])), Math.max(worst[1], Math.abs(w[i] - v[i]))];
    }
    expect(worst[0]).toBeLessThan(worst[1]);
  }, 120_000);

  it('counts the text keys/values read once per text, with the same FLOPs', () => {
    const work = { candidates: 8, guidance: true, rerank: false };
    const [perText, perRow] = [modelCost(pkg, model.manifest), modelCost(ORIGINAL, original.manifest)];
    const { layers, heads, headDim, maxLength } = model.manifest.generator;
    const entry = 2 * layers * heads * headDim * 4; // one slot's keys and values, float32
    // 16 rows, 2 texts, 63 steps: step k (image position k - 1) reads per row the slots laid
    // out for the text and k image positions, or the image slots alone plus the text's T
    // slots once per text; 'filled' slots round up to chunks of 16.
    const chunked = (needed: number, most: number) => Math.min(most, Math.max(16, Math.ceil(needed / 16) * 16));
    let saved = 0;
    for (let k = 1; k < 64; k++) saved += 16 * chunked(T + k, maxLength) - (16 * chunked(k, maxLength - T) + 2 * T);
    expect(generationBytes(perRow, work).decode.kvRead - generationBytes(perText, work).decode.kvRead).toBe(saved * entry);
    // FLOPs: the same weights and text keys; only the slots laid out differ where T is not a
    // multiple of the chunk (the tiny fixture's T = 12): q·k and p·v, per layer, per slot.
    const [a, b] = [generationFlops(perText, work), generationFlops(perRow, work)];
    expect(a.prefill).toBe(b.prefill);
    let slotsDiff = 0;
    for (let k = 1; k < 64; k++) slotsDiff += chunked(T + k, maxLength) - (T + chunked(k, maxLength - T));
    expect(b.decode - a.decode).toBe(2 * 16 * 2 * layers * slotsDiff * heads * headDim);
  });

  it('refuses an encoder-decoder package, naming why', () => {
    const other = path.join(tempDir('tessera-text-'), 'package');
    mkdirSync(other, { recursive: true });
    cpSync(path.join(MIN_DALLE_FIXTURE, 'package/manifest.json'), path.join(other, 'manifest.json'));
    const refused = rewrite(other);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/not decoder-only/);
  });

  it('refuses a manifest whose text layout is not the step graph\'s, naming the fix', async () => {
    const manifestFile = path.join(pkg, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    const broken = path.join(tempDir('tessera-text-'), 'package');
    mkdirSync(broken, { recursive: true });
    for (const name of ['tokenizer.json', 'generator', 'vae', 'clip']) symlinkSync(path.join(pkg, name), path.join(broken, name));
    writeFileSync(path.join(broken, 'manifest.json'), JSON.stringify({ ...manifest, generator: { ...manifest.generator, cache: { keys: 'plain', slots: 'filled' } } }));
    await expect(loadModel({ model: broken, rerank: false, precision: 'fp32' })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE', message: expect.stringMatching(/text_prefixes\.py/) });
  });

  it('fails loudly on an unknown text layout, or one the architecture cannot take', () => {
    const manifest = JSON.parse(readFileSync(path.join(ORIGINAL, 'manifest.json'), 'utf8'));
    const bad = (cache: object) => () => parseManifest({ ...manifest, generator: { ...manifest.generator, cache } });
    expect(bad({ keys: 'plain', slots: 'filled', text: 'columns' })).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST' }));
    expect(bad({ keys: 'transposed', slots: 'filled', text: 'prefixes' })).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST' }));
    expect(bad({ keys: 'plain', slots: 'filled', text: 'rows' })).not.toThrow();
  });
});

describe('TextRows', () => {
  const dims = { layers: 1, heads: 1, headDim: 1, textLength: 2 };
  const entry = (a: number): TextEntry => ({ keys: [Float32Array.of(a, a + 1)], values: [Float32Array.of(-a, -a - 1)] });
  it('feeds one entry per group, zeros and an empty mask for a row with no text, one per row otherwise', () => {
    const [x, y] = [entry(1), entry(5)];
    const rows = new TextRows(dims, 4);
    rows.set(2, x);
    rows.set(3, x);
    expect(Array.from(rows.feeds().text_key_0.data as Float32Array)).toEqual([0, 0, 1, 2]); // [P=2, 1, 2, 1]
    expect(Array.from(rows.feeds().text_mask.data as Float32Array)).toEqual([0, 0, 1, 1]);
    rows.set(1, y);
    expect(Array.from(rows.feeds().text_value_0.data as Float32Array)).toEqual([0, 0, -5, -6, -1, -2, -1, -2]); // runs 1, 1, 2: per row
    expect(rows.fedCount).toBe(4);
  });
  it('copies rows with their text references and image slots', () => {
    const shape = { layers: 1, heads: 1, slots: 4, headDim: 1 };
    const a = new TextPrefixedSlots(dims, shape, 2, { keys: 'plain', slots: 'filled' });
    a.writeText(1, entry(1));
    a.image.writeEntry(1, Float32Array.of(7), Float32Array.of(8), 1, 0, 0);
    const b = new TextPrefixedSlots(dims, shape, 3, { keys: 'plain', slots: 'filled' });
    b.copyRows(a, 1, 2, 1);
    expect(b.text.entries[2]).toBe(a.text.entries[1]);
    expect(b.image.keys[0][2 * b.image.capacity]).toBe(7);
    b.writeText(2, entry(3)); // a new text: no image entries yet
    expect(b.image.mask[2 * b.image.capacity]).toBe(0);
  });
});
