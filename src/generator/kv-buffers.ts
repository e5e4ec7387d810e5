/** The KV cache's storage: its buffers packed into few allocations, and their pages mapped up front (kv-slots.ts). */
import { Worker } from 'node:worker_threads';

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
export function packedBuffers(count: number, size: number, mapNow = false): Float32Array[] {
  const views: Float32Array[] = [];
  for (const inBlock of buffersPerBlock(count, size)) {
    // A spare block is mapped already (cleared on taking, or by warmBuffers' thread); a new one is mapped here when asked.
    const block = takeSpare(inBlock * size) ?? newBlock(inBlock * size, mapNow);
    for (let i = 0; i < inBlock; i++) views.push(block.subarray(i * size, (i + 1) * size));
  }
  return views;
}

function newBlock(length: number, mapNow: boolean): Float32Array {
  const block = new Float32Array(length);
  if (mapNow) touchPages(block);
  return block;
}

/** How many of the `count` buffers each allocation of packedBuffers(count, size) holds, in order. */
function buffersPerBlock(count: number, size: number): number[] {
  const perBlock = Math.max(1, Math.floor(PACKED_BLOCK_BYTES / (4 * Math.max(1, size))));
  const blocks: number[] = [];
  for (let first = 0; first < count; first += perBlock) blocks.push(Math.min(perBlock, count - first));
  return blocks;
}

/** The floats of each allocation packedBuffers(count, size) makes, in order. */
export function packedBlockLengths(count: number, size: number): number[] {
  return buffersPerBlock(count, size).map((inBlock) => inBlock * size);
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

/** Spare blocks known to hold only zeros (warmBuffers'): takeSpare does not clear them. */
const zeroed = new WeakSet<ArrayBufferLike>();

/** The smallest spare block of `length` to 2 * `length` floats, zeroed as a new one is, or null. */
function takeSpare(length: number): Float32Array | null {
  if (length === 0) return null; // an empty cache (a continuous batch between groups) takes nothing
  let best = -1;
  // At most twice the length: a small cache (an encoder-decoder prefill's start-token rows) leaves a large one's block alone.
  for (let i = 0; i < spare.length; i++) if (spare[i].length >= length && spare[i].length <= 2 * length && (best < 0 || spare[i].length < spare[best].length)) best = i;
  if (best < 0) return null;
  const [block] = spare.splice(best, 1);
  if (!zeroed.delete(block.buffer)) block.subarray(0, length).fill(0);
  return block.subarray(0, length);
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
function touchPages(buffer: Float32Array): void {
  for (let i = 0; i < buffer.length; i += 1024) buffer[i] = 0;
}

/**
 * A worker thread's whole job in warmBuffers: allocate each block, write one zero per page,
 * hand the memory over (transferred, not copied). Plain CommonJS, so it starts without the
 * module loader this package runs under.
 */
const WARM_WORKER = `const { parentPort, workerData } = require('node:worker_threads');
const blocks = workerData.map((length) => { const block = new Float32Array(length); for (let i = 0; i < length; i += 1024) block[i] = 0; return block.buffer; });
parentPort.postMessage(blocks, blocks);`;

/**
 * Maps, on another thread, the blocks a cache of `count` buffers of `size` floats takes
 * (packedBuffers), and makes them this thread's spare for its next cache, zeroed and mapped.
 * Why: on this project's VMs a first touch of never-used memory costs ~1.7 ms per MB (a
 * DALL·E Mini cache at 64 rows is 1.6 GB: 2.8 s of a one-shot run, on the sampling thread),
 * while loading a package's sessions keeps one thread busy and leaves the other core idle;
 * the loader starts this as it starts loading (docs/benchmarks.md, "The KV cache mapped while
 * the package loads"). Resolves when the blocks are here, or with nothing warmed if the thread
 * fails: the cache then maps its own pages, as before.
 */
export function warmBuffers(count: number, size: number): Promise<void> {
  const lengths = size > 0 ? packedBlockLengths(count, size) : [];
  if (lengths.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const worker = new Worker(WARM_WORKER, { eval: true, workerData: lengths });
    worker.once('message', (buffers: ArrayBuffer[]) => {
      const blocks = buffers.map((buffer) => new Float32Array(buffer));
      for (const block of blocks) zeroed.add(block.buffer);
      spare = blocks;
      resolve();
    });
    worker.once('error', () => resolve());
    worker.once('exit', () => resolve());
  });
}
