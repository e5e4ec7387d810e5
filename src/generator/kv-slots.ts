/**
 * Per-row KV slots, shared by both generators (the decoder-only cache and the
 * encoder-decoder's self-attention), one buffer per layer, in the layout the package's
 * step graph takes (manifest `generator.cache`, docs/model-package.md):
 *   keys[l]   [rows, heads, headDim, capacity] ('transposed') or [rows, heads, capacity, headDim] ('plain')
 *   values[l] [rows, heads, capacity, headDim]
 *   mask      [rows, capacity]
 * The step graph returns only the new entries ([layers, rows, heads, 1, headDim]) and
 * this class writes them in place: onnxruntime-node copies every output into a new JS
 * buffer, so returning the whole grown cache each step would copy it all, every step.
 * One tensor per layer also spares the graph from slicing (copying) each layer out of a
 * stacked cache. The per-step write loops, one per key layout, are in kv-step-writes.ts.
 *
 * `capacity` is the number of slots laid out per row. With `slots: 'all'` it is the
 * manifest's maxLength from the start. With `slots: 'filled'` (a step graph whose slot
 * axis is dynamic) it starts small and `reserve` grows it in chunks of SLOT_CHUNK as
 * rows fill, so every step's attention reads only the slots filled so far, rounded up,
 * instead of all of them (issue 12; the same reason PyTorch samplers slice their
 * preallocated cache to the filled length). Growing re-lays the buffers out once per
 * chunk: a copy of the cache as it is, a few times per image.
 */
import { TesseraError } from '../errors.js';
import { DEFAULT_STEP_CACHE, type StepCacheLayout } from '../model/manifest.js';
import type { RowCache } from './generator.js';
import { packedBuffers, releaseBuffers } from './kv-buffers.js';
import { writeStepPlain, writeStepTransposed, writeStepWide, type WideViews } from './kv-step-writes.js';

export interface CacheShape {
  layers: number;
  heads: number;
  /** Slots a row can ever need (the manifest's maxLength). */
  slots: number;
  headDim: number;
}

/** Slots added per growth of a 'filled' cache: 16 keeps re-layouts to a few per image (docs/benchmarks.md). */
export const SLOT_CHUNK = 16;

/**
 * Re-lays `count` runs of `from` slots (each slot `width` floats) out as runs of `to`
 * slots, in place: the last run moves first, so no run is overwritten before it has
 * moved (every run moves towards the end). The new slots of each run are zeroed.
 * (Also the int8 cache's growth: kv-slots-int8.ts.)
 */
export function spread(buffer: Float32Array | Int8Array, count: number, width: number, from: number, to: number): void {
  const source = from * width;
  const target = to * width;
  for (let i = count - 1; i >= 0; i--) {
    buffer.copyWithin(i * target, i * source, i * source + source);
    buffer.fill(0, i * target + source, (i + 1) * target);
  }
}

/**
 * Slots a cache lays out per row when `needed` must fit: all `maxLength` for an 'all'
 * layout, else `needed` rounded up to a chunk (at least one chunk, at most maxLength).
 * Both generators' FLOP counts follow the same rule (src/generator/<architecture>/cost.ts).
 */
export function slotsLaidOut(layout: StepCacheLayout, maxLength: number, needed: number): number {
  if (layout.slots === 'all') return maxLength;
  return Math.min(maxLength, Math.max(SLOT_CHUNK, Math.ceil(needed / SLOT_CHUNK) * SLOT_CHUNK));
}

/** The float buffers a KvSlots of `rows` rows packs (packedBuffers): every layer's keys and values, `size` floats each. */
export const kvSlotsFloats = (shape: CacheShape, rows: number): { count: number; size: number } => ({ count: 2 * shape.layers, size: rows * shape.heads * shape.slots * shape.headDim });

export class KvSlots implements RowCache {
  readonly rows: number;
  readonly shape: CacheShape;
  readonly layout: StepCacheLayout;
  /** Slots laid out per row in every buffer. */
  capacity: number;
  /** Views of the first rows * heads * capacity * headDim floats of each layer's storage. */
  keys: Float32Array[];
  values: Float32Array[];
  /** [rows, capacity], a view of the mask's storage. */
  mask: Float32Array;
  /** Bumped by every write (prefix, step, entry, row copy, growth): a device copy of the cache is current while it matches (device-kv.ts). */
  version = 0;
  /** Full-size buffers (maxLength slots per row), allocated once; growing re-lays them out in place. */
  private storage: { keys: Float32Array[]; values: Float32Array[]; mask: Float32Array };
  private released = false;
  /** Float64 views of the key and value storage (whole buffers), for writeStepWide. */
  private wide: WideViews;

