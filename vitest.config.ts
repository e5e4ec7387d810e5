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
    // The JSON report lets .ci/run end with a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'out/vitest-report.json' },
  },
});
