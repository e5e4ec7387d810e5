import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../src/pipeline/loader.js';
import { ContinuousBatch, rowsFor, type FinishedGroup, type StepReport } from '../../src/sampler/continuous.js';
import { KvSlots } from '../../src/generator/kv-slots.js';
import { loadReference, TINY_MODEL, sequencesOf } from '../helpers/tiny.js';

const reference = loadReference();
const byName = (name: string) => reference.sampling.find((c) => c.name === name)!;
let model: LoadedModel;

beforeAll(async () => {
  model = await loadModel({ model: TINY_MODEL, rerank: false });
});

const asArrays = (codes: Int32Array[]) => codes.map((x) => Array.from(x));

/** Steps until `until` holds or the batch is empty; collects every report. */
async function stepUntil(batch: ContinuousBatch, until: (reports: StepReport[]) => boolean = () => false): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  while (batch.size > 0 && !until(reports)) reports.push(await batch.step());
  return reports;
}

const finishedOf = (reports: StepReport[]) => new Map<string, FinishedGroup>(reports.flatMap((r) => r.finished.map((f) => [f.id, f] as const)));

describe('KvSlots.copyRows', () => {
  it('copies whole rows (keys, values, mask) between caches of one shape', () => {
    const shape = { layers: 2, heads: 2, slots: 3, headDim: 2 };
    const a = new KvSlots(shape, 2);
    a.keys[1].forEach((_, i) => (a.keys[1][i] = i));
    a.values[0].forEach((_, i) => (a.values[0][i] = -i));
    a.mask.set([1, 0, 0, 1, 1, 0]);
    const b = new KvSlots(shape, 3);
    b.copyRows(a, 1, 2, 1);
    const row = 2 * 3 * 2;
    expect(Array.from(b.keys[1].subarray(2 * row))).toEqual(Array.from(a.keys[1].subarray(row)));
    expect(Array.from(b.values[0].subarray(2 * row))).toEqual(Array.from(a.values[0].subarray(row)));
    expect(Array.from(b.mask)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 0]);
    expect(() => b.copyRows(a, 1, 2, 2)).toThrow(RangeError);
  });
});

describe('continuous batching', () => {
  it('a single group reproduces the pinned reference tokens', async () => {
    for (const name of ['plain', 'guided', 'negative']) {
      const c = byName(name);
      const batch = new ContinuousBatch(model.sampler);
      await batch.admit(name, sequencesOf(c));
      const finished = finishedOf(await stepUntil(batch));
      expect(asArrays(finished.get(name)!.codes), name).toEqual(c.tokens);
    }
  });

  it('a group admitted mid-way samples exactly its tokens alone; rows per step grow and shrink', async () => {
    const plain = byName('plain');
    const guided = byName('guided');
    const total = model.manifest.image.grid.height * model.manifest.image.grid.width;
    const batch = new ContinuousBatch(model.sampler);
    const first = await batch.admit('plain', sequencesOf(plain));
    expect(first).toMatchObject({ tokensDone: 1, rows: 3 });
    const before = await stepUntil(batch, (r) => r.length === 20);
    expect(before.every((r) => r.rows === 3)).toBe(true);
    // 21 tokens into 'plain', 'guided' joins: its rows run at other positions in the same steps.
    const joined = await batch.admit('guided', sequencesOf(guided));
    expect(joined.tokensDone).toBe(1);
    expect(batch.rows).toBe(3 + rowsFor(sequencesOf(guided)));
    const after = await stepUntil(batch);
    const rows = after.map((r) => r.rows).filter((n) => n > 0);
    expect(rows[0]).toBe(7); // 3 plain rows + 2 guided candidates and their 2 unconditional twins
    expect(rows.at(-1)).toBe(4); // 'plain' finished first; 'guided' runs on alone
    expect(rows.filter((n) => n === 7)).toHaveLength(total - 21);
    const finished = finishedOf([...before, ...after]);
    expect(asArrays(finished.get('plain')!.codes)).toEqual(plain.tokens);
    expect(asArrays(finished.get('guided')!.codes)).toEqual(guided.tokens);
    expect(finished.get('guided')!.maxRows).toBe(7);
    expect(finished.get('guided')!.sharedSteps).toBe(total - 21);
    expect(batch.stats.maxRows).toBe(7);
    expect(batch.size).toBe(0);
    expect(batch.rows).toBe(0);
  });

  it('three groups with staggered admission each match their own run alone', async () => {
    const guided = byName('guided');
    const negative = byName('negative');
    const alone = await model.sampler.generate(sequencesOf(guided, [5]));
    const batch = new ContinuousBatch(model.sampler);
    await batch.admit('a', sequencesOf(negative));
    await stepUntil(batch, (r) => r.length === 5);
    await batch.admit('b', sequencesOf(guided, [5]));
    const mid = await stepUntil(batch, (r) => r.length === 30);
    await batch.admit('c', sequencesOf(guided));
    const rest = await stepUntil(batch);
    const finished = finishedOf([...mid, ...rest]);
    expect(asArrays(finished.get('a')!.codes)).toEqual(negative.tokens);
    expect(asArrays(finished.get('b')!.codes)).toEqual(asArrays(alone));
    expect(asArrays(finished.get('c')!.codes)).toEqual(guided.tokens);
    expect(batch.stats.maxRows).toBe(2 + 2 + 4);
  });

  it('a cancelled group is dropped between steps; the others are unaffected', async () => {
    const plain = byName('plain');
    const guided = byName('guided');
    const batch = new ContinuousBatch(model.sampler);
    const controller = new AbortController();
    await batch.admit('doomed', sequencesOf(guided), controller.signal);
    await batch.admit('plain', sequencesOf(plain));
    await stepUntil(batch, (r) => r.length === 10);
    expect(batch.rows).toBe(7);
    controller.abort('user');
    const next = await batch.step();
    expect(next.cancelled).toEqual([{ id: 'doomed', reason: 'user' }]);
    expect(next.rows).toBe(3);
    expect(next.advanced.map((a) => a.id)).toEqual(['plain']);
    expect(batch.ids).toEqual(['plain']);
    const finished = finishedOf(await stepUntil(batch));
    expect(asArrays(finished.get('plain')!.codes)).toEqual(plain.tokens);
    // remove() drops a group at once.
    await batch.admit('x', sequencesOf(plain, [0]));
    expect(batch.remove('x')).toBe(true);
    expect(batch.remove('x')).toBe(false);
    expect(batch.rows).toBe(0);
    await expect(batch.admit('y', [])).rejects.toThrow(/at least one/);
  });
});
