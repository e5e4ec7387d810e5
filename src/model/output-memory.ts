/**
 * Handing the memory of run outputs back to malloc soon after their last use.
 *
 * onnxruntime-node copies every output of a run into a new ArrayBuffer (preallocated
 * `fetches` are filled, and copied out again). That memory goes back to malloc only when V8
 * collects the ArrayBuffer object, and a sampling loop makes almost no JavaScript garbage, so
 * V8's young generation seldom fills and nothing is collected for many steps: every step's
 * outputs take memory the process has never touched. On this project's VMs a first touch
 * costs ~2-3 ms per MB (a 2 MiB huge page ~4 ms, docs/benchmarks.md "Output buffers"): a
 * 16-row step of the shipped model copies out 266 KB, and one step in eight ran 4 ms long.
 * So every COLLECT_EVERY_BYTES of outputs, the next run first asks V8 for a minor collection
 * (a scavenge, well under a millisecond with the young generation this loop leaves): the
 * outputs nothing holds any more are freed, and the next ones reuse their memory.
 *
 * V8's `gc` comes from Node's --expose-gc when the process has it, else it is taken once
 * per thread at run time as Jest does for --logHeapUsage (set the flag, read `gc` from a new
 * context). The flag stays set: setting it back could race a worker thread taking its own
 * (lanes load at the same time), and then new `vm` contexts also see a `gc` global.
 * TESSERA_OUTPUT_GC=0 turns the collections off.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { hostBytes, type ort } from './runtime.js';

/** Output bytes copied out between two requested collections. */
export const COLLECT_EVERY_BYTES = 1024 * 1024;

type MinorCollection = () => void;

/** Per thread (each worker has its own V8 heap and its own copy of this module). */
const state = { pendingBytes: 0, collections: 0, collect: undefined as MinorCollection | null | undefined };

function minorCollection(): MinorCollection | null {
  if (state.collect !== undefined) return state.collect;
  let gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc');
    } catch {
      gc = undefined;
    }
  }
  const call = typeof gc === 'function' ? (gc as (options: { type: 'minor' }) => void) : null;
  state.collect = call === null ? null : () => call({ type: 'minor' });
  return state.collect;
}

/** Sets up this thread's means of collecting now (a generator's load), so no step pays for it. */
export function prepareOutputCollection(): void {
  minorCollection();
}

/** Runs the collection when COLLECT_EVERY_BYTES of outputs were copied out since the last one. */
export function collectOutputsIfDue(): void {
  if (state.pendingBytes < COLLECT_EVERY_BYTES || process.env.TESSERA_OUTPUT_GC === '0') return;
  collectOutputsNow();
}

/**
 * A minor collection now, whatever was counted: benches timing one run at a time call it
 * between runs (untimed), so each run's copied-out outputs land in memory freed by the last
 * one instead of first-touched pages (bench/perf/ceiling.ts's products alone).
 */
export function collectOutputsNow(): void {
  state.pendingBytes = 0;
  const collect = minorCollection();
  if (collect === null) return;
  collect();
  state.collections += 1;
}

/** Counts the host bytes of a run's outputs (tensors left on a device cost the heap nothing). */
export function countOutputs(outputs: Record<string, ort.Tensor>): void {
  state.pendingBytes += hostBytes(Object.values(outputs));
}

/**
 * session.run for a loop's repeated runs (a sampling step): a due collection first (the
 * outputs of earlier runs, once used, are garbage by now), then the run, its outputs counted.
 */
export async function runCollected(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  fetches?: Record<string, ort.Tensor | null>,
): Promise<Record<string, ort.Tensor>> {
  collectOutputsIfDue();
  const out = (fetches === undefined ? await session.run(feeds) : await session.run(feeds, fetches)) as Record<string, ort.Tensor>;
  countOutputs(out);
  return out;
}

/** Collections requested in this thread so far (tests, benches). */
export function outputCollections(): number {
  return state.collections;
}
