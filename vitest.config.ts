import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// onnxruntime sessions are native and multi-threaded: forks isolate them, and two
// workers match the two cores of the CI machine.
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    include: ['test/**/*.test.ts'],
    // The pinned outputs (tokens, ranks, golden files) are fp32's: the shipped and tiny models
    // carry int8 variants, and auto would time them on this machine and might pick int8. Tests of
    // auto and int8 ask for them explicitly. Decisions go to a scratch cache, not the user's.
    env: { TESSERA_PRECISION: 'fp32', TESSERA_CACHE_DIR: path.join(os.tmpdir(), `tessera-test-cache-${process.pid}`) },
    // The JSON report lets .ci/run end with a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'out/vitest-report.json' },
  },
});
