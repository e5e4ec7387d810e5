/**
 * Fixed per-row KV slots, preallocated once per batch, one buffer per layer:
 * keys[l] is [rows, heads, headDim, slots] (stored transposed, so the step graph's
 * score product q·Kᵀ reads it as is, with no transpose copy) and values[l] is
 * [rows, heads, slots, headDim]; mask is [rows, slots]. The step graph returns only
 * the new entries ([layers, rows, heads, 1, headDim]) and this class writes them in
 * place: onnxruntime-node copies every output into a new JS buffer, so returning the
 * whole grown cache each step would copy it all, every step. One tensor per layer
 * also spares the graph from slicing (copying) each layer out of a stacked cache.
 */
import type { RowCache } from '../generator.js';

export interface CacheShape {
  layers: number;
  heads: number;
  slots: number;
  headDim: number;
}

export class KvSlots implements RowCache {
  readonly rows: number;
  readonly shape: CacheShape;
  readonly keys: Float32Array[]; // per layer [R, H, D, S]
  readonly values: Float32Array[]; // per layer [R, H, S, D]
  readonly mask: Float32Array; // [R, S]

  constructor(shape: CacheShape, rows: number) {
    this.shape = shape;
    this.rows = rows;
    const size = rows * shape.heads * shape.slots * shape.headDim;
    this.keys = Array.from({ length: shape.layers }, () => new Float32Array(size));
    this.values = Array.from({ length: shape.layers }, () => new Float32Array(size));
    this.mask = new Float32Array(rows * shape.slots);
  }

  /** Offset of (row, head) in a layer's buffer: the [D, S] or [S, D] block of that head. */
  private headOffset(row: number, head: number): number {
    const { heads, slots, headDim } = this.shape;
    return (row * heads + head) * slots * headDim;
  }

  /**
   * Copies a prefix computed by the prefill graph into `row`'s slots 0..length-1.
   * present: [L, P, H, length, D]; `prefixRow` selects P.
   */
  writePrefix(row: number, presentKeys: Float32Array, presentValues: Float32Array, prefixRows: number, prefixRow: number, length: number): void {
    const { layers, heads, headDim, slots } = this.shape;
    const block = length * headDim;
    for (let l = 0; l < layers; l++) {
      const keys = this.keys[l];
      const values = this.values[l];
      for (let h = 0; h < heads; h++) {
        const from = (((l * prefixRows + prefixRow) * heads + h) * length) * headDim; // [length, D] block
        const to = this.headOffset(row, h);
        values.set(presentValues.subarray(from, from + block), to);
        for (let t = 0; t < length; t++) {
          for (let d = 0; d < headDim; d++) keys[to + d * slots + t] = presentKeys[from + t * headDim + d];
        }
      }
    }
    this.mask.fill(0, row * slots, (row + 1) * slots);
    this.mask.fill(1, row * slots, row * slots + length);
  }

  /** Writes one step's new entries ([L, R, H, 1, D]) at each row's position and marks them valid. */
  writeStep(newKeys: Float32Array, newValues: Float32Array, positions: ArrayLike<number>): void {
    const { layers, heads, headDim, slots } = this.shape;
    const rows = this.rows;
    for (let l = 0; l < layers; l++) {
      const keys = this.keys[l];
      const values = this.values[l];
      for (let r = 0; r < rows; r++) {
        const position = positions[r];
        for (let h = 0; h < heads; h++) {
          const from = ((l * rows + r) * heads + h) * headDim;
          const base = this.headOffset(r, h);
          const valueAt = base + position * headDim;
          for (let d = 0; d < headDim; d++) {
            keys[base + d * slots + position] = newKeys[from + d];
            values[valueAt + d] = newValues[from + d];
          }
        }
      }
    }
    for (let r = 0; r < rows; r++) this.mask[r * slots + positions[r]] = 1;
  }

  /**
   * Writes entry `sourceRow` of step outputs ([L, sourceRows, H, 1, D]) into `row`'s slot
   * `position` and marks it valid; with `reset`, the row's other slots are marked empty first.
   */
  writeEntry(row: number, newKeys: Float32Array, newValues: Float32Array, sourceRows: number, sourceRow: number, position: number, reset = false): void {
    const { layers, heads, headDim, slots } = this.shape;
    if (reset) this.mask.fill(0, row * slots, (row + 1) * slots);
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < heads; h++) {
        const from = ((l * sourceRows + sourceRow) * heads + h) * headDim;
        const base = this.headOffset(row, h);
        for (let d = 0; d < headDim; d++) {
          this.keys[l][base + d * slots + position] = newKeys[from + d];
          this.values[l][base + position * headDim + d] = newValues[from + d];
        }
      }
    }
    this.mask[row * slots + position] = 1;
  }

  /**
   * Copies `count` whole rows (slots, mask) from `source` (same shape) starting at
   * `fromRow` into this cache starting at `toRow`. Rows are the outermost dimension of
   * every buffer, so each layer is one contiguous copy.
   */
  copyRows(from: RowCache, fromRow: number, toRow: number, count: number): void {
    const { layers, heads, slots, headDim } = this.shape;
    if (!(from instanceof KvSlots)) throw new TypeError('copyRows needs another KvSlots');
    const source = from;
    if (source.shape.layers !== layers || source.shape.heads !== heads || source.shape.slots !== slots || source.shape.headDim !== headDim) {
      throw new RangeError('copyRows needs caches of the same shape');
    }
    if (fromRow < 0 || toRow < 0 || fromRow + count > source.rows || toRow + count > this.rows) throw new RangeError('copyRows out of range');
    const row = heads * slots * headDim;
    for (let l = 0; l < layers; l++) {
      this.keys[l].set(source.keys[l].subarray(fromRow * row, (fromRow + count) * row), toRow * row);
      this.values[l].set(source.values[l].subarray(fromRow * row, (fromRow + count) * row), toRow * row);
    }
    this.mask.set(source.mask.subarray(fromRow * slots, (fromRow + count) * slots), toRow * slots);
  }
}
