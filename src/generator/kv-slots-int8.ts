/**
 * Per-row KV slots stored as int8 (issue 27, docs/benchmarks.md "An int8 KV cache"): the
 * same rows, slots, growth and row copies as KvSlots (kv-slots.ts), for a step graph whose
 * cache inputs are int8 (scripts/perf/kv8_probe.py): a quarter of the float cache's bytes, read
 * by MatMulInteger. Measured, it paid only while other processes shared the memory bus (1.1-1.2x
 * a Mini-shaped step) and not on a quiet machine (0.97-1.05x), so no package ships such a graph
 * yet (docs/benchmarks.md). Buffers, per layer (the step variant's input layouts):
 *   keys[l]        s8 [rows, heads, headDim, capacity]  (always transposed: q is MatMulInteger's one-row A)
 *   keyScales[l]   float [rows, heads, capacity]
 *   values[l]      s8 [rows, heads, capacity, headDim]
 *   valueScales[l] float [rows, heads, capacity]
 *   mask           float [rows, capacity]
 * Each entry (one row, head and slot: headDim numbers) is quantized on its own when it is
 * written, symmetric: scale = max |x| / 127, stored round(x / scale). An entry is never
 * requantized, so growth and row copies move bytes as they are.
 * The keys and values live in kv-buffers.ts' packed float blocks, viewed as bytes (when a
 * layer's bytes are a whole number of floats): released, they are this thread's spare for the
 * next cache, and the loader maps the first one ahead on another thread (int8KvSlotsFloats), as
 * for the float cache; before, each request's int8 cache was memory never touched.
 */
import { TesseraError } from '../errors.js';
import { DEFAULT_STEP_CACHE, type StepCacheLayout } from '../model/manifest.js';
import { ort } from '../model/runtime.js';
import type { RowCache } from './generator.js';
import { packedBuffers, releaseBuffers } from './kv-buffers.js';
import { slotsLaidOut, spread, type CacheShape } from './kv-slots.js';

/**
 * Math.round for |x| <= 127.5 (x + 0.5 floored, as Math.round), through int32 arithmetic: a double's
 * store into an Int8Array through Math.round measured twice as slow here (docs/benchmarks.md).
 */
export function round(x: number): number {
  return ((x + 128.5) | 0) - 128;
}

/** Quantizes source[from .. from + headDim) into target at `at`, `at + stride`, ...; returns the scale. */
export function quantizeEntry(source: Float32Array, from: number, headDim: number, target: Int8Array, at: number, stride: number): number {
  let max = 0;
  for (let d = 0; d < headDim; d++) max = Math.max(max, Math.abs(source[from + d]));
  const scale = max / 127; // an all-zero entry has scale 0 and reads as zeros
  const inverse = max > 0 ? 127 / max : 0; // as writeStep computes it
  for (let d = 0; d < headDim; d++) target[at + d * stride] = round(source[from + d] * inverse);
  return scale;
}

/** Copies `runs` runs of `from` items starting at `source[sourceAt]` into runs of `to` items at `target[targetAt]`, zeroing each run's tail. */
function copyRuns<T extends Int8Array | Float32Array>(source: T, sourceAt: number, target: T, targetAt: number, runs: number, from: number, to: number): void {
  for (let i = 0; i < runs; i++) {
    const s = sourceAt + i * from;
    const t = targetAt + i * to;
    target.set(source.subarray(s, s + from), t);
    target.fill(0, t + from, t + to);
  }
}

export class Int8KvSlots implements RowCache {
  readonly rows: number;
  readonly shape: CacheShape;
  /** Only `slots` matters ('all' or 'filled'): keys are always transposed here. */
  readonly layout: StepCacheLayout;
  capacity: number;
  keys: Int8Array[] = [];
  values: Int8Array[] = [];
  keyScales: Float32Array[] = [];
  valueScales: Float32Array[] = [];
  mask: Float32Array;
  version = 0;
  private storage: { keys: Int8Array[]; values: Int8Array[]; keyScales: Float32Array[]; valueScales: Float32Array[]; mask: Float32Array };
  /** The packed float blocks' views under the keys and values (empty when a layer's bytes are not whole floats). */
  private packed: Float32Array[] = [];
  private released = false;

