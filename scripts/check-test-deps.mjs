#!/usr/bin/env node
/**
 * `npm test` runs this first (the `pretest` script): the tests need four Debian packages
 * besides node_modules. Chromium drives the gallery page's end-to-end test, exiftool is an
 * independent reader of the metadata Tessera writes, DejaVu fonts label contact sheets, and
 * redis-server backs the queue tests (each test file starts and stops its own, on a free port).
 * When one is missing and this runs as root with apt-get, it installs them; otherwise it
 * stops at once naming the exact command to run. TESSERA_SKIP_SYSTEM_DEPS=1 skips the check.
 * The WebGPU suite needs an adapter: scripts/lavapipe.mjs probes for one and installs Mesa's
 * lavapipe (software Vulkan, from bookworm-backports on Debian 12) when it can; where it
 * cannot, that suite skips with a message, unless TESSERA_REQUIRE_WEBGPU=1 (CI) fails here.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ensureWebgpu } from './lavapipe.mjs';

const CHECKS = [
  { pkg: 'chromium', what: 'Chromium at /usr/bin/chromium (the gallery end-to-end test)', ok: () => existsSync('/usr/bin/chromium') },
  { pkg: 'libimage-exiftool-perl', what: 'exiftool (metadata read back by an independent reader)', ok: () => onPath('exiftool') },
  { pkg: 'redis-server', what: 'redis-server (the queue tests start their own on a loopback port)', ok: () => existsSync('/usr/bin/redis-server') },
  { pkg: 'fonts-dejavu-core', what: 'DejaVu Sans Mono (labels on contact sheets)', ok: () => existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf') },
];

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

if (process.env.TESSERA_SKIP_SYSTEM_DEPS === '1') process.exit(0);
if (!ensureWebgpu() && process.env.TESSERA_REQUIRE_WEBGPU === '1') {
  process.stderr.write('tessera tests: TESSERA_REQUIRE_WEBGPU=1 and no WebGPU adapter (see above)\n');
  process.exit(1);
}
const missing = CHECKS.filter((c) => !c.ok());
if (missing.length === 0) process.exit(0);

const packages = missing.map((c) => c.pkg);
const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (isRoot && onPath('apt-get')) {
  process.stderr.write(`tessera tests: installing ${packages.join(', ')} (${missing.map((c) => c.what).join('; ')})\n`);
  try {
    execFileSync('sh', ['-c', command], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    process.stderr.write(`tessera tests: "${command}" failed; install those packages, then run npm test again\n`);
    process.exit(1);
  }
  const still = CHECKS.filter((c) => !c.ok());
  if (still.length === 0) process.exit(0);
  process.stderr.write(`tessera tests: still missing after apt-get: ${still.map((c) => c.what).join('; ')}\n`);
  process.exit(1);
}
process.stderr.write(
  [
    'tessera tests: missing system packages the tests need:',
    ...missing.map((c) => `  ${c.pkg}: ${c.what}`),
    `Install them (Debian/Ubuntu) with:  sudo ${command}`,
    'then run npm test again (TESSERA_SKIP_SYSTEM_DEPS=1 skips this check).',
    '',
  ].join('\n'),
);
process.exit(1);
