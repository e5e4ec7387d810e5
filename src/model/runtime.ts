import { existsSync, readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { allowed, TesseraError } from '../errors.js';
import { DEVICES, type Device } from '../types.js';

export { ort };

/** The bytes of the host-memory tensors among `tensors` (device-resident ones cross nothing). */
export function hostBytes(tensors: Iterable<ort.Tensor>): number {
  let bytes = 0;
  for (const t of tensors) if (t.location === 'cpu' || t.location === 'cpu-pinned') bytes += (t.data as { byteLength: number }).byteLength;
  return bytes;
}

/**
 * Session options used for every graph. Threads are set explicitly: onnxruntime's
 * defaults oversubscribe a small machine (measured here on 2 cores), and one
 * inter-op thread is right for these sequential graphs. Worker threads do not spin
 * between kernels (`allow_spinning` 0): spinning won nothing when the machine was idle
 * and cost 7% at 128 rows, much more when other processes share the cores
 * (docs/benchmarks.md, "Thread and session settings"); TESSERA_SPIN=1 turns it back on.
 */
export function sessionOptions(device: Device): ort.InferenceSession.SessionOptions {
  const spinning = process.env.TESSERA_SPIN === '1' ? '1' : '0';
  return {
    executionProviders: [device],
    ...kernelOptions(),
    extra: { session: { intra_op: { allow_spinning: spinning }, inter_op: { allow_spinning: spinning } } },
  };
}

export const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];

/**
 * The settings that pick which kernels run, shared by Tessera's own sessions and CLIP's
 * (transformers.js passes them to onnxruntime): intra-op threads (TESSERA_THREADS, default
 * 2) and the graph optimization level (TESSERA_GRAPH_OPT, default `all`). Results do not
 * depend on them beyond the last bits of floats: fused and unfused graphs, and one thread
 * or several, sum in different orders, as another CPU's SIMD kernels do. The golden tests
 * run again under `TESSERA_GRAPH_OPT=disabled TESSERA_THREADS=1` to prove that nothing
 * they pin depends on those bits (test/output/golden.test.ts).
 */
export function kernelOptions(): { intraOpNumThreads: number; interOpNumThreads: number; graphOptimizationLevel: GraphOptimizationLevel } {
  const threads = Number(process.env.TESSERA_THREADS ?? 2);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new TesseraError('TESSERA_ERR_OPTION', `TESSERA_THREADS must be a positive integer, got ${JSON.stringify(process.env.TESSERA_THREADS)}`, { param: 'TESSERA_THREADS' });
  }
  const level = process.env.TESSERA_GRAPH_OPT ?? 'all';
  if (!(GRAPH_OPTIMIZATION_LEVELS as readonly string[]).includes(level)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `TESSERA_GRAPH_OPT must be one of: ${allowed(GRAPH_OPTIMIZATION_LEVELS)}, got ${JSON.stringify(level)}`, { param: 'TESSERA_GRAPH_OPT' });
  }
  return { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: level as GraphOptimizationLevel };
}

/** Throws TESSERA_ERR_DEVICE unless onnxruntime-node in this install can run on `device`. */
export function checkDevice(device: string): asserts device is Device {
  if (!(DEVICES as readonly string[]).includes(device)) {
    throw new TesseraError('TESSERA_ERR_DEVICE', `Unsupported device: ${device}. Should be one of: ${allowed(DEVICES)}`, {
      param: 'device',
    });
  }
  const backends = ort.listSupportedBackends();
  const backend = backends.find((b) => b.name === device);
  if (backend === undefined) {
    const available = backends.map((b) => b.name);
    throw new TesseraError('TESSERA_ERR_DEVICE', `Device ${device} is not available in this onnxruntime-node build. Available: ${allowed(available)}`, {
      param: 'device',
    });
  }
}

/** A graph rewritten in memory: its bytes, the file they came from, and that file's folder (for its external data). */
export interface GraphBytes {
  bytes: Uint8Array;
  file: string;
  folder: string;
}

