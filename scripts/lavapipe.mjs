#!/usr/bin/env node
/**
 * A WebGPU adapter for the test suite's GPU path on a machine without a GPU (issue 29):
 * Mesa's lavapipe, a Vulkan driver that runs on the CPU, under onnxruntime-node's WebGPU
 * provider (Dawn, which drives Vulkan on Linux). Debian 12's own Mesa (22.3) is too old for
 * Dawn; bookworm-backports carries Mesa 25, whose lavapipe works, so on bookworm this adds
 * that suite (only Debian's own packages) and installs from it. Later Debian releases carry
 * a new enough Mesa in main.
 *
 *   node scripts/lavapipe.mjs           probe; install when missing and this is root with apt-get
 *   TESSERA_REQUIRE_WEBGPU=1 ...        exit 1 unless an adapter exists afterwards (CI)
 *
 * A machine whose own GPU driver gives an adapter needs nothing: the probe passes first.
 * Used by the pretest step (scripts/check-test-deps.mjs) and .ci/run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BACKPORTS_LIST = '/etc/apt/sources.list.d/bookworm-backports.list';
const BACKPORTS_LINE = 'deb http://deb.debian.org/debian bookworm-backports main';

/** Whether onnxruntime-node's WebGPU provider starts here (a child process: Dawn picks its driver once per process). */
export function probeWebgpu() {
  const graph = path.join(ROOT, 'test/fixtures/tiny-model/vae/decoder.onnx');
  const script = `const ort = require('onnxruntime-node'); ort.InferenceSession.create(${JSON.stringify(graph)}, { executionProviders: ['webgpu'] }).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(3); });`;
  const probe = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const detail = `${probe.stderr ?? ''}`.split('\n').filter((l) => l.trim() !== '' && !l.includes('artificially reduced')).pop() ?? '';
  return { ok: probe.status === 0, detail };
}

function codename() {
  try {
    return /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]?.replace(/"/g, '') ?? '';
  } catch {
    return '';
  }
}

/** The shell command that installs lavapipe on this Debian release. */
export function installCommand() {
  const packages = 'mesa-vulkan-drivers libvulkan1';
  if (codename() !== 'bookworm') return `apt-get update && apt-get install -y --no-install-recommends ${packages}`;
  return `echo '${BACKPORTS_LINE}' > ${BACKPORTS_LIST} && apt-get update && apt-get install -y --no-install-recommends -t bookworm-backports ${packages}`;
}

function canInstall() {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return isRoot && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
}

/** Probes; installs lavapipe when there is no adapter and it can; returns whether an adapter exists. */
export function ensureWebgpu({ log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const first = probeWebgpu();
  if (first.ok) return true;
  if (!canInstall()) {
    log(`tessera tests: no WebGPU adapter (${first.detail || 'unknown reason'}); the WebGPU suite will skip. Install Mesa's lavapipe as root: ${installCommand()}`);
    return false;
  }
  log(`tessera tests: no WebGPU adapter (${first.detail || 'unknown reason'}); installing Mesa's lavapipe (software Vulkan)`);
  try {
    if (codename() === 'bookworm' && !(existsSync(BACKPORTS_LIST) && readFileSync(BACKPORTS_LIST, 'utf8').includes(BACKPORTS_LINE))) {
      writeFileSync(BACKPORTS_LIST, `${BACKPORTS_LINE}\n`);
    }
    execFileSync('sh', ['-c', installCommand().replace(/^echo .*? && /, '')], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    log(`tessera tests: "${installCommand()}" failed`);
    return false;
  }
  const second = probeWebgpu();
  if (!second.ok) log(`tessera tests: still no WebGPU adapter after installing lavapipe (${second.detail || 'unknown reason'})`);
  return second.ok;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ok = ensureWebgpu();
  if (ok) process.stderr.write('tessera tests: WebGPU adapter present\n');
  process.exit(!ok && process.env.TESSERA_REQUIRE_WEBGPU === '1' ? 1 : 0);
}
