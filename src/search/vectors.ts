import { TesseraError } from '../errors.js';

/**
 * Vector helpers for the search index. Embeddings are stored L2-normalised so that
 * cosine similarity is a plain dot product, the cheapest thing a flat scan can do.
 */

/**
 * Returns `vector` scaled to unit length as a new Float32Array. A vector of the wrong
 * width, with a non-finite entry or of zero length cannot be ranked by cosine.
 */
export function normalised(vector: ArrayLike<number>, dim: number, what = 'embedding'): Float32Array {
  if (vector.length !== dim) {
    throw new TesseraError('TESSERA_ERR_EMBEDDING', `${what} has ${vector.length} values; the index holds ${dim}-wide embeddings`);
  }
  let sum = 0;
  for (let i = 0; i < dim; i++) {
    const v = vector[i]!;
    if (!Number.isFinite(v)) throw new TesseraError('TESSERA_ERR_EMBEDDING', `${what} has a non-finite value at index ${i}`);
    sum += v * v;
  }
  if (sum === 0) throw new TesseraError('TESSERA_ERR_EMBEDDING', `${what} is all zeros: it has no direction to compare`);
  const scale = 1 / Math.sqrt(sum);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = vector[i]! * scale;
  return out;
}

/**
 * Dot products of `query` ([dim]) with each of the first `count` rows of `matrix`
 * ([count, dim], row-major), written into `out` ([count]). Unrolled by four: V8 does
 * not vectorise, and the unrolling alone roughly halves the loop overhead per value.
 */
export function dotAll(matrix: Float32Array, count: number, dim: number, query: Float32Array, out: Float32Array): void {
  const tail = dim & ~3;
  for (let row = 0, base = 0; row < count; row++, base += dim) {
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let i = 0;
    for (; i < tail; i += 4) {
      a += matrix[base + i]! * query[i]!;
      b += matrix[base + i + 1]! * query[i + 1]!;
      c += matrix[base + i + 2]! * query[i + 2]!;
      d += matrix[base + i + 3]! * query[i + 3]!;
    }
    for (; i < dim; i++) a += matrix[base + i]! * query[i]!;
    out[row] = a + b + c + d;
  }
}

/** Encodes a vector for a SQLite BLOB (little-endian float32, as the machine stores it). */
export function toBlob(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

export function checkBlob(blob: Buffer, dim: number, id: string): void {
  if (blob.byteLength !== dim * 4) {
    throw new TesseraError('TESSERA_ERR_INDEX', `stored embedding of ${id} is ${blob.byteLength} bytes; expected ${dim * 4}`);
  }
}
