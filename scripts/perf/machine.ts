/**
 * What every measurement prints first, the machine and its load, and the median it reports:
 * shared by the benches (bench/perf/machine.ts re-exports these) and the measuring tools
 * under scripts/perf (clip-int8.ts), which the benches import in turn.
 */
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';

export function machineLine(): string {
  const [one, five, fifteen] = loadavg();
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${new Date().toISOString()} | ${cpus().length} x ${cpu} | load average ${one.toFixed(2)} ${five.toFixed(2)} ${fifteen.toFixed(2)} | node ${process.version} | onnxruntime-node threads intra=${process.env.TESSERA_THREADS ?? 2}`;
}

/** The CPU's model name and the flags that decide which matrix kernels run (from /proc/cpuinfo; issue 27). */
export function cpuFlagsLine(): string {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return `cpu ${cpus()[0]?.model ?? 'unknown'} (no /proc/cpuinfo: flags unknown)`;
  }
  const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '?';
  const identity = `${field('vendor_id')} family ${field('cpu family')} model ${field('model')} stepping ${field('stepping')}`;
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/));
  const relevant = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8', 'amx_bf16', 'avx512_fp16'];
  const present = relevant.filter((f) => flags.has(f));
  const integerUnits = flags.has('amx_int8') ? 'AMX int8' : flags.has('avx512_vnni') || flags.has('avx_vnni') ? 'VNNI' : 'no VNNI/AMX';
  return `cpu ${model} (${identity}) | flags ${present.join(' ') || '(none of interest)'} | integer matrix units: ${integerUnits}`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
