/**
 * Eval metrics as pure functions over judged candidates, so they are tested without
 * a model. Per prompt: random (mean pass over candidates), top1 (the reranker's
 * choice), top4, oracle (any of N). Per group of prompts: means with 95% intervals.
 */
import { createRng } from '../world/prng.js';

export interface JudgedCandidate {
  index: number;
  /** 1-based rank after reranking (best first). */
  rank: number;
  score: number | null;
  pass: boolean;
}

export interface PromptOutcome {
  random: number;
  top1: boolean;
  top4: boolean;
  oracle: boolean;
}

export interface Interval {
  value: number;
  low: number;
  high: number;
}

export interface GroupMetrics {
  prompts: number;
  candidates: number;
  /** Exact-match rate of a random candidate (mean over candidates, then prompts). */
  random: Interval;
  top1: Interval;
  top4: Interval;
  oracle: Interval;
  /** (top1 - random) / (oracle - random): the share of the random->oracle gap the rerank closes; null when oracle == random. */
  gapClosed: Interval | null;
}

export function outcomeOf(candidates: readonly JudgedCandidate[], keep = 4): PromptOutcome {
  const ranked = [...candidates].sort((a, b) => a.rank - b.rank);
  const passes = ranked.filter((c) => c.pass).length;
  return {
    random: ranked.length === 0 ? 0 : passes / ranked.length,
    top1: ranked.length > 0 && ranked[0].pass,
    top4: ranked.slice(0, keep).some((c) => c.pass),
    oracle: passes > 0,
  };
}

/** Wilson score interval for k successes in n trials (95%). */
export function wilson(successes: number, trials: number, z = 1.96): Interval {
  if (trials === 0) return { value: 0, low: 0, high: 0 };
  const p = successes / trials;
  const denominator = 1 + (z * z) / trials;
  const centre = (p + (z * z) / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials))) / denominator;
  return { value: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

function percentile(sorted: number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/**
 * Percentile bootstrap over prompts (seeded, so reports are reproducible) of any
 * statistic of a resample; resamples where the statistic is undefined are dropped.
 */
export function bootstrap(outcomes: readonly PromptOutcome[], statistic: (sample: PromptOutcome[]) => number | null, resamples = 2000, seed = 1): Interval | null {
  const value = statistic([...outcomes]);
  if (value === null) return null;
  const rng = createRng(seed);
  const values: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const sample = Array.from({ length: outcomes.length }, () => outcomes[rng.int(outcomes.length)]);
    const v = statistic(sample);
    if (v !== null) values.push(v);
  }
  values.sort((a, b) => a - b);
  return { value, low: percentile(values, 0.025), high: percentile(values, 0.975) };
}

const mean = (values: number[]): number => values.reduce((s, v) => s + v, 0) / values.length;

export function gapClosed(sample: readonly PromptOutcome[]): number | null {
  const random = mean(sample.map((o) => o.random));
  const oracle = mean(sample.map((o) => (o.oracle ? 1 : 0)));
  const top1 = mean(sample.map((o) => (o.top1 ? 1 : 0)));
  return oracle - random > 1e-9 ? (top1 - random) / (oracle - random) : null;
}

export function groupMetrics(outcomes: readonly PromptOutcome[], candidatesPerPrompt: number): GroupMetrics {
  const count = (key: 'top1' | 'top4' | 'oracle'): number => outcomes.filter((o) => o[key]).length;
  const random = outcomes.length === 0
    ? { value: 0, low: 0, high: 0 }
    : (bootstrap(outcomes, (s) => mean(s.map((o) => o.random))) as Interval);
  return {
    prompts: outcomes.length,
    candidates: candidatesPerPrompt,
    random,
    top1: wilson(count('top1'), outcomes.length),
    top4: wilson(count('top4'), outcomes.length),
    oracle: wilson(count('oracle'), outcomes.length),
    gapClosed: outcomes.length === 0 ? null : bootstrap(outcomes, gapClosed),
  };
}

/** Metrics overall and per category, in the order categories first appear. */
export function summarize(results: readonly { category: string; outcome: PromptOutcome }[], candidatesPerPrompt: number): { overall: GroupMetrics; categories: Record<string, GroupMetrics> } {
  const categories: Record<string, GroupMetrics> = {};
  for (const category of [...new Set(results.map((r) => r.category))]) {
    categories[category] = groupMetrics(results.filter((r) => r.category === category).map((r) => r.outcome), candidatesPerPrompt);
  }
  return { overall: groupMetrics(results.map((r) => r.outcome), candidatesPerPrompt), categories };
}
