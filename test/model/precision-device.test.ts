import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRECISION_CACHE_FILE } from '../../src/model/precision.js';
import { selectPrecision } from '../../src/pipeline/precision.js';
import { tempDir } from '../helpers/tiny.js';
import { plainPackage } from '../helpers/variant.js';

// Issue 29: on WebGPU the int8 variant's MatMulInteger has no kernel and runs on the CPU
// with copies each way (bench/webgpu/placement.ts), so `auto` keeps the graphs that stay
// on the device, without opening the variant or timing anything.
describe('auto precision on a device', () => {
  it('keeps fp32 on WebGPU without a probe, saying why; the CPU still probes', async () => {
    const cache = tempDir();
    const run = async (device: 'webgpu' | 'cpu') => {
      const opened: string[] = [];
      const selected = selectPrecision({
        dir: plainPackage(),
        manifest: { variants: { int8: {} } } as never,
        device,
        requested: 'auto',
        rows: 8,
        probe: { cacheDir: cache, cpu: 'test-cpu' },
        open: async (precision) => {
          opened.push(precision);
          // Not a generator: a probe (the CPU's path) fails on it, after both precisions opened.
          return { generator: {}, release: async () => undefined } as never;
        },
      });
      return { selected, opened };
    };
    const webgpu = await run('webgpu');
    expect((await webgpu.selected).report).toMatchObject({ requested: 'auto', precision: 'fp32', reason: 'device' });
    expect(webgpu.opened).toEqual(['fp32']);
    expect(existsSync(path.join(cache, PRECISION_CACHE_FILE))).toBe(false);
    const cpu = await run('cpu');
    await expect(cpu.selected).rejects.toThrow();
    expect(cpu.opened).toEqual(['fp32', 'int8']);
  });
});
