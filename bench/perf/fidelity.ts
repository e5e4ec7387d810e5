/**
 * Fidelity of a variant (int8) against the float model, by the judge, on the same prompts
 * and seeds (issue 12): reads two `npm run eval` reports and prints the paired
 * per-prompt differences with 95% intervals (normal approximation of paired differences).
 *
 *   npx tsx bench/perf/fidelity.ts out/eval-float/report.json out/eval-int8/report.json [out/fidelity.json]
 *
 * The optional third file gets the same figures as JSON (quantize_int8.py --judge records it
 * in the variant's fidelity entry).
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface Report {
  model: string;
  candidates: number;
  perPrompt: { id: string; seed: number; outcome: { random: number; top1: number; oracle: number } }[];
}

export function pairedDifference(a: readonly number[], b: readonly number[]): { mean: number; low: number; high: number; n: number } {
  const d = a.map((x, i) => b[i] - x);
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const variance = d.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, n - 1);
  const half = 1.96 * Math.sqrt(variance / n);
  return { mean, low: mean - half, high: mean + half, n };
}

const [fileA, fileB, jsonOut] = process.argv.slice(2);
if (fileA !== undefined && fileB !== undefined) {
  const a = JSON.parse(readFileSync(fileA, 'utf8')) as Report;
  const b = JSON.parse(readFileSync(fileB, 'utf8')) as Report;
  const byId = new Map(b.perPrompt.map((p) => [p.id, p]));
  const pairs = a.perPrompt.filter((p) => byId.get(p.id)?.seed === p.seed);
  console.log(`${b.model} against ${a.model}: ${pairs.length} prompts x ${a.candidates} candidates, same prompts and seeds`);
  const figures: Record<string, unknown> = { prompts: pairs.length, candidates: a.candidates, against: a.model, variant: b.model };
  for (const key of ['random', 'top1', 'oracle'] as const) {
    const x = pairs.map((p) => p.outcome[key]);
    const y = pairs.map((p) => (byId.get(p.id) as Report['perPrompt'][number]).outcome[key]);
    const d = pairedDifference(x, y);
    const mean = (v: number[]) => (100 * v.reduce((s, t) => s + t, 0)) / v.length;
    console.log(`${key.padEnd(7)} ${mean(x).toFixed(1)}% -> ${mean(y).toFixed(1)}%: difference ${(100 * d.mean).toFixed(1)} points [${(100 * d.low).toFixed(1)}, ${(100 * d.high).toFixed(1)}]`);
    figures[key] = { fp32: mean(x), int8: mean(y), differencePoints: 100 * d.mean, low: 100 * d.low, high: 100 * d.high };
  }
  if (jsonOut !== undefined) writeFileSync(jsonOut, JSON.stringify(figures, null, 2) + '\n');
}