  constructor(shape: CacheShape, rows: number, layout: StepCacheLayout = DEFAULT_STEP_CACHE, initialSlots = 1) {
    this.shape = shape;
    this.rows = rows;
    this.layout = layout;
    const size = rows * shape.heads * shape.slots * shape.headDim;
    const entries = rows * shape.heads * shape.slots;
    const each = <T>(make: () => T) => Array.from({ length: shape.layers }, make);
    const floats = int8KvSlotsFloats(shape, rows);
    // As KvSlots: a 'filled' cache's pages are mapped now (or were, as a spare), not one fault at a time inside the decode loop as rows grow.
    this.packed = floats === null ? [] : packedBuffers(floats.count, floats.size, layout.slots === 'filled'); // every layer's keys, then every layer's values
    const bytes = this.packed.map((view) => new Int8Array(view.buffer, view.byteOffset, size));
    this.storage = {
      keys: floats === null ? each(() => new Int8Array(size)) : bytes.slice(0, shape.layers),
      values: floats === null ? each(() => new Int8Array(size)) : bytes.slice(shape.layers),
      keyScales: each(() => new Float32Array(entries)),
      valueScales: each(() => new Float32Array(entries)),
      mask: new Float32Array(rows * shape.slots),
    };
    if (floats === null && layout.slots === 'filled') for (const buffer of [...this.storage.keys, ...this.storage.values]) for (let i = 0; i < buffer.length; i += 4096) buffer[i] = 0;
    this.capacity = slotsLaidOut(layout, shape.slots, initialSlots);
    this.mask = this.storage.mask;
    this.viewStorage();
  }

  private viewStorage(): void {
    const entries = this.rows * this.shape.heads * this.capacity;
    const size = entries * this.shape.headDim;
    this.keys = this.storage.keys.map((buffer) => buffer.subarray(0, size));
    this.values = this.storage.values.map((buffer) => buffer.subarray(0, size));
    this.keyScales = this.storage.keyScales.map((buffer) => buffer.subarray(0, entries));
    this.valueScales = this.storage.valueScales.map((buffer) => buffer.subarray(0, entries));
    this.mask = this.storage.mask.subarray(0, this.rows * this.capacity);
  }

  get keyDims(): number[] {
    return [this.rows, this.shape.heads, this.shape.headDim, this.capacity];
  }

  get valueDims(): number[] {
    return [this.rows, this.shape.heads, this.capacity, this.shape.headDim];
  }

  get scaleDims(): number[] {
    return [this.rows, this.shape.heads, this.capacity];
  }

  /** Sampling with this cache is over: its keys' and values' blocks go to this thread's next cache (kv-buffers.ts); later use throws. */
  release(): void {
    if (this.released) return;
    this.released = true;
    releaseBuffers(this.packed);
    this.packed = [];
    this.storage = { keys: [], values: [], keyScales: [], valueScales: [], mask: new Float32Array(0) };
    this.keys = [];
    this.values = [];
    this.keyScales = [];
    this.valueScales = [];
    this.mask = this.storage.mask;
  }

  /** Makes room for slots 0..slots-1 in every row (KvSlots.reserve: 'filled' grows by chunks, in place). */
  reserve(slots: number): void {
    if (this.released) throw new TesseraError('TESSERA_ERR_INTERNAL', 'a released KV cache was used again');
    if (slots > this.shape.slots) throw new RangeError(`a row has ${this.shape.slots} slots, ${slots} were asked for`);
    if (slots <= this.capacity) return;
    const capacity = slotsLaidOut(this.layout, this.shape.slots, slots);
    const { heads, headDim } = this.shape;
    for (let l = 0; l < this.shape.layers; l++) {
      spread(this.storage.keys[l], this.rows * heads * headDim, 1, this.capacity, capacity);
      spread(this.storage.values[l], this.rows * heads, headDim, this.capacity, capacity);
      spread(this.storage.keyScales[l], this.rows * heads, 1, this.capacity, capacity);
      spread(this.storage.valueScales[l], this.rows * heads, 1, this.capacity, capacity);
    }
    spread(this.storage.mask, this.rows, 1, this.capacity, capacity);
    this.capacity = capacity;
    this.version += 1;
    this.viewStorage();
  }

