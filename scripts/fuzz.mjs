#!/usr/bin/env node
/**
 * `npm run fuzz`: the property tests of test/fuzz with many more cases than `npm test`
 * (FUZZ_RUNS, default 12,000: 9,600 requests over every route, 2,400 multipart uploads
 * with hostile files and broken forms, 1,800 prompt files parsed and 120 full batch
 * runs). Each HTTP fuzzer prints its counts (requests, 5xx, statuses). Prints the seed;
 * FUZZ_SEED=<seed> npm run fuzz replays a run. Only the HTTP routes, 12,500 requests:
 *   FUZZ_RUNS=12500 npm run fuzz -- test/fuzz/routes.fuzz.test.ts test/fuzz/uploads.fuzz.test.ts
 */
import { spawnSync } from 'node:child_process';

const seed = process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
const cases = process.env.FUZZ_RUNS ?? '12000';
console.log(`fuzz: ${cases} cases, seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_RUNS=${cases} npm run fuzz)`);
// Files named on the command line run alone (vitest takes `test/fuzz` as a filter too, which would run them all).
const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-'));
const result = spawnSync('npx', ['vitest', 'run', ...(files.length === 0 ? ['test/fuzz'] : []), ...args], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_SEED: seed, FUZZ_RUNS: cases },
});
console.log(`fuzz: seed ${seed} ${result.status === 0 ? 'passed' : 'FAILED'}`);
process.exit(result.status ?? 1);