  /** `initialSlots`: slots the first writes will need (a 'filled' cache starts with that many, rounded up). */
  constructor(shape: CacheShape, rows: number, layout: StepCacheLayout = DEFAULT_STEP_CACHE, initialSlots = 1) {
    this.shape = shape;
    this.rows = rows;
    this.layout = layout;
    const { count, size } = kvSlotsFloats(shape, rows);
    // A 'filled' cache grows into storage no write has touched: mapped now, not a fault at a time inside the decode loop
    // (1.6 ms per step at 128 rows, measured); an 'all' cache's prefix copy maps it (PyTorch samplers zero theirs up front too).
    const buffers = packedBuffers(count, size, layout.slots === 'filled'); // every layer's keys, then every layer's values
    this.storage = {
      keys: buffers.slice(0, shape.layers),
      values: buffers.slice(shape.layers),
      mask: new Float32Array(rows * shape.slots),
    };
    // A float64 view needs an even float count: rows * heads * slots * headDim is even when headDim is.
    const even = shape.headDim % 2 === 0;
    this.wide = {
      keys: even ? this.storage.keys.map((b) => new Float64Array(b.buffer, b.byteOffset, b.length / 2)) : [],
      values: even ? this.storage.values.map((b) => new Float64Array(b.buffer, b.byteOffset, b.length / 2)) : [],
    };
    this.capacity = this.capacityFor(initialSlots);
    this.keys = [];
    this.values = [];
    this.mask = this.storage.mask;
    this.viewStorage();
  }

  private capacityFor(slots: number): number {
    return slotsLaidOut(this.layout, this.shape.slots, slots);
  }

  private viewStorage(): void {
    const size = this.rows * this.shape.heads * this.capacity * this.shape.headDim;
    this.keys = this.storage.keys.map((buffer) => buffer.subarray(0, size));
    this.values = this.storage.values.map((buffer) => buffer.subarray(0, size));
    this.mask = this.storage.mask.subarray(0, this.rows * this.capacity);
  }

  /** Sampling with this cache is over: its storage goes to this thread's next cache (kv-buffers.ts); later use throws. */
  release(): void {
    if (this.released) return;
    this.released = true;
    releaseBuffers([...this.storage.keys, ...this.storage.values]);
    this.storage = { keys: [], values: [], mask: new Float32Array(0) };
    this.wide = { keys: [], values: [] };
    this.keys = [];
    this.values = [];
    this.mask = this.storage.mask;
  }

  private assertLive(): void { if (this.released) throw new TesseraError('TESSERA_ERR_INTERNAL', 'a released KV cache was used again'); }

  /** The step graph's input dims for this cache's keys and values. */
  get keyDims(): number[] {
    const { heads, headDim } = this.shape;
    return this.layout.keys === 'transposed' ? [this.rows, heads, headDim, this.capacity] : [this.rows, heads, this.capacity, headDim];
  }

  get valueDims(): number[] {
    return [this.rows, this.shape.heads, this.capacity, this.shape.headDim];
  }

  /**
   * Makes room for slots 0..slots-1 in every row. A 'filled' cache grows to the next
   * chunk, moving what it holds into the wider layout inside its own storage (no
   * allocation); an 'all' cache always has room.
   */
  reserve(slots: number): void {
    this.assertLive();
    if (slots > this.shape.slots) throw new RangeError(`a row has ${this.shape.slots} slots, ${slots} were asked for`);
    if (slots <= this.capacity) return;
    const capacity = this.capacityFor(slots);
    const { heads, headDim } = this.shape;
    const keysSlotsLast = this.layout.keys === 'transposed';
    for (let l = 0; l < this.shape.layers; l++) {
      spread(this.storage.keys[l], keysSlotsLast ? this.rows * heads * headDim : this.rows * heads, keysSlotsLast ? 1 : headDim, this.capacity, capacity);
      spread(this.storage.values[l], this.rows * heads, headDim, this.capacity, capacity);
    }
    spread(this.storage.mask, this.rows, 1, this.capacity, capacity);
    this.capacity = capacity;
    this.version += 1;
    this.viewStorage();
  }

  /**
   * Copies a prefix computed by the prefill graph into `row`'s slots 0..length-1.
   * present: [L, P, H, length, D]; `prefixRow` selects P.
   */
  writePrefix(row: number, presentKeys: Float32Array, presentValues: Float32Array, prefixRows: number, prefixRow: number, length: number): void {
    this.reserve(length);
    this.version += 1;
    const { layers, heads, headDim } = this.shape;
    const capacity = this.capacity;
    const block = length * headDim;
    const transposed = this.layout.keys === 'transposed';
    for (let l = 0; l < layers; l++) {
      const keys = this.keys[l];
      const values = this.values[l];
      for (let h = 0; h < heads; h++) {
        const from = (((l * prefixRows + prefixRow) * heads + h) * length) * headDim; // [length, D] block
        const to = (row * heads + h) * capacity * headDim;
        values.set(presentValues.subarray(from, from + block), to);
        if (!transposed) {
          keys.set(presentKeys.subarray(from, from + block), to);
          continue;
        }
        for (let t = 0; t < length; t++) {
          for (let d = 0; d < headDim; d++) keys[to + d * capacity + t] = presentKeys[from + t * headDim + d];
        }
      }
    }
    this.mask.fill(0, row * capacity, (row + 1) * capacity);
    this.mask.fill(1, row * capacity, row * capacity + length);
  }

