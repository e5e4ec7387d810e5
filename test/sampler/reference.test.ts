import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { DEFAULT_STEP_CACHE } from '../../src/model/manifest.js';
import { ort } from '../../src/model/runtime.js';
import { loadReference, maxAbsDiff, TINY_MODEL, sequencesOf } from '../helpers/tiny.js';

const reference = loadReference();
let model: LoadedModel;

beforeAll(async () => {
  model = await loadModel({ model: TINY_MODEL, rerank: false });
});

describe('generator graphs against PyTorch', () => {
  it('prefill logits and cache match the PyTorch model', async () => {
    const { prefill } = reference.graphs;
    const out = (await model.generator.prefill(prefill.input_ids)) as unknown as { logits: { data: Float32Array }; keys: Float32Array; values: Float32Array };
    expect(maxAbsDiff(out.logits.data, prefill.logits)).toBeLessThan(1e-4);
    const sum = (xs: Float32Array) => xs.reduce((s, x) => s + x, 0);
    expect(sum(out.keys)).toBeCloseTo(prefill.present_keys_sum, 1);
    expect(sum(out.values)).toBeCloseTo(prefill.present_values_sum, 1);
  });

  // The reference stores the cache stacked [L, R, H, S, D]; the graph takes one tensor per
  // layer in the manifest's layout (tiny-model: plain keys, dynamic slot axis).
  function stepFeeds(capacity: number): Record<string, ort.Tensor> {
    const { step } = reference.graphs;
    const { layers, heads, headDim, maxLength } = model.manifest.generator;
    const transposed = (model.manifest.generator.cache ?? DEFAULT_STEP_CACHE).keys === 'transposed';
    const rows = step.input_ids.length;
    const mask = new Float32Array(rows * capacity); // [R, C]
    for (let r = 0; r < rows; r++) for (let s = 0; s < capacity; s++) mask[r * capacity + s] = step.attention_mask[r * maxLength + s];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(step.input_ids.flat(), BigInt), [rows, 1]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(step.position_ids.flat(), BigInt), [rows, 1]),
      attention_mask: new ort.Tensor('float32', mask, [rows, capacity]),
    };
    const block = rows * heads * maxLength * headDim;
    for (let l = 0; l < layers; l++) {
      const keys = new Float32Array(rows * heads * capacity * headDim);
      const values = new Float32Array(rows * heads * capacity * headDim);
      for (let rh = 0; rh < rows * heads; rh++) {
        for (let s = 0; s < capacity; s++) {
          for (let d = 0; d < headDim; d++) {
            const from = l * block + (rh * maxLength + s) * headDim + d;
            keys[transposed ? (rh * headDim + d) * capacity + s : (rh * capacity + s) * headDim + d] = step.past_keys[from];
            values[(rh * capacity + s) * headDim + d] = step.past_values[from];
          }
        }
      }
      feeds[`past_key_${l}`] = new ort.Tensor('float32', keys, transposed ? [rows, heads, headDim, capacity] : [rows, heads, capacity, headDim]);
      feeds[`past_value_${l}`] = new ort.Tensor('float32', values, [rows, heads, capacity, headDim]);
    }
    return feeds;
  }

  it('one step over all slots matches the PyTorch model, returning only the new entries', async () => {
    const { step } = reference.graphs;
    const { layers, heads, headDim, maxLength } = model.manifest.generator;
    const session = (model.generator as unknown as { stepSession: ort.InferenceSession }).stepSession;
    const out = await session.run(stepFeeds(maxLength));
    expect(out.new_keys.dims).toEqual([layers, step.input_ids.length, heads, 1, headDim]);
    expect(maxAbsDiff(out.logits.data as Float32Array, step.logits)).toBeLessThan(1e-4);
    expect(maxAbsDiff(out.new_keys.data as Float32Array, step.new_keys)).toBeLessThan(1e-4);
    expect(maxAbsDiff(out.new_values.data as Float32Array, step.new_values)).toBeLessThan(1e-4);
  });

  it('one step over only the filled slots gives the same outputs (the slot axis is dynamic)', async () => {
    const { step } = reference.graphs;
    const { maxLength } = model.manifest.generator;
    expect(model.manifest.generator.cache).toEqual({ keys: 'plain', slots: 'filled' });
    const rows = step.input_ids.length;
    let filled = 0; // past slots in use by any row: the mask is 1 for slots < position
    for (let r = 0; r < rows; r++) for (let s = 0; s < maxLength; s++) if (step.attention_mask[r * maxLength + s] === 1) filled = Math.max(filled, s + 1);
    expect(filled).toBeLessThan(maxLength);
    const session = (model.generator as unknown as { stepSession: ort.InferenceSession }).stepSession;
    const out = await session.run(stepFeeds(filled));
    expect(maxAbsDiff(out.logits.data as Float32Array, step.logits)).toBeLessThan(1e-4);
    expect(maxAbsDiff(out.new_keys.data as Float32Array, step.new_keys)).toBeLessThan(1e-4);
    expect(maxAbsDiff(out.new_values.data as Float32Array, step.new_values)).toBeLessThan(1e-4);
  });
});

