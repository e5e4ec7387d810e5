/**
 * Peak resident memory of row groups (issue 28) through the pipeline's own driver
 * (src/pipeline/sample-groups.ts, sampleInGroups) over a stand-in sampler whose prefill
 * allocates and touches a KV cache of `--mb-per-row` MB per row, as a Janus-Pro-1B batch does
 * (about 0.5 GB per row at the grid's end). It shows whether a finished group's cache is
 * let go before the next group allocates: the peak should be one group's cache over the
 * baseline, not two. No model is loaded; the sampling is a stand-in, the memory is real.
 *
 *   node --import tsx bench/row-groups-memory.bench.ts --candidates 6 --mb-per-row 40 [--max-batch-rows 4]
 *
 * One setting per process, so the peak resident memory printed is that run's.
 *
 * 2026-12-05, 2 x AMD EPYC (family 26), Node 20.20, load average 3.4-3.8 (shared machine): two groups of a
 * 0.63 GB cache (--candidates 2 --mb-per-row 320 --max-batch-rows 2) peaked at 0.70 GB,
 * three runs alike (baseline 0.07 + one group); with the group's state held in the loop
 * across the next prefill (the first version), 1.32 GB, two groups. The buffers are
 * external memory freed by a major GC, which V8 forces only under enough pressure: with
 * small groups (--candidates 3 --mb-per-row 150 --max-batch-rows 2, 0.29 GB a group) three
 * runs peaked at 0.38, 0.66 and 0.37 GB: sometimes two groups.
 */
import { parseArgs } from 'node:util';
import type { GenerationRun } from '../src/pipeline/run.js';
import { sampleInGroups } from '../src/pipeline/sample-groups.js';
import { checkMaxRows, rowGroups } from '../src/sampler/row-groups.js';
import type { BatchSampler, SampleOptions, SequenceSpec } from '../src/sampler/sampler.js';
import { rowsFor } from '../src/sampler/sequence.js';
import { cpuFlagsLine, machineLine } from './perf/machine.js';

const { values } = parseArgs({
  options: { candidates: { type: 'string', default: '6' }, 'mb-per-row': { type: 'string', default: '40' }, 'max-batch-rows': { type: 'string' } },
});
const candidates = Number(values.candidates);
const bytesPerRow = Number(values['mb-per-row']) * 1024 * 1024;
const maxRows = checkMaxRows(values['max-batch-rows'] === undefined ? undefined : Number(values['max-batch-rows']));
const LAYERS = 8;
const TOKENS = 8;

/** A stand-in state: the cache's buffers (LAYERS keys and values) and the codes. */
interface StandInState {
  rows: number;
  cache: Float32Array[];
  codes: Int32Array[];
  tokensDone: number;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What sampleInGroups asks of a BatchSampler; every step writes the whole cache (its pages resident). */
const sampler = {
  imageTokens: TOKENS,
  stats: { prefillMs: 0 },
  async prefill(sequences: readonly SequenceSpec[]): Promise<StandInState> {
    await tick();
    const rows = rowsFor(sequences);
    const cache = Array.from({ length: 2 * LAYERS }, () => new Float32Array((rows * bytesPerRow) / 4 / (2 * LAYERS))); // [R, H, C, D] per layer, flattened
    return { rows, cache, codes: sequences.map(() => new Int32Array(TOKENS)), tokensDone: 0 };
  },
  async decodeSteps(state: StandInState, count: number, options: SampleOptions = {}): Promise<void> {
    for (let t = 0; t < count; t++) {
      for (const buffer of state.cache) buffer.fill(t);
      state.tokensDone += 1;
      for (const codes of state.codes) codes[t] = t;
      await options.onStep?.({ tokensDone: state.tokensDone, tokensTotal: TOKENS, codes: state.codes });
      await tick();
    }
  },
};
const sequences: SequenceSpec[] = Array.from({ length: candidates }, (_, candidateIndex) => ({
  textIds: [1],
  unconditionalIds: [0],
  guidanceScale: 5,
  seed: 1,
  candidateIndex,
  processors: { temperature: 1, topK: 0, topP: 1 },
}));
const run = { sequences, start() {}, resume() {}, async token() {} };

console.log(machineLine());
console.log(cpuFlagsLine());
const baseline = process.memoryUsage().rss;
const done = await sampleInGroups(sampler as unknown as BatchSampler, run as unknown as GenerationRun, { maxRows });
const groups = rowGroups(sequences, maxRows);
const gb = (bytes: number) => +(bytes / 1024 ** 3).toFixed(2);
console.log(JSON.stringify({
  candidates, rows: rowsFor(sequences), max_batch_rows: maxRows ?? null, groups: groups.map((g) => rowsFor(g)), codes: done.codes.length,
  baseline_rss_gb: gb(baseline), largest_group_cache_gb: gb(Math.max(...groups.map((g) => rowsFor(g))) * bytesPerRow),
  peak_rss_gb: gb(process.resourceUsage().maxRSS * 1024),
}));
