import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { createSession, webgpuHint } from '../../src/model/runtime.js';
import { TINY_MODEL } from '../helpers/tiny.js';

// Where WebGPU cannot start (no Vulkan loader or driver: every CPU-only machine), the
// failure is one coded error that says what is missing (issue 12); where it starts, the
// session runs.
describe('--device webgpu', () => {
  it('starts, or fails with TESSERA_ERR_DEVICE naming what is missing', async () => {
    let error: unknown = null;
    try {
      const session = await createSession(join(TINY_MODEL, 'vae/decoder.onnx'), 'webgpu');
      await session.release();
    } catch (caught) {
      error = caught;
    }
    if (error === null) return; // a machine with a WebGPU adapter
    expect(isTesseraError(error) && error.code).toBe('TESSERA_ERR_DEVICE');
    expect((error as Error).message).toContain('Device webgpu could not start');
    expect((error as Error).message).toContain(webgpuHint());
    expect(webgpuHint()).toMatch(/Vulkan/);
  });
});
