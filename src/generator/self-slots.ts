/**
 * Which self-attention slots a step graph reads, asked of an open session (slotsFor: float
 * KvSlots, or Int8KvSlots for kv8_probe.py's int8-cache graphs) or of the graph's file before
 * any session is open (the loader maps the first cache while the sessions load), and the step's
 * cache feeds from either kind.
 */
import { TesseraError } from '../errors.js';
import type { StepCacheLayout } from '../model/manifest.js';
import { readOnnx } from '../model/onnx-graph.js';
import type { ort } from '../model/runtime.js';
import { hostPastFeeds } from './device-kv.js';
import { Int8KvSlots } from './kv-slots-int8.js';
import { KvSlots, type CacheShape } from './kv-slots.js';

/** True when a step graph reads an int8 self-attention cache (scripts/perf/kv8_probe.py's variant). */
export function readsInt8Cache(step: ort.InferenceSession): boolean {
  return step.inputMetadata.some((m) => m.name === 'past_key_0' && m.isTensor && m.type === 'int8');
}

/**
 * The same question asked of a step graph's file before any session is open (the first cache
 * is mapped while the sessions load): kv8_probe.py's int8-cache graphs, and only they, take a
 * `past_key_scale_0` input. False when the file cannot be read as a graph (the loader's own
 * checks then say why).
 */
export function stepFileReadsInt8Cache(file: string): boolean {
  try {
    return readOnnx(file).inputs.includes('past_key_scale_0');
  } catch {
    return false;
  }
}

/** A generator's self-attention slots: float (KvSlots) or int8, as its step graph reads them. */
export type SelfSlots = KvSlots | Int8KvSlots;

/**
 * The slots a step graph reads: int8 when it declares int8 cache inputs, else KvSlots. An
 * int8 cache lives on the host only (device-kv.ts keeps float copies): with a device copy
 * it is refused, naming the step graph.
 */
export function slotsFor(step: ort.InferenceSession, hasDeviceCopy: boolean): (shape: CacheShape, rows: number, layout: StepCacheLayout, initialSlots: number) => SelfSlots {
  if (!readsInt8Cache(step)) return (shape, rows, layout, initialSlots) => new KvSlots(shape, rows, layout, initialSlots);
  if (hasDeviceCopy) throw new TesseraError('TESSERA_ERR_DEVICE', 'this step graph reads an int8 KV cache, which runs on the CPU only: use --device cpu, or the package\'s float-cache graphs', { param: 'device' });
  return (shape, rows, layout, initialSlots) => new Int8KvSlots(shape, rows, layout, initialSlots);
}

/** A step's past_* and attention_mask feeds from the host slots (views, no copy). */
export function selfPastFeeds(cache: SelfSlots): Record<string, ort.Tensor> {
  return cache instanceof Int8KvSlots ? cache.feeds() : hostPastFeeds(cache);
}
