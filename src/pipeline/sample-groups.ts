/**
 * How `Tessera.generateMany` drives its BatchSampler: the run's sequences as one batch,
 * or, under a row cap (`maxRows`, the CLI's `--max-batch-rows`; issue 28), in row groups
 * (src/sampler/row-groups.ts) sampled one after another: each group prefills and decodes
 * every image position, and its cache is let go before the next one is allocated. The
 * codes come back in the run's order and equal the ungrouped ones (a candidate's random
 * stream is its own); the time is the groups' sum, the memory the largest group's.
 *
 * Events over the whole run: one 'start' (rows: the largest group's, steps: image tokens
 * x groups), then 'step' i x tokens + done of groups x tokens for group i, and previews
 * only while the first group samples (GenerationRun.token).
 */
import type { GenerationRun, SamplingDone } from './run.js';
import type { BatchSampler, BatchState, SequenceSpec } from '../sampler/sampler.js';
import { rowGroups } from '../sampler/row-groups.js';
import { rowsFor } from '../sampler/sequence.js';

/** How one run is sampled: the row cap (none: one batch) and the cancel signal. */
export interface GroupSampling {
  maxRows?: number;
  signal?: AbortSignal;
}

/** Samples every sequence of `run` in row groups of at most `maxRows` rows; the codes in the run's order and the prefills' summed time. */
export async function sampleInGroups(sampler: BatchSampler, run: GenerationRun, options: GroupSampling = {}): Promise<SamplingDone> {
  const groups = rowGroups(run.sequences, options.maxRows);
  const widest = Math.max(...groups.map((g) => rowsFor(g)));
  const codes: Int32Array[] = [];
  let prefillMs = 0;
  for (const [index, sequences] of groups.entries()) {
    const sampled = await sampleGroup(sampler, run, sequences, { index, count: groups.length, widest }, options.signal);
    codes.push(...sampled.codes);
    prefillMs += sampled.prefillMs;
  }
  // The footprint counts a prefill and the weights' reads per group (GenerationRun.footprints).
  return groups.length === 1 ? { codes, prefillMs } : { codes, prefillMs, groups: groups.map((g) => g.length) };
}

/**
 * One group, prefill to last token. Its BatchState (the KV cache) lives only in this
 * call, so it is garbage before the next group allocates: held in the caller's loop
 * across the next prefill's await, two groups' caches were resident at once
 * (bench/row-groups-memory.bench.ts, two groups of a 0.63 GB cache: peak 1.32 GB held,
 * 0.70 GB this way; Node 20, 2026-12-05). The cache is freed by V8's next major GC:
 * at small sizes that can come after the next allocation (see the bench's notes).
 */
async function sampleGroup(
  sampler: BatchSampler,
  run: GenerationRun,
  sequences: readonly SequenceSpec[],
  group: { index: number; count: number; widest: number },
  signal?: AbortSignal,
): Promise<{ codes: Int32Array[]; prefillMs: number }> {
  const before = sampler.stats.prefillMs;
  const state = await sampler.prefill(sequences);
  const prefillMs = sampler.stats.prefillMs - before;
  if (group.index === 0) run.start(group.widest, sampler.imageTokens * group.count);
  else run.resume();
  await decodeGroup(sampler, run, state, { index: group.index, count: group.count }, signal);
  return { codes: state.codes, prefillMs };
}

/** Samples every image position of one group, each token reported to the run as the group's. */
async function decodeGroup(sampler: BatchSampler, run: GenerationRun, state: BatchState, group: { index: number; count: number }, signal?: AbortSignal): Promise<void> {
  await sampler.decodeSteps(state, sampler.imageTokens, {
    signal,
    onStep: (progress) => run.token({ ...progress, group }),
  });
}
