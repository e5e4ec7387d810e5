/**
 * An int8 copy of the index's vectors for a first, cheap pass of every query. A flat
 * scan of float32 rows is memory-bound (100k × 128 floats = 51 MB read per query, about
 * 5 ms at best on this project's machine and several times that when other processes
 * share the memory bus); int8 rows are a quarter of the bytes, and wasm SIMD multiplies
 * 16 of them per instruction pair (i32x4.dot_i16x8_s on widened halves).
 *
 * Exactness: each row x is stored as s_x·x̂ (x̂ int8, s_x = max|x_i|/127), the query q
 * as s_q·q̂. Per coordinate, q_i·x_i − s_q q̂_i·s_x x̂_i = s_q q̂_i (x_i − s_x x̂_i) + (q_i − s_q q̂_i) x_i,
 * so the approximate dot is within  err_x = (s_x/2)·Σ|s_q q̂_i| + (s_q/2)·‖x‖₁  of the
 * exact one. Every row whose upper bound reaches the k-th best lower bound is then
 * scored exactly in float32: the top k found is the exact top k (the quantisation only
 * decides which rows are worth an exact look). This is the usual quantise-then-rerank
 * scheme of vector search (e.g. FAISS's IndexScalarQuantizer with a refine step), with
 * a proven bound instead of a tuned candidate count.
 */
import { compileOrNull, growTo, instantiate, kernelModule, op, type Kernel, type WasmMemory, type WasmModule } from './wasm.js';

/**
 * dots8(mat, count, dim, q, out): out[r] = Σ_i mat[r*dim + i] * q[i] over int8 values,
 * as int32 (byte addresses; dim a multiple of 16). Text form:
 *   loop over rows { acc = 0; for i in 0..dim step 16 { x = load(mat+i); y = load(q+i);
 *   acc += dot(lo(x), lo(y)) + dot(hi(x), hi(y)) } out[row] = hsum(acc); mat += dim }
 */
function kernel8(): Uint8Array {
  const { get, set, i32, simd } = op;
  const [MAT, COUNT, DIM, Q, OUT, ROW, I, ACC, X, Y] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const load = (base: number): number[] => [...get(base), ...get(I), 0x6a, ...simd(0x00, 0x00, 0x00)]; // v128.load align=1
  const dotHalf = (extend: number): number[] => [...get(X), ...simd(extend), ...get(Y), ...simd(extend), ...simd(0xba)]; // i32x4.dot_i16x8_s
  const lane = (n: number): number[] => [...get(ACC), ...simd(0x1b, n)]; // i32x4.extract_lane
  const body = [
    0x02, 0x40, 0x03, 0x40, // block, loop (rows)
    ...get(ROW), ...get(COUNT), 0x4f, 0x0d, 1, // row >= count: leave
    ...simd(0x0c, ...new Array<number>(16).fill(0)), ...set(ACC), ...i32(0), ...set(I),
    0x02, 0x40, 0x03, 0x40, // block, loop (16 values at a time)
    ...get(I), ...get(DIM), 0x4f, 0x0d, 1,
    ...load(MAT), ...set(X), ...load(Q), ...set(Y),
    ...get(ACC), ...dotHalf(0x87), ...simd(0xae), ...dotHalf(0x88), ...simd(0xae), ...set(ACC), // extend_low/high_i8x16_s, i32x4.add
    ...get(I), ...i32(16), 0x6a, ...set(I), 0x0c, 0,
    0x0b, 0x0b,
    ...get(OUT), ...lane(0), ...lane(1), 0x6a, ...lane(2), 0x6a, ...lane(3), 0x6a, 0x36, 0x02, 0x00, // i32.store
    ...get(OUT), ...i32(4), 0x6a, ...set(OUT),
    ...get(MAT), ...get(DIM), 0x6a, ...set(MAT),
    ...get(ROW), ...i32(1), 0x6a, ...set(ROW), 0x0c, 0,
    0x0b, 0x0b, 0x0b,
  ];
  const locals = [2, 2, 0x7f, 3, 0x7b]; // row, i; acc, x, y
  return kernelModule('dots8', locals, body);
}

let compiled: WasmModule | null | undefined;
function module8(): WasmModule | null {
  if (compiled === undefined) {
    compiled = compileOrNull(kernel8()); // null without wasm SIMD: the index scans float32 only
  }
  return compiled;
}

/** Rounds to int8 with the row's own scale; returns the scale (0 for an all-zero row). */
function quantise(vector: Float32Array, out: Int8Array): number {
  let max = 0;
  for (let i = 0; i < vector.length; i++) max = Math.max(max, Math.abs(vector[i]!));
  const scale = max / 127;
  for (let i = 0; i < vector.length; i++) out[i] = scale === 0 ? 0 : Math.round(vector[i]! / scale);
  return scale;
}

