/**
 * Scaling with the candidate count (issue 12): time and peak memory for each count, each
 * in its own process (scaling-child.ts), beside the memory the KV cache is predicted to
 * take (rows x layers x keys+values x heads x slots x headDim x 4 bytes).
 */
import { spawnSync } from 'node:child_process';
import type { ModelManifest } from '../../src/model/manifest.js';
import { table } from './machine.js';

interface ChildResult {
  candidates: number;
  rows: number;
  prefillMs: number;
  decodeMs: number;
  baselineRss: number;
  peakRss: number;
  baselineBuffers: number;
  peakBuffers: number;
}

export function predictedCacheBytes(manifest: ModelManifest, rows: number): number {
  const { layers, heads, headDim, maxLength } = manifest.generator;
  return rows * layers * 2 * heads * maxLength * headDim * 4;
}

export function scaling(model: string, manifest: ModelManifest, counts: readonly number[]): Record<string, unknown>[] {
  const rows = counts.map((count) => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'bench/perf/scaling-child.ts', model, String(count)], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`scaling child (${count}) failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1) as string) as ChildResult;
    const totalMs = r.prefillMs + r.decodeMs;
    return { ...r, totalMs, msPerCandidate: totalMs / count, rssGrowthMb: (r.peakRss - r.baselineRss) / 1e6, bufferGrowthMb: (r.peakBuffers - r.baselineBuffers) / 1e6, predictedMb: predictedCacheBytes(manifest, r.rows) / 1e6, peakMb: r.peakRss / 1e6 };
  });
  console.log('\nscaling: one process per count (prefill + decode; peak RSS and JS buffers during sampling, above the same process after a 1-candidate warm-up, against the predicted KV cache):');
  console.log(
    table(
      ['candidates', 'rows', 'total ms', 'ms per candidate', 'peak RSS MB', 'RSS growth MB', 'JS buffers growth MB', 'predicted cache MB'],
      rows.map((r) => [r.candidates, r.rows, r.totalMs.toFixed(0), r.msPerCandidate.toFixed(1), r.peakMb.toFixed(0), r.rssGrowthMb.toFixed(0), r.bufferGrowthMb.toFixed(1), r.predictedMb.toFixed(1)]),
    ),
  );
  return rows;
}
