/** The KV cache's storage: its buffers packed into few allocations, and their pages mapped up front (kv-slots.ts). */

/** The most bytes packedBuffers puts in one allocation (far below an ArrayBuffer's limit). */
export const PACKED_BLOCK_BYTES = 1024 ** 3;

/**
 * `count` buffers of `size` floats, as views of as few allocations as fit PACKED_BLOCK_BYTES
 * each (a buffer larger than that gets its own). One large allocation is mapped with
 * transparent huge pages (glibc.malloc.hugetlb, bin/tessera) where a layer's own 1 MiB is
 * not: first-touching a 16-row cache of the shipped model, 12 MB, took 7 ms as one
 * allocation against 32-37 ms as twelve on this project's VMs (docs/benchmarks.md,
 * "Sampling lanes"). A view's byte offset is a multiple of 8 when `size` is even.
 */
export function packedBuffers(count: number, size: number): Float32Array[] {
  const perBlock = Math.max(1, Math.floor(PACKED_BLOCK_BYTES / (4 * Math.max(1, size))));
  const views: Float32Array[] = [];
  for (let first = 0; first < count; first += perBlock) {
    const inBlock = Math.min(perBlock, count - first);
    const block = takeSpare(inBlock * size) ?? new Float32Array(inBlock * size);
    for (let i = 0; i < inBlock; i++) views.push(block.subarray(i * size, (i + 1) * size));
  }
  return views;
}

/**
 * The blocks of the cache released last in this thread (KvSlots.release), for the next
 * cache: a request's cache is new memory otherwise, since V8 frees the last one's only at a
 * major collection, and each MB of never-touched memory costs ~2-3 ms to touch on this
 * project's VMs (100 MB for 128 rows of the shipped model; docs/benchmarks.md, "A
 * released cache's memory"). Only the last released cache's blocks are kept, so a thread
 * holds at most one idle cache, as it did until that collection.
 */
let spare: Float32Array[] = [];

/** The smallest spare block of at least `length` floats, zeroed as a new one is, or null. */
function takeSpare(length: number): Float32Array | null {
  if (length === 0) return null; // an empty cache (a continuous batch between groups) takes nothing
  let best = -1;
  for (let i = 0; i < spare.length; i++) if (spare[i].length >= length && (best < 0 || spare[i].length < spare[best].length)) best = i;
  if (best < 0) return null;
  const [block] = spare.splice(best, 1);
  return block.subarray(0, length).fill(0);
}

/** Keeps the whole blocks under `views` (packedBuffers' views of one released cache) for the next packedBuffers call. */
export function releaseBuffers(views: readonly Float32Array[]): void {
  const buffers = new Set(views.map((v) => v.buffer as ArrayBuffer));
  const blocks = [...buffers].map((buffer) => new Float32Array(buffer)).filter((block) => block.length > 0);
  if (blocks.length > 0 || views.length === 0) spare = blocks; // an empty cache's release keeps the spare; none at all clears it
}

/** Floats held for reuse in this thread (tests). */
export function spareFloats(): number {
  return spare.reduce((n, block) => n + block.length, 0);
}

/** Writes one zero per 4 KiB page, so the OS maps the buffer's pages now. */
export function touchPages(buffer: Float32Array): void {
  for (let i = 0; i < buffer.length; i += 1024) buffer[i] = 0;
}
