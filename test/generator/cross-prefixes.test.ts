import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EncoderDecoderCache, EncoderDecoderGenerator } from '../../src/generator/encoder-decoder/generator.js';
import { CrossRows, prefixGroups, type CrossEntry } from '../../src/generator/encoder-decoder/cross-feeds.js';
import { generationBytes, generationFlops, modelCost } from '../../src/footprint/flops.js';
import { parseManifest } from '../../src/model/manifest.js';
import { ContinuousBatch } from '../../src/sampler/continuous.js';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { greedySequence, MIN_DALLE_FIXTURE, minDalleReference } from '../helpers/min-dalle.js';
import { ROOT, tempDir } from '../helpers/tiny.js';

// scripts/convert/cross_prefixes.py on a copy of the tiny min-dalle package (the committed
// one keeps per-row cross feeds, so both paths stay tested): the rewritten step graphs take
// cross keys/values once per prefix when the rows form equal groups, once per row otherwise.
const PYTHON = '/usr/bin/python3';
const FIXTURE = MIN_DALLE_FIXTURE;
const ref = minDalleReference;

const rewrite = (pkg: string) => spawnSync(PYTHON, ['scripts/convert/cross_prefixes.py', '--package', pkg], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });

const greedy = greedySequence;

describe('prefixGroups', () => {
  const [a, b, c] = [1, 2, 3].map((n) => ({ keys: [], values: [], mask: new Float32Array(n) }) as CrossEntry); // told apart by toEqual
  it('finds P equal contiguous runs and returns their entries', () => {
    expect(prefixGroups([a, a, b, b])).toEqual([a, b]);
    expect(prefixGroups([a, a, a])).toEqual([a]);
    expect(prefixGroups([a, b, c])).toEqual([a, b, c]);
    expect(prefixGroups([null, null, a, a])).toEqual([null, a]);
  });
  it('refuses runs of unequal length or an entry that comes back', () => {
    expect(prefixGroups([a, b, b])).toEqual([a, b, b]); // a first run of one: one entry per row
    expect(prefixGroups([a, a, b])).toBeNull();
    expect(prefixGroups([a, a, b, b, b])).toBeNull();
    expect(prefixGroups([a, a, b, c])).toBeNull();
    expect(prefixGroups([a, a, b, b, b, b])).toEqual([a, b, b]); // equal runs of two: b's rows in two groups
    expect(prefixGroups([a, b, a, b])).toEqual([a, b, a, b]); // runs of one: per row
    expect(prefixGroups([a, a, b, b, a, a])).toEqual([a, b, a]); // equal runs: one per run, an entry may repeat
    expect(prefixGroups([])).toBeNull();
  });
});

