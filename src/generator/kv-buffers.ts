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
    const block = new Float32Array(inBlock * size);
    for (let i = 0; i < inBlock; i++) views.push(block.subarray(i * size, (i + 1) * size));
  }
  return views;
}

/** Writes one zero per 4 KiB page, so the OS maps the buffer's pages now. */
export function touchPages(buffer: Float32Array): void {
  for (let i = 0; i < buffer.length; i += 1024) buffer[i] = 0;
}
