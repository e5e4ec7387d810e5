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
 *
 * With sampling lanes (lanes.ts), each group's sequences are split once more into parts
 * sampled at the same time, one per lane; the run counts each part as a group of its own
 * for its footprint (each lane runs its prefill and reads the weights every step).
 */
import { laneParts, type SamplingLanes } from './lanes.js';
import type { GenerationRun, SamplingDone } from './run.js';
import type { BatchSampler, BatchState, SequenceSpec } from '../sampler/sampler.js';
import { rowGroups } from '../sampler/row-groups.js';
import { rowsFor } from '../sampler/sequence.js';

/** How one run is sampled: the row cap (none: one batch), the lanes beside the sampler, and the cancel signal. */
export interface GroupSampling {
  maxRows?: number;
  lanes?: SamplingLanes | null;
  signal?: AbortSignal;
}

/** Samples every sequence of `run` in row groups of at most `maxRows` rows; the codes in the run's order and the prefills' summed time. */
export async function sampleInGroups(sampler: BatchSampler, run: GenerationRun, options: GroupSampling = {}): Promise<SamplingDone> {
  const groups = rowGroups(run.sequences, options.maxRows);
  const widest = Math.max(...groups.map((g) => rowsFor(g)));
  const codes: Int32Array[] = [];
  const parts: number[] = [];
  let prefillMs = 0;
  const lanes = options.lanes ?? null;
  for (const [index, sequences] of groups.entries()) {
    const group = { index, count: groups.length, widest };
    const split = lanes === null ? [sequences] : laneParts(sequences, lanes.count);
    const sampled = split.length > 1 ? await sampleLanes(sampler, lanes!, run, split, group, options.signal) : await sampleGroup(sampler, run, sequences, group, options.signal);
    codes.push(...sampled.codes);
    prefillMs += sampled.prefillMs;
    parts.push(...(sampled.parts ?? [sequences.length]));
  }
  // The footprint counts a prefill and the weights' reads per group (GenerationRun.footprints), and per lane.
  return parts.length === 1 ? { codes, prefillMs } : { codes, prefillMs, groups: parts };
}

/** One group split over the lanes, prefill to last token; events as sampleGroup's. */
async function sampleLanes(
  sampler: BatchSampler,
  lanes: SamplingLanes,
  run: GenerationRun,
  parts: readonly (readonly SequenceSpec[])[],
  group: { index: number; count: number; widest: number },
  signal?: AbortSignal,
): Promise<{ codes: Int32Array[]; prefillMs: number; parts: number[] }> {
  const sampled = await lanes.sample(sampler, parts, {
    signal,
    onPrefilled: () => (group.index === 0 ? run.start(group.widest, sampler.imageTokens * group.count) : run.resume()),
    onStep: (progress) => run.token({ ...progress, group: { index: group.index, count: group.count } }),
  });
  return { ...sampled, parts: parts.map((p) => p.length) };
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
): Promise<{ codes: Int32Array[]; prefillMs: number; parts?: number[] }> {
  const before = sampler.stats.prefillMs;
  const state = await sampler.prefill(sequences);
  const prefillMs = sampler.stats.prefillMs - before;
  if (group.index === 0) run.start(group.widest, sampler.imageTokens * group.count);
  else run.resume();
  await decodeGroup(sampler, run, state, { index: group.index, count: group.count }, signal);
  sampler.release(state);
  return { codes: state.codes, prefillMs };
}

/** Samples every image position of one group, each token reported to the run as the group's. */
async function decodeGroup(sampler: BatchSampler, run: GenerationRun, state: BatchState, group: { index: number; count: number }, signal?: AbortSignal): Promise<void> {
  await sampler.decodeSteps(state, sampler.imageTokens, {
    signal,
    onStep: (progress) => run.token({ ...progress, group }),
  });
}
