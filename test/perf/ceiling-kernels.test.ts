import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelMsPerRun } from '../../bench/perf/ceiling.js';
import { buildOnnx } from '../../src/model/onnx-build.js';
import { ort } from '../../src/model/runtime.js';

// The bench's ceiling times each product by its kernels in onnxruntime's profile (eleventh
// session): one figure per run, in run order, each within the run's own span. Checked on a
// two-node graph, with bounds that hold on any CPU (no timing is asserted beyond ordering).
describe('kernelMsPerRun (bench/perf/ceiling.ts)', () => {
  it("gives each profiled run its nodes' kernel time, no more than the run's wall time", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-kernels-'));
    try {
      const file = path.join(dir, 'product.onnx');
      writeFileSync(
        file,
        buildOnnx({
          name: 'product',
          inputs: [{ name: 'x', type: 'float32', dims: ['rows', 64] }, { name: 'w', type: 'float32', dims: [64, 64] }],
          outputs: [{ name: 'z', type: 'float32', dims: ['rows', 64] }],
          nodes: [
            { op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] },
            { op: 'Relu', inputs: ['y'], outputs: ['z'] },
          ],
        }),
      );
      const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, enableProfiling: true, profileFilePrefix: path.join(dir, 'run') });
      const feeds = { x: new ort.Tensor('float32', new Float32Array(256 * 64).fill(0.5), [256, 64]), w: new ort.Tensor('float32', new Float32Array(64 * 64).fill(0.25), [64, 64]) };
      const walls: number[] = [];
      for (let i = 0; i < 4; i++) {
        const started = performance.now();
        await session.run(feeds);
        walls.push(performance.now() - started);
      }
      const kernels = kernelMsPerRun(session, dir, 'run');
      await session.release();
      expect(kernels).toHaveLength(4);
      kernels.forEach((ms, i) => {
        expect(ms).toBeGreaterThan(0);
        expect(ms).toBeLessThanOrEqual(walls[i] + 0.001); // inside the run's span, which is inside the timed call
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