  /** Quantizes entry `from` of a float source ([.., D]) into (row, head, slot) of layer l. */
  private put(l: number, row: number, h: number, slot: number, keys: Float32Array, values: Float32Array, from: number): void {
    const { heads, headDim } = this.shape;
    const capacity = this.capacity;
    const entry = (row * heads + h) * capacity + slot;
    this.keyScales[l][entry] = quantizeEntry(keys, from, headDim, this.keys[l], (row * heads + h) * headDim * capacity + slot, capacity);
    this.valueScales[l][entry] = quantizeEntry(values, from, headDim, this.values[l], entry * headDim, 1);
  }

  /** A prefix from the prefill graph into `row`'s slots 0..length-1; present: float [L, P, H, length, D]. */
  writePrefix(row: number, presentKeys: Float32Array, presentValues: Float32Array, prefixRows: number, prefixRow: number, length: number): void {
    this.reserve(length);
    this.version += 1;
    const { layers, heads, headDim } = this.shape;
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < heads; h++) {
        const block = ((l * prefixRows + prefixRow) * heads + h) * length * headDim; // [length, D] block
        for (let t = 0; t < length; t++) this.put(l, row, h, t, presentKeys, presentValues, block + t * headDim);
      }
    }
    const capacity = this.capacity;
    this.mask.fill(0, row * capacity, (row + 1) * capacity);
    this.mask.fill(1, row * capacity, row * capacity + length);
  }

  /** One step's new entries (float [L, R, H, 1, D]) at each row's position, quantized. */
  writeStep(newKeys: Float32Array, newValues: Float32Array, positions: ArrayLike<number>): void {
    let furthest = 0;
    for (let r = 0; r < this.rows; r++) furthest = Math.max(furthest, positions[r] + 1);
    this.reserve(furthest);
    this.version += 1;
    const { layers, heads, headDim } = this.shape;
    const [rows, capacity] = [this.rows, this.capacity];
    // The hot loop of an int8 cache (every row, layer and head, every step): quantizeEntry inlined, one pass for the maxima.
    for (let l = 0; l < layers; l++) {
      const [keys, values, keyScales, valueScales] = [this.keys[l], this.values[l], this.keyScales[l], this.valueScales[l]];
      for (let r = 0; r < rows; r++) {
        const position = positions[r];
        for (let h = 0; h < heads; h++) {
          const from = ((l * rows + r) * heads + h) * headDim;
          let [kMax, vMax] = [0, 0];
          for (let d = 0; d < headDim; d++) {
            const k = newKeys[from + d];
            const v = newValues[from + d];
            kMax = Math.max(kMax, k < 0 ? -k : k);
            vMax = Math.max(vMax, v < 0 ? -v : v);
          }
          const entry = (r * heads + h) * capacity + position;
          keyScales[entry] = kMax / 127;
          valueScales[entry] = vMax / 127;
          const [kInverse, vInverse] = [kMax > 0 ? 127 / kMax : 0, vMax > 0 ? 127 / vMax : 0];
          const keyAt = (r * heads + h) * headDim * capacity + position; // [R, H, D, C]
          const valueAt = entry * headDim; // [R, H, C, D]
          for (let d = 0; d < headDim; d++) {
            keys[keyAt + d * capacity] = ((newKeys[from + d] * kInverse + 128.5) | 0) - 128; // round(): inlined by hand
            values[valueAt + d] = ((newValues[from + d] * vInverse + 128.5) | 0) - 128;
          }
        }
      }
    }
    for (let r = 0; r < rows; r++) this.mask[r * capacity + positions[r]] = 1;
  }

  /** Entry `sourceRow` of step outputs (float [L, sourceRows, H, 1, D]) into `row`'s slot `position` (KvSlots.writeEntry). */
  writeEntry(row: number, newKeys: Float32Array, newValues: Float32Array, sourceRows: number, sourceRow: number, position: number, reset = false): void {
    this.reserve(position + 1);
    this.version += 1;
    const { layers, heads, headDim } = this.shape;
    if (reset) this.mask.fill(0, row * this.capacity, (row + 1) * this.capacity);
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < heads; h++) this.put(l, row, h, position, newKeys, newValues, ((l * sourceRows + sourceRow) * heads + h) * headDim);
    }
    this.mask[row * this.capacity + position] = 1;
  }

  /** Copies `count` whole rows (bytes, scales, mask) from `from` (same shape and slot rule) at `fromRow` into this cache at `toRow`. */
  copyRows(from: RowCache, fromRow: number, toRow: number, count: number): void {
    if (!(from instanceof Int8KvSlots)) throw new TypeError('copyRows needs another Int8KvSlots');
    const { layers, heads, slots, headDim } = this.shape;
    const s = from.shape;
    if (s.layers !== layers || s.heads !== heads || s.slots !== slots || s.headDim !== headDim) throw new RangeError('copyRows needs caches of the same shape');
    if (from.layout.slots !== this.layout.slots) throw new RangeError('copyRows needs caches of the same layout');
    if (fromRow < 0 || toRow < 0 || fromRow + count > from.rows || toRow + count > this.rows) throw new RangeError('copyRows out of range');
    this.reserve(from.capacity);
    this.version += 1;
    const [old, capacity] = [from.capacity, this.capacity];
    // Every buffer is rows outermost, then runs of slots: keys heads * headDim runs of one slot each, values heads runs of headDim per slot.
    for (let l = 0; l < layers; l++) {
      const runs = count * heads;
      copyRuns(from.keys[l], fromRow * heads * headDim * old, this.keys[l], toRow * heads * headDim * capacity, runs * headDim, old, capacity);
      copyRuns(from.values[l], fromRow * heads * old * headDim, this.values[l], toRow * heads * capacity * headDim, runs, old * headDim, capacity * headDim);
      copyRuns(from.keyScales[l], fromRow * heads * old, this.keyScales[l], toRow * heads * capacity, runs, old, capacity);
      copyRuns(from.valueScales[l], fromRow * heads * old, this.valueScales[l], toRow * heads * capacity, runs, old, capacity);
    }
    copyRuns(from.mask, fromRow * old, this.mask, toRow * capacity, count, old, capacity);
  }

  /** The step graph's past_* feeds (int8 + scales) and attention_mask: views, no copy. */
  feeds(): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = { attention_mask: new ort.Tensor('float32', this.mask, [this.rows, this.capacity]) };
    for (let l = 0; l < this.shape.layers; l++) {
      feeds[`past_key_${l}`] = new ort.Tensor('int8', this.keys[l], this.keyDims); // [R, H, D, C]
      feeds[`past_key_scale_${l}`] = new ort.Tensor('float32', this.keyScales[l], this.scaleDims); // [R, H, C]
      feeds[`past_value_${l}`] = new ort.Tensor('int8', this.values[l], this.valueDims); // [R, H, C, D]
      feeds[`past_value_scale_${l}`] = new ort.Tensor('float32', this.valueScales[l], this.scaleDims);
    }
    return feeds;
  }
}

/**
 * The packed float blocks (kv-buffers.ts' packedBuffers) an Int8KvSlots of `rows` rows keeps its
 * keys and values in, each layer's bytes as floats: null when they are not a whole number of
 * floats (the cache then has arrays of its own).
 */
export function int8KvSlotsFloats(shape: CacheShape, rows: number): { count: number; size: number } | null {
  const bytes = rows * shape.heads * shape.slots * shape.headDim;
  return bytes % 4 === 0 ? { count: 2 * shape.layers, size: bytes / 4 } : null;
}
