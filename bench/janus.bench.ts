/**
 * Time and memory per image of a Janus package (issue 28), bounded: the 576 decode steps of
 * a Janus-Pro-1B-shaped package take minutes per candidate on a small CPU, so this runs the
 * prefill, `--steps` steps at the start of the grid and (where the cache fits in memory)
 * `--steps` steps at the end of it, and reports the image's time as prefill + the mean of
 * the two ends' median step times x 575 (the attention and the returned cache grow with
 * the position, linearly: the mean of both ends is the mid-grid figure).
 *
 *   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/janus/make_tiny_janus.py --shape pro-1b --out /tmp/janus-pro-1b
 *   node --import tsx bench/janus.bench.ts --model /tmp/janus-pro-1b --candidates 4 [--steps 4] [--precision fp32|int8] [--late] [--max-batch-rows N]
 *
 * One candidate count per process, so the peak resident memory printed is that run's.
 * Guidance 5 (the reference's): each candidate is two rows. With --max-batch-rows N the
 * candidates run as `tessera generate --max-batch-rows N` runs them (issue 28): in row
 * groups of at most N rows (src/sampler/row-groups.ts), one after another, each group
 * its own prefill, early and late steps; the call's time is the sum over the groups, and a
 * group's state is let go before the next group's prefill, as the pipeline does
 * (src/pipeline/sample-groups.ts). Prints the CPU first.
 */
import { parseArgs } from 'node:util';
import type { KvSlots } from '../src/generator/kv-slots.js';
import { Tessera } from '../src/pipeline/tessera.js';
import { checkMaxRows, rowGroups } from '../src/sampler/row-groups.js';
import type { SequenceSpec } from '../src/sampler/sequence.js';
import { cpuFlagsLine, machineLine, median } from './perf/machine.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    candidates: { type: 'string', default: '1' },
    steps: { type: 'string', default: '4' },
    precision: { type: 'string', default: 'fp32' },
    late: { type: 'boolean', default: false },
    'max-batch-rows': { type: 'string' },
  },
});
if (values.model === undefined) throw new Error('--model DIR (a Janus package) is required');
const candidates = Number(values.candidates);
const steps = Number(values.steps);
const maxRows = checkMaxRows(values['max-batch-rows'] === undefined ? undefined : Number(values['max-batch-rows']));
console.log(machineLine());
console.log(cpuFlagsLine());

const loadStarted = performance.now();
const tessera = await Tessera.load({ model: values.model, rerank: false, verify: false, precision: values.precision as 'fp32' | 'int8' });
const loadMs = performance.now() - loadStarted;
const { sampler, generator } = tessera.model;
const grid = generator.imageTokens;
const sequences = tessera.prepare({ prompt: 'a red fox sitting in the snow, photograph', seed: 1, candidateIndices: Array.from({ length: candidates }, (_, i) => i), guidanceScale: 5, rerank: false }).sequences;

/** What one row group measured. */
interface GroupFigures {
  candidates: number;
  rows: number;
  prefillMs: number;
  early: number[];
  late: number[];
  /** The group's first candidate's codes (for the image decode's timing). */
  codes: Int32Array;
}

/** One row group: its prefill, `steps` early steps and, with --late, `steps` steps at the end of the grid. */
async function measureGroup(group: readonly SequenceSpec[]): Promise<GroupFigures> {
  const prefillStarted = performance.now();
  const state = await sampler.prefill(group);
  const prefillMs = performance.now() - prefillStarted;
  sampler.sampleNext(state);
  const early: number[] = [];
  for (let i = 0; i < steps; i++) {
    const started = performance.now();
    await sampler.decodeStep(state);
    sampler.sampleNext(state);
    early.push(performance.now() - started);
  }
  const late: number[] = [];
  if (values.late) {
    // The end of the grid: every row's cache filled to position grid - steps - 1 (zeros do as well as keys for timing).
    const cache = state.cache as KvSlots;
    cache.reserve(generator.textLength + grid - 1);
    for (let i = 0; i < steps; i++) {
      const j = grid - steps - 1 + i;
      const started = performance.now();
      await generator.step(cache, new Int32Array(state.rows), new Int32Array(state.rows).fill(j));
      late.push(performance.now() - started);
    }
  }
  return { candidates: group.length, rows: state.rows, prefillMs, early, late, codes: state.codes[0]! };
}

/** A group's estimated time for a whole grid: prefill + the mean of both ends' median step times x (grid - 1). */
function groupSeconds(g: GroupFigures): number {
  // Medians: the first call at a new cache length pays onnxruntime's allocations once.
  const stepMs = g.late.length > 0 ? (median(g.early) + median(g.late)) / 2 : median(g.early);
  return (g.prefillMs + (grid - 1) * stepMs) / 1000;
}

const groups: GroupFigures[] = [];
for (const group of rowGroups(sequences, maxRows)) groups.push(await measureGroup(group));
const callS = groups.reduce((s, g) => s + groupSeconds(g), 0);
await tessera.model.vq.toPixels([groups[0]!.codes]); // warm
const vqStarted = performance.now();
await tessera.model.vq.toPixels([groups[0]!.codes]);
const vqMs = performance.now() - vqStarted;
const peakGb = process.resourceUsage().maxRSS / 1024 / 1024;
const round = (ms: number[]) => ms.map(Math.round);
const first = groups[0]!;
console.log(JSON.stringify({
  model: tessera.manifest.name, precision: tessera.model.precision.precision, candidates, rows: groups.reduce((s, g) => s + g.rows, 0), max_batch_rows: maxRows ?? null,
  load_s: +(loadMs / 1000).toFixed(1), prefill_ms: Math.round(groups.reduce((s, g) => s + g.prefillMs, 0)),
  // The first group's steps (all of them without a cap); every group's are in `groups`.
  early_step_ms: round(first.early), late_step_ms: round(first.late),
  image_decode_ms: Math.round(vqMs), est_s_per_call: +callS.toFixed(0), est_s_per_image: +(callS / candidates).toFixed(0),
  peak_rss_gb: +peakGb.toFixed(2), late_measured: first.late.length > 0,
  groups: groups.map((g) => ({ candidates: g.candidates, rows: g.rows, prefill_ms: Math.round(g.prefillMs), early_step_ms: round(g.early), late_step_ms: round(g.late), est_s: +groupSeconds(g).toFixed(1) })),
}));
