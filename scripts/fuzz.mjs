#!/usr/bin/env node
/**
 * `npm run fuzz`: the property tests of test/fuzz with many more cases than `npm test`
 * (FUZZ_RUNS, default 12,000: about 9,600 HTTP requests, 1,800 prompt files parsed and
 * 120 full batch runs). Prints the seed; FUZZ_SEED=<seed> npm run fuzz replays a run.
 */
import { spawnSync } from 'node:child_process';

const seed = process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
const cases = process.env.FUZZ_RUNS ?? '12000';
console.log(`fuzz: ${cases} cases, seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_RUNS=${cases} npm run fuzz)`);
const result = spawnSync('npx', ['vitest', 'run', 'test/fuzz', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_SEED: seed, FUZZ_RUNS: cases },
});
console.log(`fuzz: seed ${seed} ${result.status === 0 ? 'passed' : 'FAILED'}`);
process.exit(result.status ?? 1);
