/**
 * The WebAssembly scaffolding of the search kernels (matrix.ts's float32 dots,
 * quantized.ts's int8 dots): hand-assembled modules of one function over an imported
 * memory, so that no wasm toolchain is needed.
 */

/** Bytes of a wasm memory page. */
export const PAGE = 65536;

// The project's lib settings carry no DOM types, and @types/node declares only part of
// the WebAssembly namespace: the few members used here, typed locally.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** LEB128 of an unsigned integer (wasm's encoding of sizes, indices and long opcodes). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32.const's immediate): 64 must be 0xc0 0x00, not 0x40, which reads as -64. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** The instructions both kernels are written in. */
export const op = {
  get: (i: number): number[] => [0x20, i], // local.get
  set: (i: number): number[] => [0x21, i], // local.set
  i32: (n: number): number[] => [0x41, ...sleb(n)], // i32.const
  simd: (code: number, ...imm: number[]): number[] => [0xfd, ...uleb(code), ...imm],
};

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

/** A kernel's signature: (mat, count, dim, q, out), byte addresses and counts, no result. */
export type Kernel = (mat: number, count: number, dim: number, q: number, out: number) => void;

/** A module of one Kernel named `exportName`, over the memory it imports as env.memory. */
export function kernelModule(exportName: string, locals: number[], body: number[]): Uint8Array {
  const code = [...locals, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x00]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name(exportName), 0x00, 0]),
    ...section(10, [1, ...uleb(code.length), ...code]),
  ]);
}

/** Compiles a module; null on a runtime without what it uses (wasm SIMD): the caller's JS path serves. */
export function compileOrNull(bytes: Uint8Array): WasmModule | null {
  try {
    return new wasm.Module(bytes);
  } catch {
    return null;
  }
}

/** A fresh one-page memory and the module's kernel over it. */
export function instantiate(module: WasmModule, exportName: string): { memory: WasmMemory; kernel: Kernel } {
  const memory = new wasm.Memory({ initial: 1 });
  const instance = new wasm.Instance(module, { env: { memory } });
  return { memory, kernel: instance.exports[exportName] as Kernel };
}

/** Grows `memory` to hold at least `bytes` (growing detaches views over the old buffer). */
export function growTo(memory: WasmMemory, bytes: number): void {
  const pages = Math.ceil(bytes / PAGE) - memory.buffer.byteLength / PAGE;
  if (pages > 0) memory.grow(pages);
}
