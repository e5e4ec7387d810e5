/**
 * Fixed per-row KV slots, preallocated once per batch: keys and values of shape
 * [layers, rows, heads, slots, headDim] (one [rows, heads, slots, headDim] slab per
 * layer) and an attention mask [rows, slots]. The step graph returns only the new
 * entries ([layers, rows, heads, 1, headDim]) and this class writes them in place:
 * onnxruntime-node copies every output into a new JS buffer, so returning the whole
 * grown cache each step would copy it all, every step.
 */
export interface CacheShape {
  layers: number;
  heads: number;
  slots: number;
  headDim: number;
}

export class KvSlots {
  readonly rows: number;
  readonly shape: CacheShape;
  readonly keys: Float32Array; // [L, R, H, S, D]
  readonly values: Float32Array; // [L, R, H, S, D]
  readonly mask: Float32Array; // [R, S]

  constructor(shape: CacheShape, rows: number) {
    this.shape = shape;
    this.rows = rows;
    const size = shape.layers * rows * shape.heads * shape.slots * shape.headDim;
    this.keys = new Float32Array(size);
    this.values = new Float32Array(size);
    this.mask = new Float32Array(rows * shape.slots);
  }

  /** Offset of (layer, row, head, slot 0) in keys/values. */
  private offset(layer: number, row: number, head: number): number {
    const { heads, slots, headDim } = this.shape;
    return (((layer * this.rows + row) * heads + head) * slots) * headDim;
  }

  /**
   * Copies a prefix computed by the prefill graph into `row`'s slots 0..length-1.
   * present: [L, P, H, length, D]; `prefixRow` selects P.
   */
  writePrefix(row: number, presentKeys: Float32Array, presentValues: Float32Array, prefixRows: number, prefixRow: number, length: number): void {
    const { layers, heads, headDim, slots } = this.shape;
    const block = length * headDim;
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < heads; h++) {
        const from = (((l * prefixRows + prefixRow) * heads + h) * length) * headDim;
        const to = this.offset(l, row, h);
        this.keys.set(presentKeys.subarray(from, from + block), to);
        this.values.set(presentValues.subarray(from, from + block), to);
      }
    }
    this.mask.fill(0, row * slots, (row + 1) * slots);
    this.mask.fill(1, row * slots, row * slots + length);
  }

  /** Writes one step's new entries ([L, R, H, 1, D]) at each row's position and marks them valid. */
  writeStep(newKeys: Float32Array, newValues: Float32Array, positions: ArrayLike<number>): void {
    const { layers, heads, headDim, slots } = this.shape;
    for (let l = 0; l < layers; l++) {
      for (let r = 0; r < this.rows; r++) {
        const position = positions[r];
        for (let h = 0; h < heads; h++) {
          const from = ((l * this.rows + r) * heads + h) * headDim;
          const to = this.offset(l, r, h) + position * headDim;
          this.keys.set(newKeys.subarray(from, from + headDim), to);
          this.values.set(newValues.subarray(from, from + headDim), to);
        }
      }
    }
    for (let r = 0; r < this.rows; r++) this.mask[r * slots + positions[r]] = 1;
  }
}