/**
 * Creates a session, turning the runtime's failure to start a provider into TESSERA_ERR_DEVICE.
 * `outputs`: where outputs stay (per output name; e.g. 'gpu-buffer' keeps them on the device).
 */
/** Per-session settings a graph may want other than the defaults (the VQ codec: VQ_SESSION). */
export interface SessionTuning {
  /** onnxruntime's memory pattern: one planned block per input shape, allocated on the second run (default on). */
  enableMemPattern?: boolean;
  /** Intra-op threads of this session instead of TESSERA_THREADS (a sampling lane's generator runs on one: src/pipeline/lanes.ts). */
  intraOpNumThreads?: number;
}

export async function createSession(file: string | GraphBytes, device: Device, outputs?: Record<string, ort.Tensor.DataLocation>, tuning: SessionTuning = {}): Promise<ort.InferenceSession> {
  checkDevice(device);
  const options = { ...sessionOptions(device), ...tuning, ...(outputs === undefined ? {} : { preferredOutputLocation: outputs }) };
  try {
    if (typeof file === 'string') return await ort.InferenceSession.create(file, options);
    // A graph from memory finds its external data files in the folder it was read from (onnxruntime ≥ 1.18's session option).
    const extra = options.extra as { session: Record<string, unknown> };
    const session = { ...extra.session, model_external_initializers_file_folder_path: file.folder };
    return await ort.InferenceSession.create(file.bytes, { ...options, extra: { ...extra, session } });
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (device !== 'cpu') {
      const hint = device === 'cuda' ? ' (install the CUDA libraries with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install)' : device === 'webgpu' ? webgpuHint() : '';
      throw new TesseraError('TESSERA_ERR_DEVICE', `Device ${device} could not start${hint}: ${message}`, { param: 'device', cause: error });
    }
    throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot load ${typeof file === 'string' ? file : file.file}: ${message}`, { cause: error });
  }
}

const VULKAN_LOADERS = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1'];
const VULKAN_ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'];

/**
 * What a failed WebGPU start is most likely missing on Linux: onnxruntime-node's WebGPU
 * provider (Dawn) drives the GPU through Vulkan, so it needs the Vulkan loader
 * (libvulkan.so.1, Debian's libvulkan1) and a GPU driver's ICD manifest (for NVIDIA, the
 * driver's nvidia_icd.json). docs/benchmarks.md "The GPU path" has the whole list.
 */
export function webgpuHint(): string {
  if (process.platform !== 'linux') return '';
  const loader = VULKAN_LOADERS.some((file) => existsSync(file)) || (process.env.LD_LIBRARY_PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(`${dir}/libvulkan.so.1`));
  // The Vulkan loader reads only the listed manifests when one of these is set (issue 29's no-adapter test sets one).
  const override = process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES;
  if (override !== undefined && override !== '') {
    const files = override.split(':').filter((f) => f !== '');
    const found = files.filter((f) => existsSync(f));
    return ` (VK_ICD_FILENAMES/VK_DRIVER_FILES limits Vulkan to ${allowed(files)}; ${found.length === files.length ? 'none gave an adapter Dawn accepts' : `not found: ${allowed(files.filter((f) => !found.includes(f)))}`})`;
  }
  const icds = VULKAN_ICD_DIRS.flatMap((dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []));
  const missing = [loader ? null : 'no Vulkan loader (libvulkan.so.1: apt-get install libvulkan1)', icds.length > 0 ? null : `no Vulkan driver manifest in ${VULKAN_ICD_DIRS.join(' or ')} (the GPU driver's Vulkan ICD, e.g. NVIDIA's nvidia_icd.json)`].filter((m) => m !== null);
  return missing.length > 0 ? ` (${missing.join('; ')})` : ` (Vulkan ICDs found: ${icds.join(', ')}; none gave an adapter Dawn accepts)`;
}
