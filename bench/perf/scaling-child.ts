/**
 * One scaling measurement in its own process, so its peak memory is its own:
 *   node --import tsx bench/perf/scaling-child.ts MODEL CANDIDATES
 * Loads the model, samples once with 1 candidate (warm-up), records the peak RSS so far
 * (the baseline), then samples CANDIDATES candidates and prints one JSON line.
 */
import { Tessera } from '../../src/pipeline/tessera.js';

const [model, count] = [process.argv[2], Number(process.argv[3])];
const tessera = await Tessera.load({ model, rerank: false });
const prompt = 'a small red star left of a large blue circle on a white background';
const { sampler } = tessera.model;
await sampler.generate(tessera.prepare({ prompt, seed: 1, candidates: 1 }).sequences);
const baselineKb = process.resourceUsage().maxRSS;
const prepared = tessera.prepare({ prompt, seed: 7, candidates: count });
const t0 = performance.now();
const state = await sampler.prefill(prepared.sequences);
const t1 = performance.now();
await sampler.decodeSteps(state, sampler.imageTokens);
const t2 = performance.now();
const peakKb = process.resourceUsage().maxRSS;
console.log(JSON.stringify({ candidates: count, rows: state.rows, prefillMs: t1 - t0, decodeMs: t2 - t1, baselineKb, peakKb }));
await tessera.dispose();