describe('cross keys/values per prefix (scripts/convert/cross_prefixes.py)', () => {
  let pkg: string;
  let model: LoadedModel;
  let original: LoadedModel;
  beforeAll(async () => {
    pkg = path.join(tempDir('tessera-cross-'), 'package');
    cpSync(path.join(FIXTURE, 'package'), pkg, { recursive: true });
    const done = rewrite(pkg);
    expect(done.status, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).rewritten).toEqual(['generator/step.onnx', 'generator/step.int8.onnx']);
    model = await loadModel({ model: pkg, rerank: false, precision: 'fp32' }); // hashes verified on load
    original = await loadModel({ model: path.join(FIXTURE, 'package'), rerank: false, precision: 'fp32' });
  }, 120_000);

  it('marks the manifest, and a second run changes nothing', () => {
    const manifest = parseManifest(JSON.parse(readFileSync(path.join(pkg, 'manifest.json'), 'utf8')));
    expect(manifest.encoderDecoder?.cross).toBe('prefixes');
    const again = rewrite(pkg);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).rewritten).toEqual([]);
  });

  it('counts the cross keys/values read once per text, with the same FLOPs', () => {
    const work = { candidates: 8, guidance: true, rerank: false };
    const [perPrefix, perRow] = [modelCost(pkg, model.manifest), modelCost(path.join(FIXTURE, 'package'), original.manifest)];
    const { layers, heads, headDim } = model.manifest.generator;
    const crossEntry = 2 * layers * heads * headDim * model.manifest.text.length * 4; // one text's keys and values, float32
    // 16 rows, 2 texts, one step call per decoder position (256): 14 fewer cross reads a call.
    expect(generationBytes(perRow, work).decode.kvRead - generationBytes(perPrefix, work).decode.kvRead).toBe(256 * 14 * crossEntry);
    expect(generationFlops(perPrefix, work)).toEqual(generationFlops(perRow, work));
  });

  it('refuses a package that is not encoder-decoder, naming why', () => {
    const other = path.join(tempDir('tessera-cross-'), 'package');
    cpSync(path.join(ROOT, 'models/default/manifest.json'), path.join(other, 'manifest.json'));
    const refused = rewrite(other);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/is not an encoder-decoder package/);
  });

  it("samples min-dalle's greedy tokens with the rows in two groups: the prompt's and the empty text's", async () => {
    const c = ref.greedy.cases[1];
    const codes = await model.sampler.generate([greedy(c, 0), greedy(c, 1), greedy(c, 2)]);
    for (const grid of codes) expect(Array.from(grid)).toEqual(c.tokens);
    const state = await model.sampler.prefill([greedy(c, 0), greedy(c, 1)]);
    await model.sampler.decodeSteps(state, 2); // the second token is the first step's
    expect((state.cache as EncoderDecoderCache).cross.fedCount).toBe(2); // 4 rows fed as 2 prefixes
  });

  it('falls back to one entry per row when the rows do not form equal groups, with the same tokens', async () => {
    // Three prompts, one candidate each: rows a, b, c, then three empty texts (runs 1, 1, 1, 3).
    const codes = await model.sampler.generate(ref.greedy.cases.map((c) => greedy(c)));
    expect(codes.map((grid) => Array.from(grid))).toEqual(ref.greedy.cases.map((c) => c.tokens));
    const state = await model.sampler.prefill(ref.greedy.cases.map((c) => greedy(c)));
    await model.sampler.decodeSteps(state, 2); // the second token is the first step's
    expect((state.cache as EncoderDecoderCache).cross.fedCount).toBe(6);
  });

  it('gives each group its tokens in a continuous batch with staggered admission (rows copied between caches)', async () => {
    const batch = new ContinuousBatch(model.sampler);
    const [first, second] = ref.greedy.cases;
    await batch.admit('a', [greedy(first), greedy(first, 1)]);
    for (let i = 0; i < 5; i++) await batch.step();
    await batch.admit('b', [greedy(second)]);
    const done = new Map<string, number[][]>();
    while (batch.size > 0) for (const f of (await batch.step()).finished) done.set(f.id, f.codes.map((grid) => Array.from(grid)));
    expect(done.get('a')).toEqual([first.tokens, first.tokens]);
    expect(done.get('b')).toEqual([second.tokens]);
  });

  it("gives the same step logits per prefix as the original graph per row (sampled, top-k 50)", async () => {
    const c = ref.greedy.cases[0];
    const specs = [0, 1, 2, 3].map((i) => ({ ...greedy(c, i), processors: { temperature: 1, topK: 50, topP: 1 } }));
    const [x, y] = [await model.sampler.prefill(specs), await original.sampler.prefill(specs)];
    for (let step = 0; step < 8; step++) {
      await model.sampler.decodeSteps(x, 1);
      await original.sampler.decodeSteps(y, 1);
      expect(x.codes.map((g) => g[step])).toEqual(y.codes.map((g) => g[step]));
    }
    const [a, b] = [x.logits.data, y.logits.data]; // [R, V]
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThan(1e-3);
    expect(model.generator).toBeInstanceOf(EncoderDecoderGenerator);
  });

  it('feeds zeros for a row with no entry, per row and per group', () => {
    const dims = { layers: 1, heads: 1, headDim: 1, textLength: 2 };
    const entry: CrossEntry = { keys: [Float32Array.of(1, 2)], values: [Float32Array.of(3, 4)], mask: Float32Array.of(1, 0) };
    const rows = new CrossRows(dims, 4);
    rows.set(2, entry);
    rows.set(3, entry);
    expect(Array.from(rows.feeds(true).cross_key_0.data as Float32Array)).toEqual([0, 0, 1, 2]); // [P=2, 1, 1, 2]
    expect(rows.fedCount).toBe(2);
    expect(Array.from(rows.feeds(false).text_mask.data as Float32Array)).toEqual([0, 0, 0, 0, 1, 0, 1, 0]); // per row: [R=4, 2]
    rows.set(1, entry);
    expect(Array.from(rows.feeds(true).text_mask.data as Float32Array)).toEqual([0, 0, 1, 0, 1, 0, 1, 0]); // runs 1, 3: per row
    expect(rows.fedCount).toBe(4);
  });
});
