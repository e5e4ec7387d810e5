/**
 * After the download: the checks a conversion needs (memory, Python and its modules) and
 * the conversion itself (a converter script from scripts/convert/ in a child process), or
 * the manifest that makes an onnx-community Janus folder a package.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../errors.js';
import { writeJanusManifest } from '../model/janus-package.js';
import type { PostStep } from './catalogue.js';

/** The repository (or installed package) root: src/hub/ and dist/hub/ are both two levels down. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const GB = 1e9;

/** MemAvailable from a /proc/meminfo text, in bytes; undefined where there is none (not Linux). */
export function availableMemory(meminfo: string): number | undefined {
  const kb = /^MemAvailable:\s+(\d+)\s+kB/m.exec(meminfo)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** What a cgroup v2 limit leaves (memory.max - memory.current), or undefined without a limit. */
export function cgroupRoom(cgroupDir: string): number | undefined {
  try {
    const max = readFileSync(path.join(cgroupDir, 'memory.max'), 'utf8').trim();
    if (max === 'max') return undefined;
    return Number(max) - Number(readFileSync(path.join(cgroupDir, 'memory.current'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

/**
 * Refuses a conversion that would not fit: `need` bytes against MemAvailable in `meminfoFile`
 * (default /proc/meminfo), or what the cgroup v2 limit leaves where that is less (in a
 * container /proc/meminfo shows the host). Where neither can be read, nothing is refused.
 */
export function checkMemory(model: string, need: number, meminfoFile = '/proc/meminfo', cgroupDir = '/sys/fs/cgroup'): void {
  let text = '';
  try {
    text = readFileSync(meminfoFile, 'utf8');
  } catch {
    // not Linux, or no /proc: the cgroup alone, if any
  }
  const host = availableMemory(text);
  const room = cgroupRoom(cgroupDir);
  const free = host === undefined ? room : room === undefined ? host : Math.min(host, room);
  if (free !== undefined && free < need) {
    const source = free === room ? `the cgroup's limit, ${cgroupDir}/memory.max` : `MemAvailable, ${meminfoFile}`;
    throw new TesseraError(
      'TESSERA_ERR_MEMORY',
      `converting ${model} needs about ${(need / GB).toFixed(1)} GB of memory; ${(free / GB).toFixed(1)} GB is available (${source}): close other programs, or convert on a machine with more memory and copy the package`,
    );
  }
}

/** The Python that converts: $TESSERA_PYTHON, else Debian's /usr/bin/python3, else python3 on the PATH. */
export function pythonPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TESSERA_PYTHON) return env.TESSERA_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

const DEBIAN: Record<string, string> = { torch: 'python3-torch', onnx: 'python3-onnx', numpy: 'python3-numpy' };

/** The exact lines that install `modules` (Debian's packages, or pip). */
export function installLine(modules: readonly string[]): string {
  return `apt-get install -y ${modules.map((m) => DEBIAN[m] ?? `python3-${m}`).join(' ')} (Debian/Ubuntu), or pip install ${modules.join(' ')}`;
}

/** Fails with the install line unless `python` runs and imports every module. */
export function checkPython(model: string, python: string, modules: readonly string[], kept: string): void {
  const probe = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8', timeout: 120_000 });
  let problem: string | undefined;
  if (probe.error !== undefined) problem = (probe.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${python} not found` : probe.error.message;
  else if (probe.status !== 0) problem = (probe.stderr.trim().split('\n').pop() ?? '') || `${python} exited with ${probe.status}`;
  if (problem === undefined) return;
  throw new TesseraError(
    'TESSERA_ERR_CONVERT_DEPS',
    `converting ${model} needs Python 3 with ${modules.join(', ')} (${problem}); install them: ${installLine(modules)}; then run tessera pull ${model} again (the download is kept in ${kept}; TESSERA_PYTHON picks another python)`,
  );
}

/**
 * Runs `script` (relative to the package root) with `args`; its output goes to `onLog` line
 * by line. A failure is TESSERA_ERR_CONVERT with the converter's last line (TESSERA_ERR_DISK_FULL
 * when that says the disk is full).
 */
export function runConverter(model: string, python: string, script: string, args: readonly string[], onLog: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(PACKAGE_ROOT, script), ...args], {
      cwd: path.join(PACKAGE_ROOT, path.dirname(script)),
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let last = '';
    const lines = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        last = line.trim();
        onLog(line);
      }
    };
    child.stdout.on('data', lines);
    child.stderr.on('data', lines);
    child.on('error', (error) => reject(new TesseraError('TESSERA_ERR_CONVERT', `converting ${model}: cannot run ${python}: ${error.message}`, { cause: error })));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const why = signal !== null ? `killed by ${signal}${signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : last || `exit code ${code}`;
      const full = /No space left on device|ENOSPC/.test(last);
      reject(new TesseraError(full ? 'TESSERA_ERR_DISK_FULL' : 'TESSERA_ERR_CONVERT', `converting ${model} (${script}) failed: ${why}`));
    });
  });
}

/** Makes the Janus folder `dir` (onnx-community's layout, already placed) a Tessera package named `name`. */
export async function janusPackage(name: string, post: Extract<PostStep, { kind: 'janus' }>, dir: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const raw = post.textLengthEnv === undefined ? undefined : env[post.textLengthEnv];
  const textLength = raw === undefined || raw === '' ? undefined : Number(raw);
  if (textLength !== undefined && !(Number.isInteger(textLength) && textLength > 2)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `${post.textLengthEnv} must be an integer above 2, got ${JSON.stringify(raw)}`, { param: 'model' });
  }
  await writeJanusManifest(dir, { name, dtypes: post.dtypes, int8: post.int8, textLength });
}