/** Layout of the wasm memory: [query (dim) | rows (capacity × dim) | int32 dots (capacity)]. */
export class QuantizedRows {
  private memory: WasmMemory;
  private readonly dots8: Kernel;
  private capacity = 0;
  /** Per row: its scale s_x and ‖x‖₁ (for the error bound). */
  private scales = new Float32Array(0);
  private l1 = new Float32Array(0);
  private readonly row8: Int8Array;

  private constructor(
    readonly dim: number,
    module: WasmModule,
  ) {
    const { memory, kernel } = instantiate(module, 'dots8');
    this.memory = memory;
    this.dots8 = kernel;
    this.row8 = new Int8Array(dim);
    this.reserve(1024);
  }

  /** A quantised copy for `dim`-wide rows, or null where it cannot run (no wasm SIMD, width not a multiple of 16). */
  static create(dim: number): QuantizedRows | null {
    const module = dim % 16 === 0 ? module8() : null;
    return module === null ? null : new QuantizedRows(dim, module);
  }

  reserve(rows: number): void {
    if (rows <= this.capacity) return;
    let capacity = Math.max(this.capacity, 1024);
    while (capacity < rows) capacity *= 2;
    const bytes = this.dim + capacity * this.dim + capacity * 4;
    growTo(this.memory, bytes);
    const scales = new Float32Array(capacity);
    scales.set(this.scales);
    const l1 = new Float32Array(capacity);
    l1.set(this.l1);
    this.scales = scales;
    this.l1 = l1;
    this.capacity = capacity;
  }

  setRow(slot: number, vector: Float32Array): void {
    this.reserve(slot + 1);
    this.scales[slot] = quantise(vector, this.row8);
    let l1 = 0;
    for (let i = 0; i < this.dim; i++) l1 += Math.abs(vector[i]!);
    this.l1[slot] = l1;
    new Int8Array(this.memory.buffer, this.dim + slot * this.dim, this.dim).set(this.row8);
  }

  copyRow(from: number, to: number): void {
    new Int8Array(this.memory.buffer).copyWithin(this.dim + to * this.dim, this.dim + from * this.dim, this.dim + (from + 1) * this.dim);
    this.scales[to] = this.scales[from]!;
    this.l1[to] = this.l1[from]!;
  }

  /**
   * Upper bounds on every row's dot with `query` (unit length) into `upper` ([count]),
   * and the k-th largest lower bound among rows other than `skip` (-Infinity when fewer
   * than k rows): every row of the exact top k has upper[r] >= that threshold.
   */
  bounds(query: Float32Array, count: number, k: number, skip: number, upper: Float32Array): number {
    const q8 = new Int8Array(this.memory.buffer, 0, this.dim);
    const sq = quantise(query, this.row8);
    q8.set(this.row8);
    let qAbs = 0;
    for (let i = 0; i < this.dim; i++) qAbs += Math.abs(sq * this.row8[i]!);
    const outOffset = this.dim + this.capacity * this.dim;
    this.dots8(this.dim, count, this.dim, 0, outOffset);
    const dots = new Int32Array(this.memory.buffer, outOffset, count);
    // Float32 arithmetic here and in the exact scan rounds too: a margin far above it.
    const margin = 1e-5;
    const halfQ = 0.5 * qAbs;
    const halfSq = 0.5 * sq;
    // The k largest lower bounds, as a min-heap: most rows cost one comparison with its root.
    const heap = new Float64Array(k);
    let size = 0;
    const scales = this.scales;
    const l1 = this.l1;
    for (let r = 0; r < count; r++) {
      const sx = scales[r]!;
      const approx = sq * sx * dots[r]!;
      const err = halfQ * sx + halfSq * l1[r]! + margin;
      upper[r] = approx + err;
      if (r === skip) continue;
      const low = approx - err;
      if (size < k) {
        let i = size++;
        heap[i] = low;
        while (i > 0) {
          const parent = (i - 1) >> 1;
          if (heap[parent]! <= heap[i]!) break;
          const t = heap[parent]!;
          heap[parent] = heap[i]!;
          heap[i] = t;
          i = parent;
        }
      } else if (low > heap[0]!) {
        heap[0] = low;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const rr = l + 1;
          let m = i;
          if (l < size && heap[l]! < heap[m]!) m = l;
          if (rr < size && heap[rr]! < heap[m]!) m = rr;
          if (m === i) break;
          const t = heap[m]!;
          heap[m] = heap[i]!;
          heap[i] = t;
          i = m;
        }
      }
    }
    return size < k ? -Infinity : heap[0]!;
  }
}
