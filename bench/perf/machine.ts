/** What every performance bench prints first: the machine, its load, and the settings measured. */
import { cpus, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
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

/**
 * The environment bin/tessera (the launcher npm links as `tessera`) gives the CLI: glibc's
 * huge-page tunable for malloc unless GLIBC_TUNABLES already names it or TESSERA_HUGEPAGES=0.
 * Benches that spawn src/cli/main.ts use it so they time what a user's `tessera` runs;
 * `launched: false` keeps the environment as it is (the run without the launcher).
 */
export function launcherEnv(env: NodeJS.ProcessEnv = process.env, launched = true): NodeJS.ProcessEnv {
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (!launched || env.TESSERA_HUGEPAGES === '0' || tunables.includes('glibc.malloc.hugetlb=')) return env;
  return { ...env, GLIBC_TUNABLES: tunables === '' ? 'glibc.malloc.hugetlb=1' : `${tunables}:glibc.malloc.hugetlb=1` };
}

/** One line for a bench's header: the tunables its CLI runs get. */
export function launcherLine(env: NodeJS.ProcessEnv = launcherEnv()): string {
  return `CLI runs as bin/tessera starts them: GLIBC_TUNABLES=${env.GLIBC_TUNABLES ?? '(unset)'}`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The Python with PyTorch and onnx (Debian's python3-torch, python3-onnx). */
export const PYTHON = process.env.TESSERA_PYTHON ?? '/usr/bin/python3';

/** Runs a Python script with the fair thread settings (OMP_WAIT_POLICY=PASSIVE: see scripts/perf/torch_reference.py) and parses its JSON line. */
export function runPython<T>(args: readonly string[]): T {
  const result = spawnSync(PYTHON, args, {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: process.env.TESSERA_THREADS ?? '2' },
  });
  if (result.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
}

export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---:')), ...rows.map(line)].join('\n');
}
