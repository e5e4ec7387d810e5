/**
 * One scaling measurement in its own process, so its peak memory is its own:
 *   node --import tsx bench/perf/scaling-child.ts MODEL CANDIDATES
 * Loads the model, samples once with 1 candidate (warm-up), records the resident set and
 * the JS buffers' bytes (the baseline), then samples CANDIDATES candidates, sampling both
 * at every step, and prints one JSON line with their peaks. (The process's maxRSS is no
 * use here: loading the package peaks above what small batches ever take.)
 */
import { Tessera } from '../../src/pipeline/tessera.js';

const [model, count] = [process.argv[2], Number(process.argv[3])];
const tessera = await Tessera.load({ model, rerank: false, precision: 'fp32' });
const prompt = 'a small red star left of a large blue circle on a white background';
const { sampler } = tessera.model;
await sampler.generate(tessera.prepare({ prompt, seed: 1, candidates: 1 }).sequences);
const before = process.memoryUsage();
let peak = before;
const sample = () => {
  const now = process.memoryUsage();
  peak = { ...peak, rss: Math.max(peak.rss, now.rss), arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers) };
};
const prepared = tessera.prepare({ prompt, seed: 7, candidates: count });
const t0 = performance.now();
const state = await sampler.prefill(prepared.sequences);
const t1 = performance.now();
sample();
await sampler.decodeSteps(state, sampler.imageTokens, { onStep: sample });
const t2 = performance.now();
console.log(JSON.stringify({ candidates: count, rows: state.rows, prefillMs: t1 - t0, decodeMs: t2 - t1, baselineRss: before.rss, peakRss: peak.rss, baselineBuffers: before.arrayBuffers, peakBuffers: peak.arrayBuffers }));
await tessera.dispose();
