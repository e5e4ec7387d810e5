import { describe, expect, it } from 'vitest';
import { gapClosed, groupMetrics, outcomeOf, summarize, wilson, type JudgedCandidate } from '../../eval/harness/metrics.js';

function candidates(passes: boolean[]): JudgedCandidate[] {
  // Ranked best first: rank i+1 holds passes[i].
  return passes.map((pass, i) => ({ index: (i * 7) % passes.length, rank: i + 1, score: 1 - i / 100, pass }));
}

describe('eval metrics', () => {
  it('reads random, top-1, top-4 and oracle from ranked candidates', () => {
    expect(outcomeOf(candidates([true, false, false, false]))).toEqual({ random: 0.25, top1: true, top4: true, oracle: true });
    expect(outcomeOf(candidates([false, false, false, false, true, false, false, false]))).toEqual({ random: 0.125, top1: false, top4: false, oracle: true });
    expect(outcomeOf(candidates([false, false, true, false]))).toMatchObject({ top1: false, top4: true });
    expect(outcomeOf([...candidates([true, false])].reverse())).toMatchObject({ top1: true });
    expect(outcomeOf([])).toEqual({ random: 0, top1: false, top4: false, oracle: false });
  });

  it('computes Wilson intervals that contain the rate and stay in [0, 1]', () => {
    const interval = wilson(50, 100);
    expect(interval.value).toBe(0.5);
    expect(interval.low).toBeCloseTo(0.4038, 3);
    expect(interval.high).toBeCloseTo(0.5962, 3);
    const zero = wilson(0, 20);
    expect(zero.low).toBe(0);
    expect(zero.high).toBeGreaterThan(0.1);
    expect(wilson(0, 0)).toEqual({ value: 0, low: 0, high: 0 });
  });

  it('measures the share of the random-to-oracle gap closed by the rerank', () => {
    const perfect = [outcomeOf(candidates([true, false, false, false])), outcomeOf(candidates([true, false]))];
    expect(gapClosed(perfect)).toBeCloseTo(1);
    const none = [{ random: 0.25, top1: false, top4: false, oracle: true }];
    expect(gapClosed(none)).toBeCloseTo(-1 / 3);
    expect(gapClosed([{ random: 0, top1: false, top4: false, oracle: false }])).toBeNull();
  });

  it('reports per category and overall with bootstrap intervals, near zero for a random model', () => {
    const results = Array.from({ length: 40 }, (_, i) => ({
      category: i % 2 === 0 ? 'single' : 'count',
      outcome: outcomeOf(candidates(Array.from({ length: 8 }, (_, j) => i % 2 === 0 && j === i % 8))),
    }));
    const report = summarize(results, 8);
    expect(Object.keys(report.categories)).toEqual(['single', 'count']);
    expect(report.categories.count.oracle.value).toBe(0);
    expect(report.categories.count.gapClosed).toBeNull();
    expect(report.categories.single.oracle.value).toBe(1);
    expect(report.categories.single.random.value).toBeCloseTo(1 / 8);
    const overall = report.overall;
    expect(overall.prompts).toBe(40);
    expect(overall.random.low).toBeLessThanOrEqual(overall.random.value);
    expect(overall.random.high).toBeGreaterThanOrEqual(overall.random.value);
    expect(groupMetrics([], 8).gapClosed).toBeNull();
  });
});
