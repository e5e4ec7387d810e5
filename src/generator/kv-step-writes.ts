/**
 * The per-step write loops of KvSlots (kv-slots.ts), one per key layout: each copies a
 * step's new entries ([L, R, H, 1, D]) into every row's slot at its position. They are
 * the hot loop of the cache (every row, every layer, every step), measured and tuned on
 * their own; kv-slots.ts keeps the layout, the growth and the rarer writes (prefix,
 * single entry, whole rows) and picks one of these per step.
 */
/** What a step write needs of the cache: its shape, rows, slots per row and the per-layer views. */
export interface StepTarget {
  readonly shape: { readonly layers: number; readonly heads: number; readonly headDim: number };
  readonly rows: number;
  readonly capacity: number;
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
}

/** Float64 views of the whole key and value storage of each layer. */
export interface WideViews {
  readonly keys: readonly Float64Array[];
  readonly values: readonly Float64Array[];
}

/**
 * Plain keys, copied as float64 pairs: half the loop iterations of a float32 copy and
 * no float conversions (1.1 vs 1.7-2.5 ms per step at 128 rows in a micro-benchmark
 * here). Bits are moved as they are: a double load/store does not touch the pattern
 * (only a NaN with its top mantissa bits set in the upper float could read as a
 * double NaN, and the model emits finite values).
 */
export function writeStepWide(cache: StepTarget, wide: WideViews, newKeys: Float32Array, newValues: Float32Array, positions: ArrayLike<number>): void {
  const { layers, heads, headDim } = cache.shape;
  const rows = cache.rows;
  const capacity = cache.capacity;
  const half = headDim / 2;
  const sourceKeys = new Float64Array(newKeys.buffer, newKeys.byteOffset, newKeys.length / 2); // [L, R, H, D/2]
  const sourceValues = new Float64Array(newValues.buffer, newValues.byteOffset, newValues.length / 2);
  for (let l = 0; l < layers; l++) {
    const keys = wide.keys[l]; // [R, H, C, D/2]
    const values = wide.values[l];
    for (let r = 0; r < rows; r++) {
      const position = positions[r];
      for (let h = 0; h < heads; h++) {
        const from = ((l * rows + r) * heads + h) * half;
        const at = ((r * heads + h) * capacity + position) * half;
        for (let d = 0; d < half; d++) keys[at + d] = sourceKeys[from + d];
        for (let d = 0; d < half; d++) values[at + d] = sourceValues[from + d];
      }
    }
  }
}

/**
 * Plain keys, float by float (a head size or an output offset that a float64 view cannot
 * take). The same loop as writeStepWide on float32 arrays: kept as its own function so each
 * stays monomorphic (one element type per access site) for V8.
 */
export function writeStepPlain(cache: StepTarget, newKeys: Float32Array, newValues: Float32Array, positions: ArrayLike<number>): void {
  const { layers, heads, headDim } = cache.shape;
  const rows = cache.rows;
  const capacity = cache.capacity;
  for (let l = 0; l < layers; l++) {
    const keys = cache.keys[l];
    const values = cache.values[l];
    for (let r = 0; r < rows; r++) {
      const position = positions[r];
      for (let h = 0; h < heads; h++) {
        const from = ((l * rows + r) * heads + h) * headDim;
        const at = ((r * heads + h) * capacity + position) * headDim;
        for (let d = 0; d < headDim; d++) keys[at + d] = newKeys[from + d];
        for (let d = 0; d < headDim; d++) values[at + d] = newValues[from + d];
      }
    }
  }
}

/** Transposed keys: D strided writes per (row, head), the reason for the plain layout (docs/model-package.md). */
export function writeStepTransposed(cache: StepTarget, newKeys: Float32Array, newValues: Float32Array, positions: ArrayLike<number>): void {
  const { layers, heads, headDim } = cache.shape;
  const rows = cache.rows;
  const capacity = cache.capacity;
  for (let l = 0; l < layers; l++) {
    const keys = cache.keys[l];
    const values = cache.values[l];
    for (let r = 0; r < rows; r++) {
      const position = positions[r];
      for (let h = 0; h < heads; h++) {
        const from = ((l * rows + r) * heads + h) * headDim;
        const base = (r * heads + h) * capacity * headDim;
        for (let d = 0; d < headDim; d++) keys[base + d * capacity + position] = newKeys[from + d];
        for (let d = 0; d < headDim; d++) values[base + position * headDim + d] = newValues[from + d];
      }
    }
  }
}