describe('sampler against the independent PyTorch reference sampler', () => {
  for (const c of reference.sampling) {
    it(`reproduces the pinned tokens: ${c.name}`, async () => {
      expect(model.tokenizer.encode(c.prompt).ids).toEqual(c.textIds);
      if (c.negative !== null) expect(model.tokenizer.encode(c.negative).ids).toEqual(c.unconditionalIds);
      const codes = await model.sampler.generate(sequencesOf(c));
      expect(codes.map((x) => Array.from(x))).toEqual(c.tokens);
    });
  }
});

describe('batching', () => {
  const guided = reference.sampling.find((c) => c.name === 'guided')!;
  const plain = reference.sampling.find((c) => c.name === 'plain')!;

  it('computes each text prefix once, whatever the number of candidates', async () => {
    const before = model.sampler.stats.prefillRows;
    await model.sampler.generate(sequencesOf(guided, [0, 1, 2, 3, 4, 5, 6, 7]));
    expect(model.sampler.stats.prefillRows - before).toBe(2); // prompt + unconditional text
    expect(model.sampler.stats.stepRows).toBe(16); // 8 candidates + 8 unconditional twins, in one batch
    const beforePlain = model.sampler.stats.prefillRows;
    await model.sampler.generate(sequencesOf(plain, [0, 1, 2, 3]));
    expect(model.sampler.stats.prefillRows - beforePlain).toBe(1);
    expect(model.sampler.stats.stepRows).toBe(4);
  });

  it('candidate i of seed s is identical whatever the candidate count, batch or slot', async () => {
    const alone = await model.sampler.generate(sequencesOf(guided, [3]));
    const inEight = await model.sampler.generate(sequencesOf(guided, [0, 1, 2, 3, 4, 5, 6, 7]));
    const reversed = await model.sampler.generate(sequencesOf(guided, [7, 6, 5, 4, 3, 2, 1, 0]));
    // A batch mixing another request's rows in front of it.
    const mixed = await model.sampler.generate([...sequencesOf(plain, [0, 1]), ...sequencesOf(guided, [3])]);
    expect(Array.from(inEight[3])).toEqual(Array.from(alone[0]));
    expect(Array.from(reversed[4])).toEqual(Array.from(alone[0]));
    expect(Array.from(mixed[2])).toEqual(Array.from(alone[0]));
    expect(Array.from(mixed[0])).toEqual(plain.tokens[0]);
    expect(Array.from(alone[0])).toEqual(guided.tokens[1]);
  });

  it('only samples image tokens', async () => {
    const codes = await model.sampler.generate(sequencesOf(plain, [0, 1, 2, 3, 4, 5]));
    for (const grid of codes) for (const code of grid) expect(code >= 0 && code < model.manifest.image.vocabSize).toBe(true);
  });
});

describe('naive sampler (no KV cache, the benchmark baseline)', () => {
  it('draws exactly the tokens of the cached sampler', async () => {
    const { NaiveSampler } = await import('../../src/sampler/naive-sampler.js');
    const guided = reference.sampling.find((c) => c.name === 'guided')!;
    const naive = await new NaiveSampler(model.generator).generate(sequencesOf(guided));
    expect(naive.map((x) => Array.from(x))).toEqual(guided.tokens);
  });
});
