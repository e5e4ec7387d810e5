import { afterEach, describe, expect, it } from 'vitest';
import { collectOutputsIfDue, COLLECT_EVERY_BYTES, countOutputs, outputCollections, runCollected } from '../../src/model/output-memory.js';
import { ort } from '../../src/model/runtime.js';

const outputs = (bytes: number) => ({ out: new ort.Tensor('float32', new Float32Array(bytes / 4), [bytes / 4]) });
const macrotask = () => new Promise((resolve) => setImmediate(resolve));

/** Leaves nothing pending: the next test starts its count from zero. */
function settle(): void {
  countOutputs(outputs(COLLECT_EVERY_BYTES));
  collectOutputsIfDue();
}

describe('output memory', () => {
  afterEach(() => {
    delete process.env.TESSERA_OUTPUT_GC;
  });

  it('asks for a collection once the outputs since the last one reach COLLECT_EVERY_BYTES', () => {
    settle();
    const before = outputCollections();
    countOutputs(outputs(COLLECT_EVERY_BYTES / 2));
    collectOutputsIfDue();
    expect(outputCollections()).toBe(before);
    countOutputs(outputs(COLLECT_EVERY_BYTES / 2 - 4));
    collectOutputsIfDue();
    expect(outputCollections()).toBe(before);
    countOutputs(outputs(4));
    collectOutputsIfDue();
    expect(outputCollections()).toBe(before + 1);
    collectOutputsIfDue(); // nothing new since
    expect(outputCollections()).toBe(before + 1);
  });

  it('does not count outputs left on a device', () => {
    settle();
    const before = outputCollections();
    const onDevice = { location: 'gpu-buffer', data: new Float32Array(COLLECT_EVERY_BYTES / 4) } as unknown as ort.Tensor;
    countOutputs({ keys: onDevice });
    collectOutputsIfDue();
    expect(outputCollections()).toBe(before);
  });

  it('TESSERA_OUTPUT_GC=0 turns the collections off', () => {
    settle();
    const before = outputCollections();
    process.env.TESSERA_OUTPUT_GC = '0';
    countOutputs(outputs(2 * COLLECT_EVERY_BYTES));
    collectOutputsIfDue();
    expect(outputCollections()).toBe(before);
  });

  it('frees the memory of outputs nothing holds any more', async () => {
    settle();
    const size = 8 * COLLECT_EVERY_BYTES;
    const held = outputs(16);
    let copied: ReturnType<typeof outputs> | null = outputs(size); // copied out and used
    countOutputs(copied);
    // Measured while still held: a collection V8 starts on its own (the 8 MiB are external memory it
    // watches) cannot free them before this (on Node 24 one did, and the difference read 67 KB).
    const before = process.memoryUsage().arrayBuffers;
    copied = null; // dropped (nothing reads it again)
    collectOutputsIfDue();
    // V8 sweeps array buffers after the scavenge, on a helper thread: give it a few turns.
    let after = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 50 && before - after < size; i++) {
      await macrotask();
      after = process.memoryUsage().arrayBuffers;
    }
    expect(before - after).toBeGreaterThanOrEqual(size);
    expect(held.out.data.length).toBe(4);
  });

  it('runCollected runs the session after a due collection and counts what it returns', async () => {
    settle();
    const before = outputCollections();
    const calls: { feeds: unknown; fetches: unknown }[] = [];
    const session = {
      run: async (feeds: unknown, fetches?: unknown) => {
        calls.push({ feeds, fetches });
        return outputs(COLLECT_EVERY_BYTES / 2);
      },
    } as unknown as ort.InferenceSession;
    const feeds = { x: new ort.Tensor('float32', new Float32Array(1), [1]) };
    await runCollected(session, feeds);
    await runCollected(session, feeds);
    expect(outputCollections()).toBe(before); // counted after each run: due before the third
    const fetches = { out: null };
    await runCollected(session, feeds, fetches);
    expect(outputCollections()).toBe(before + 1);
    expect(calls.map((c) => c.fetches)).toEqual([undefined, undefined, fetches]);
  });
});
