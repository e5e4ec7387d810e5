import { TesseraError } from '../errors.js';
import { dotAll } from './vectors.js';
import { compileOrNull, growTo, instantiate, kernelModule, op, uleb, type Kernel, type WasmMemory, type WasmModule } from './wasm.js';

/**
 * The search index's vectors, one contiguous row-major matrix ([capacity, dim]) held in
 * a WebAssembly memory, with a SIMD dot-product scan: V8 does not vectorise the plain
 * JS loop, and 128-bit lanes make the 100k-vector query about four times cheaper (see
 * docs/search.md). Layout: [query (dim) | matrix (capacity × dim) | scores (capacity)],
 * so growing the capacity only moves the scratch scores, never the vectors. Widths not
 * divisible by 8 (the kernel's two 4-lane accumulators) use the JS loop instead.
 */

/** Accumulators of the kernel for widths divisible by 16 (TESSERA_SIMD_ACCUMULATORS=2 to compare). */
const ACCUMULATORS: 2 | 4 = process.env.TESSERA_SIMD_ACCUMULATORS === '2' ? 2 : 4;

/**
 * dots(mat, count, dim, q, out): out[r] = Σ_i mat[r*dim + i] * q[i], byte addresses.
 * Hand-assembled so that no wasm toolchain is needed; the text form (n accumulators,
 * so that n independent add chains hide the add latency) is:
 *   bytes = dim*4; loop over rows { a0..a(n-1) = 0; for i in 0..bytes step 16n
 *   { ak += load(mat+i+16k) * load(q+i+16k) for each k }
 *   out[row] = hsum(a0 + … + a(n-1)); mat += bytes }
 */
function kernel(accumulators: 2 | 4): Uint8Array {
  const { get, set, i32, simd } = op;
  const load = (offset: number): number[] => simd(0x00, 0x04, ...uleb(offset)); // v128.load align=16
  const [MAT, COUNT, DIM, Q, OUT, ROW, I, BYTES, A0] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const accs = Array.from({ length: accumulators }, (_, k) => A0 + k);
  const zero = simd(0x0c, ...new Array<number>(16).fill(0));
  const madd = (acc: number, offset: number): number[] => [
    ...get(acc), ...get(MAT), ...get(I), 0x6a, ...load(offset), ...get(Q), ...get(I), 0x6a, ...load(offset),
    ...simd(0xe6), ...simd(0xe4), ...set(acc), // acc = acc + m * q (f32x4.mul, f32x4.add)
  ];
  const lane = (n: number): number[] => [...get(A0), ...simd(0x1f, n)];
  const body = [
    ...get(DIM), ...i32(4), 0x6c, ...set(BYTES),
    0x02, 0x40, 0x03, 0x40, // block, loop (rows)
    ...get(ROW), ...get(COUNT), 0x4f, 0x0d, 1, // row >= count: leave
    ...accs.flatMap((a) => [...zero, ...set(a)]), ...i32(0), ...set(I),
    0x02, 0x40, 0x03, 0x40, // block, loop (values)
    ...get(I), ...get(BYTES), 0x4f, 0x0d, 1,
    ...accs.flatMap((a, k) => madd(a, 16 * k)),
    ...get(I), ...i32(16 * accumulators), 0x6a, ...set(I), 0x0c, 0, // br loop
    0x0b, 0x0b,
    ...accs.slice(1).flatMap((a) => [...get(A0), ...get(a), ...simd(0xe4), ...set(A0)]),
    ...get(OUT), ...lane(0), ...lane(1), 0x92, ...lane(2), 0x92, ...lane(3), 0x92, 0x38, 0x02, 0x00, // f32.store
    ...get(OUT), ...i32(4), 0x6a, ...set(OUT),
    ...get(MAT), ...get(BYTES), 0x6a, ...set(MAT),
    ...get(ROW), ...i32(1), 0x6a, ...set(ROW), 0x0c, 0, // br loop
    0x0b, 0x0b, 0x0b, // end loop, end block, end function
  ];
  const locals = [2, 3, 0x7f, accumulators, 0x7b]; // 3 i32 (row, i, bytes), the v128 accumulators
  return kernelModule('dots', locals, body);
}

const compiled = new Map<2 | 4, WasmModule | null>();

/** The kernel for a width: four accumulators when the width allows (multiple of 16), else two. */
function simdModule(accumulators: 2 | 4): WasmModule | null {
  if (!compiled.has(accumulators)) {
    compiled.set(accumulators, compileOrNull(kernel(accumulators))); // null without wasm SIMD: the JS loop serves
  }
  return compiled.get(accumulators)!;
}