  /** Marks every slot of `row` empty (a row given a new text whose keys/values live outside the cache: text-slots.ts). */
  clearRow(row: number): void {
    this.assertLive();
    this.version += 1;
    this.mask.fill(0, row * this.capacity, (row + 1) * this.capacity);
  }

  /** Writes one step's new entries ([L, R, H, 1, D]) at each row's position and marks them valid. */
  writeStep(newKeys: Float32Array, newValues: Float32Array, positions: ArrayLike<number>): void {
    const rows = this.rows;
    let furthest = 0;
    for (let r = 0; r < rows; r++) furthest = Math.max(furthest, positions[r] + 1);
    this.reserve(furthest);
    this.version += 1;
    if (this.layout.keys === 'transposed') writeStepTransposed(this, newKeys, newValues, positions);
    else if (this.shape.headDim % 2 === 0 && newKeys.byteOffset % 8 === 0 && newValues.byteOffset % 8 === 0) writeStepWide(this, this.wide, newKeys, newValues, positions);
    else writeStepPlain(this, newKeys, newValues, positions);
    const capacity = this.capacity;
    for (let r = 0; r < rows; r++) this.mask[r * capacity + positions[r]] = 1;
  }

  /**
   * Writes entry `sourceRow` of step outputs ([L, sourceRows, H, 1, D]) into `row`'s slot
   * `position` and marks it valid; with `reset`, the row's other slots are marked empty first.
   */
  writeEntry(row: number, newKeys: Float32Array, newValues: Float32Array, sourceRows: number, sourceRow: number, position: number, reset = false): void {
    this.reserve(position + 1);
    this.version += 1;
    const { layers, heads, headDim } = this.shape;
    const capacity = this.capacity;
    if (reset) this.mask.fill(0, row * capacity, (row + 1) * capacity);
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < heads; h++) {
        const from = ((l * sourceRows + sourceRow) * heads + h) * headDim;
        const base = (row * heads + h) * capacity * headDim;
        for (let d = 0; d < headDim; d++) {
          this.keys[l][this.layout.keys === 'transposed' ? base + d * capacity + position : base + position * headDim + d] = newKeys[from + d];
          this.values[l][base + position * headDim + d] = newValues[from + d];
        }
      }
    }
    this.mask[row * capacity + position] = 1;
  }

  /**
   * Copies `count` whole rows (slots, mask) from `source` (same shape and layout) starting
   * at `fromRow` into this cache starting at `toRow`. Rows are the outermost dimension of
   * every buffer, so with equal capacities each layer is one contiguous copy; a source
   * with fewer slots laid out is copied into the wider layout, one with more first grows
   * this cache.
   */
  copyRows(from: RowCache, fromRow: number, toRow: number, count: number): void {
    const { layers, heads, slots, headDim } = this.shape;
    if (!(from instanceof KvSlots)) throw new TypeError('copyRows needs another KvSlots');
    const source = from;
    if (source.shape.layers !== layers || source.shape.heads !== heads || source.shape.slots !== slots || source.shape.headDim !== headDim) {
      throw new RangeError('copyRows needs caches of the same shape');
    }
    if (source.layout.keys !== this.layout.keys || source.layout.slots !== this.layout.slots) throw new RangeError('copyRows needs caches of the same layout');
    if (fromRow < 0 || toRow < 0 || fromRow + count > source.rows || toRow + count > this.rows) throw new RangeError('copyRows out of range');
    this.reserve(source.capacity);
    this.version += 1;
    const capacity = this.capacity;
    const old = source.capacity;
    if (old === capacity) {
      const row = heads * capacity * headDim;
      for (let l = 0; l < layers; l++) {
        this.keys[l].set(source.keys[l].subarray(fromRow * row, (fromRow + count) * row), toRow * row);
        this.values[l].set(source.values[l].subarray(fromRow * row, (fromRow + count) * row), toRow * row);
      }
      this.mask.set(source.mask.subarray(fromRow * capacity, (fromRow + count) * capacity), toRow * capacity);
      return;
    }
    const transposed = this.layout.keys === 'transposed';
    for (let i = 0; i < count; i++) {
      for (let l = 0; l < layers; l++) {
        for (let h = 0; h < heads; h++) {
          const src = ((fromRow + i) * heads + h) * old * headDim;
          const dst = ((toRow + i) * heads + h) * capacity * headDim;
          const block = this.values[l];
          block.set(source.values[l].subarray(src, src + old * headDim), dst);
          block.fill(0, dst + old * headDim, dst + capacity * headDim);
          if (!transposed) {
            this.keys[l].set(source.keys[l].subarray(src, src + old * headDim), dst);
            this.keys[l].fill(0, dst + old * headDim, dst + capacity * headDim);
            continue;
          }
          for (let d = 0; d < headDim; d++) {
            this.keys[l].set(source.keys[l].subarray(src + d * old, src + (d + 1) * old), dst + d * capacity);
            this.keys[l].fill(0, dst + d * capacity + old, dst + (d + 1) * capacity);
          }
        }
      }
      const to = (toRow + i) * capacity;
      this.mask.set(source.mask.subarray((fromRow + i) * old, (fromRow + i + 1) * old), to);
      this.mask.fill(0, to + old, to + capacity);
    }
  }
}
