import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

// The clean error where no adapter exists (issue 12, kept by issue 29): with the Vulkan
// loader pointed at a driver manifest that does not exist, Dawn finds no adapter on any
// machine, lavapipe installed or not, and `--device webgpu` fails as one coded line that
// names what Vulkan was limited to. A child process: Dawn picks its driver once per process.
describe('--device webgpu without an adapter', () => {
  it('fails with TESSERA_ERR_DEVICE naming the missing driver, exit 1, nothing written', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'tessera-no-adapter-'));
    const missing = path.join(out, 'no-such-icd.json');
    try {
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'generate', 'a red circle', '--model', TINY_MODEL, '--device', 'webgpu', '--candidates', '2', '--out', path.join(out, 'images')],
        { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, VK_ICD_FILENAMES: missing, VK_DRIVER_FILES: missing } },
      );
      expect(run.status).toBe(1);
      const line = run.stderr.split('\n').find((l) => l.startsWith('tessera: error'));
      expect(line).toContain('[TESSERA_ERR_DEVICE]');
      expect(line).toContain('Device webgpu could not start');
      expect(line).toContain(`not found: ${JSON.stringify(missing)}`);
      expect(spawnSync('ls', [path.join(out, 'images')]).status).not.toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
