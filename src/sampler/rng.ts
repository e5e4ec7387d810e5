/**
 * Per-candidate random streams. Candidate i of seed s draws from a SplitMix64 stream
 * keyed by (s, i) alone (Steele et al. 2014, "Fast splittable pseudorandom number
 * generators"), so it is identical whatever the number of candidates, the batch or the
 * slot it runs in: one candidate of a large run can be reproduced by itself.
 * scripts/train/reference_sampler.py implements the same stream in Python.
 */
const MASK64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;
const TWO_POW_53 = 2 ** 53;

/** The largest seed accepted: seeds are unsigned 32-bit, as in most image tools. */
export const MAX_SEED = 0xffffffff;

function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

export class CandidateStream {
  private state: bigint;

  constructor(seed: number, candidateIndex: number) {
    this.state = mix64((BigInt(seed) & MASK64) ^ mix64((BigInt(candidateIndex + 1) * GOLDEN) & MASK64));
  }

  /** A uniform draw in [0, 1) with 53 random bits. */
  uniform(): number {
    this.state = (this.state + GOLDEN) & MASK64;
    return Number(mix64(this.state) >> 11n) / TWO_POW_53;
  }
}

/** A random seed for requests that name none. */
export function randomSeed(): number {
  return Math.floor(Math.random() * (MAX_SEED + 1));
}
