/**
 * Fuzzing knobs shared by test/fuzz/*: `npm test` runs a few thousand cases with a fresh
 * seed each time; `npm run fuzz` (scripts/fuzz.mjs) sets FUZZ_RUNS and FUZZ_SEED. The seed
 * is printed, so a failure is replayed with FUZZ_SEED=<seed>.
 */
export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

/** Cases for one property: `base` in npm test, scaled up when FUZZ_RUNS asks for more. */
export function runs(base: number, share = 1): number {
  const total = process.env.FUZZ_RUNS === undefined ? undefined : Number(process.env.FUZZ_RUNS);
  return total === undefined ? base : Math.max(base, Math.ceil(total * share));
}

export function announce(name: string): void {
  console.log(`[fuzz] ${name}: seed ${FUZZ_SEED} (replay: FUZZ_SEED=${FUZZ_SEED} npm run fuzz)`);
}