export class VectorMatrix {
  private capacity = 0;
  private memory: WasmMemory | null = null;
  private dots: Kernel | null = null;
  /** The JS fallback's storage (used when there is no SIMD or dim % 8 !== 0). */
  private plain = new Float32Array(0);
  private plainScores = new Float32Array(0);
  private readonly rowBytes: number;
  /** Views over the matrix, rebuilt after the memory grows (growing detaches the old buffer). */
  private view: Float32Array | null = null;
  private bytes: Uint8Array | null = null;

  constructor(
    readonly dim: number,
    initialCapacity = 1024,
    simd = true,
  ) {
    this.rowBytes = dim * 4;
    const module = simd && dim % 8 === 0 ? simdModule(dim % 16 === 0 ? ACCUMULATORS : 2) : null;
    if (module !== null) {
      const { memory, kernel } = instantiate(module, 'dots');
      this.memory = memory;
      this.dots = kernel;
    }
    this.reserve(initialCapacity);
  }

  /** Whether the scan runs the wasm SIMD kernel. */
  get simd(): boolean {
    return this.dots !== null;
  }

  private get matrixOffset(): number {
    return this.rowBytes; // after the query
  }

  private get scoresOffset(): number {
    return this.rowBytes + this.capacity * this.rowBytes;
  }

  /** Ensures room for `rows` vectors; existing rows stay where they are. */
  reserve(rows: number): void {
    if (rows <= this.capacity) return;
    let capacity = Math.max(this.capacity, 1024);
    while (capacity < rows) capacity *= 2;
    if (this.memory !== null) {
      const bytes = this.rowBytes + capacity * this.rowBytes + capacity * 4;
      try {
        growTo(this.memory, bytes);
      } catch (error) {
        // wasm32 memory ends at 4 GiB: about 2M vectors of 512 or 8M of 128 (capacity doubles).
        throw new TesseraError('TESSERA_ERR_INDEX', `cannot hold ${rows} vectors of ${this.dim} values in memory (${(bytes / 2 ** 30).toFixed(1)} GiB needed)`, { cause: error });
      }
    } else {
      const grown = new Float32Array(capacity * this.dim);
      grown.set(this.plain);
      this.plain = grown;
      this.plainScores = new Float32Array(capacity);
    }
    this.capacity = capacity;
    this.view = null;
    this.bytes = null;
  }

  /** The whole matrix as a Float32Array view ([capacity, dim]); views die when memory grows. */
  private matrix(): Float32Array {
    if (this.memory === null) return this.plain;
    this.view ??= new Float32Array(this.memory.buffer, this.matrixOffset, this.capacity * this.dim);
    return this.view;
  }

  /**
   * Copies a stored row as it lies in SQLite (little-endian float32 bytes) straight into
   * the matrix: loading a million rows then allocates nothing per row.
   */
  setRowBytes(slot: number, row: Uint8Array): void {
    this.reserve(slot + 1);
    if (this.memory === null) {
      new Uint8Array(this.plain.buffer).set(row, slot * this.rowBytes);
      return;
    }
    this.bytes ??= new Uint8Array(this.memory.buffer, this.matrixOffset, this.capacity * this.rowBytes);
    this.bytes.set(row, slot * this.rowBytes);
  }

  setRow(slot: number, vector: Float32Array): void {
    this.reserve(slot + 1);
    this.matrix().set(vector, slot * this.dim);
  }

  row(slot: number): Float32Array {
    return this.matrix().slice(slot * this.dim, (slot + 1) * this.dim);
  }

  copyRow(from: number, to: number): void {
    this.matrix().copyWithin(to * this.dim, from * this.dim, (from + 1) * this.dim);
  }

  /** Exact dot products of `query` with the rows `slots[0..n)` into `out` ([n]): the second pass after int8 bounds. */
  dotRows(query: Float32Array, slots: Int32Array, n: number, out: Float32Array): void {
    const m = this.matrix();
    const dim = this.dim;
    for (let k = 0; k < n; k++) {
      const base = slots[k]! * dim;
      let a = 0;
      let b = 0;
      let c = 0;
      let d = 0;
      let i = 0;
      for (; i + 3 < dim; i += 4) {
        a += m[base + i]! * query[i]!;
        b += m[base + i + 1]! * query[i + 1]!;
        c += m[base + i + 2]! * query[i + 2]!;
        d += m[base + i + 3]! * query[i + 3]!;
      }
      for (; i < dim; i++) a += m[base + i]! * query[i]!;
      out[k] = a + b + c + d;
    }
  }

  /** Dot products of `query` with rows 0..count-1: a view ([count]) valid until the next call. */
  scan(query: Float32Array, count: number): Float32Array {
    if (this.memory === null || this.dots === null) {
      dotAll(this.plain, count, this.dim, query, this.plainScores);
      return this.plainScores.subarray(0, count);
    }
    new Float32Array(this.memory.buffer, 0, this.dim).set(query);
    this.dots(this.matrixOffset, count, this.dim, 0, this.scoresOffset);
    return new Float32Array(this.memory.buffer, this.scoresOffset, count);
  }
}
