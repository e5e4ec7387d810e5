import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe } from 'vitest';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

/**
 * Whether onnxruntime-node's WebGPU provider gets an adapter on this machine, probed once
 * per test file in a child process (Dawn picks its Vulkan driver once per process; a
 * child keeps a failed probe from touching the test's own). On a CPU-only machine the
 * adapter is Mesa's lavapipe (software Vulkan), which `npm test`'s pretest step installs
 * (scripts/check-test-deps.mjs; README, "The GPU path").
 */
export function probeWebgpu(env: NodeJS.ProcessEnv = process.env): { ok: boolean; detail: string } {
  const graph = path.join(TINY_MODEL, 'vae/decoder.onnx');
  const script = `const ort = require('onnxruntime-node'); ort.InferenceSession.create(${JSON.stringify(graph)}, { executionProviders: ['webgpu'] }).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(3); });`;
  const probe = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  return { ok: probe.status === 0, detail: `${probe.stderr ?? ''}`.trim() };
}

/**
 * `describe` where WebGPU has an adapter; elsewhere the suite skips with a message saying
 * why and how to install one, unless TESSERA_REQUIRE_WEBGPU=1 (CI: .ci/run sets it after
 * installing lavapipe), where a missing adapter fails the suite instead.
 */
export function describeWebgpu(name: string, body: () => void): void {
  const probe = probeWebgpu();
  if (probe.ok) {
    describe(name, body);
    return;
  }
  const why = `no WebGPU adapter (${probe.detail.split('\n').pop() || 'unknown reason'})`;
  if (process.env.TESSERA_REQUIRE_WEBGPU === '1') throw new Error(`TESSERA_REQUIRE_WEBGPU=1 but ${why}`);
  process.stderr.write(
    `skipping "${name}": ${why}. Install Mesa's lavapipe (README, "The GPU path"): apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1\n`,
  );
  describe.skip(name, body);
}
