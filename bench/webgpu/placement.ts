/**
 * Where each graph of a package runs under `--device webgpu` (issue 29): onnxruntime's
 * verbose log lists, per execution provider, the nodes it was assigned after partitioning
 * ("Node placements"). This reads that list for every graph of each package and prints
 * nodes on WebGPU vs nodes that fell back to the CPU (by op type), the copies onnxruntime
 * inserted between them (MemcpyFromHost / MemcpyToHost) and any heavy op (matrix
 * products, convolutions, attention, normalisation, softmax) left on the CPU.
 *
 *   node --import tsx bench/webgpu/placement.ts [package ...]   (default: the shipped model, tiny, min-dalle fixture,
 *                                                                and $TESSERA_MINI_PACKAGE when set)
 *
 * Each graph loads in its own child process: the log goes to the native stderr, and
 * onnxruntime's log level is fixed per process when it first starts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readManifest } from '../../src/model/manifest.js';
import { cpuFlagsLine, machineLine } from '../perf/machine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Op types whose work grows with the model's width: the ones that should never run on the CPU beside a GPU. */
export const HEAVY_OPS = new Set(['MatMul', 'Gemm', 'MatMulNBits', 'MatMulInteger', 'DynamicQuantizeMatMul', 'Conv', 'ConvTranspose', 'Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'Softmax', 'LayerNormalization', 'SkipLayerNormalization', 'SimplifiedLayerNormalization', 'InstanceNormalization', 'GroupNormalization', 'Einsum', 'Resize']);

export interface Placement {
  /** Execution provider -> op type -> node count. */
  byProvider: Record<string, Record<string, number>>;
  /** Nodes per provider. */
  counts: Record<string, number>;
  /** Error text when the session did not start. */
  error: string | null;
}

/** Loads `graph` on `device` in a child with verbose logging and reads the node placements back. */
export function placementOf(graph: string, device = 'webgpu'): Placement {
  const script = `const ort = require('onnxruntime-node'); ort.env.logLevel = 'verbose';
ort.InferenceSession.create(${JSON.stringify(graph)}, { executionProviders: [${JSON.stringify(device)}], logSeverityLevel: 0, logVerbosityLevel: 0 })
  .then(() => process.exit(0), (e) => { console.error('SESSION_ERROR ' + e.message); process.exit(3); });`;
  const child = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 300_000 });
  const log = `${child.stdout ?? ''}\n${child.stderr ?? ''}`;
  const byProvider: Record<string, Record<string, number>> = {};
  const counts: Record<string, number> = {};
  let current: string | null = null;
  for (const line of log.split('\n')) {
    if (!line.includes('VerifyEachNodeIsAssignedToAnEp')) continue;
    const header = /(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(line);
    if (header) {
      current = header[1];
      counts[current] = Number(header[2]);
      byProvider[current] ??= {};
      continue;
    }
    const node = /\]\s{3}(\S+) \(/.exec(line);
    if (node && current !== null) byProvider[current][node[1]] = (byProvider[current][node[1]] ?? 0) + 1;
  }
  const error = /SESSION_ERROR (.*)/.exec(log)?.[1] ?? (child.status === 0 ? null : `exit ${child.status}`);
  return { byProvider, counts, error };
}

/** The package's ONNX graphs that a generation runs, by role. */
export function packageGraphs(dir: string): [string, string][] {
  const manifest = readManifest(dir);
  const graphs: [string, string | null | undefined][] = [
    ['text encoder', manifest.encoderDecoder?.textEncoder],
    ['prefill', manifest.generator.prefill],
    ['step', manifest.generator.step],
    ['vq decoder', manifest.decoder],
    ['vq encoder', manifest.encoder],
  ];
  // The int8 variant's graphs too: which of its integer kernels the WebGPU provider has.
  const int8 = manifest.variants?.int8;
  if (int8 !== undefined) graphs.push(['prefill (int8)', int8.generator.prefill], ['step (int8)', int8.generator.step], ['vq decoder (int8)', int8.decoder]);
  const clip = manifest.clip === null || manifest.clip === undefined ? null : path.join(dir, manifest.clip, 'onnx');
  if (clip !== null && existsSync(clip)) for (const f of readdirSync(clip).filter((f) => f.endsWith('.onnx')).sort()) graphs.push([`clip ${f.replace('.onnx', '')}`, path.relative(dir, path.join(clip, f))]);
  return graphs.filter((g): g is [string, string] => typeof g[1] === 'string').map(([role, file]) => [role, path.join(dir, file)]);
}

const fmt = (ops: Record<string, number>) =>
  Object.entries(ops)
    .sort((a, b) => b[1] - a[1])
    .map(([op, n]) => `${op}×${n}`)
    .join(' ');

export function reportPackage(dir: string, log: (line: string) => void = console.log): { graph: string; webgpu: number; cpu: number; heavyOnCpu: string[] }[] {
  const rows: { graph: string; webgpu: number; cpu: number; heavyOnCpu: string[] }[] = [];
  log(`\n## ${path.relative(ROOT, dir) || dir} (${readManifest(dir).name})`);
  for (const [role, file] of packageGraphs(dir)) {
    const p = placementOf(file);
    if (p.error !== null) {
      log(`${role.padEnd(18)} ${path.basename(file)}: did not start: ${p.error}`);
      continue;
    }
    const gpu = p.counts.WebGpuExecutionProvider ?? 0;
    const cpu = p.counts.CPUExecutionProvider ?? 0;
    const cpuOps = p.byProvider.CPUExecutionProvider ?? {};
    const copies = (p.byProvider.WebGpuExecutionProvider?.MemcpyFromHost ?? 0) + (p.byProvider.WebGpuExecutionProvider?.MemcpyToHost ?? 0);
    const heavyOnCpu = Object.keys(cpuOps).filter((op) => HEAVY_OPS.has(op));
    log(`${role.padEnd(18)} WebGPU ${String(gpu).padStart(4)} | CPU ${String(cpu).padStart(3)} (${fmt(cpuOps) || 'none'}) | copies inserted ${copies} | heavy ops on the CPU: ${heavyOnCpu.join(' ') || 'none'}`);
    rows.push({ graph: `${readManifest(dir).name}/${role}`, webgpu: gpu, cpu, heavyOnCpu });
  }
  return rows;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(machineLine());
  console.log(cpuFlagsLine());
  console.log('Node placement under --device webgpu (onnxruntime verbose log; graph optimisation "all", as Tessera runs)');
  const given = process.argv.slice(2);
  const mini = process.env.TESSERA_MINI_PACKAGE;
  const packages = given.length > 0 ? given : ['models/default', 'test/fixtures/tiny-model', 'test/fixtures/min-dalle/package', ...(mini && existsSync(mini) ? [mini] : [])];
  const rows = packages.flatMap((p) => reportPackage(path.resolve(ROOT, p)));
  const heavy = rows.filter((r) => r.heavyOnCpu.length > 0);
  console.log(`\n${rows.length} graphs; heavy ops on the CPU in ${heavy.length}${heavy.length > 0 ? `: ${heavy.map((r) => `${r.graph} (${r.heavyOnCpu.join(' ')})`).join('; ')}` : ''}`);
}
