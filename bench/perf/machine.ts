/** What every performance bench prints first: the machine, its load, and the settings measured. */
import { spawnSync } from 'node:child_process';

export { cpuFlagsLine, machineLine, median } from '../../scripts/perf/machine.js';

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

/**
 * Runs this bench again, as a child with the launcher's environment, when this process was
 * started without it (`npm run bench:perf` starts node directly): glibc reads its tunables only
 * when a process starts, and the in-process figures (the step beside its ceiling, the lanes'
 * step, the warm decode against PyTorch) should run with the malloc `tessera generate` runs
 * with. Returns only in the process that has it (or where TESSERA_HUGEPAGES=0 asks for none).
 */
export function ensureLauncherEnv(): void {
  const env = launcherEnv();
  if (env === process.env) return;
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  process.exit(child.status ?? 1);
}

/** One line for a bench's header: the tunables its CLI runs get. */
export function launcherLine(env: NodeJS.ProcessEnv = launcherEnv()): string {
  return `CLI runs as bin/tessera starts them: GLIBC_TUNABLES=${env.GLIBC_TUNABLES ?? '(unset)'}`;
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
