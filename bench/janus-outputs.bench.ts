/**
 * The Janus language model as published (returns its whole grown cache, `present.*`)
 * against Tessera's new-entry rewrite (src/model/new-entry-outputs.ts), alternating, in one
 * process: wall time, CPU time and page faults of one call at `--rows` rows after `--past`
 * cache slots (late in the 576-position grid by default). docs/janus.md, "Costs".
 *
 *   node --import tsx bench/janus-outputs.bench.ts --model /tmp/janus-pro-1b [--rows 8] [--past 670] [--rounds 3]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadJanusLanguageModel } from '../src/generator/janus/language-model.js';
import { readManifest } from '../src/model/manifest.js';
import { createSession, ort } from '../src/model/runtime.js';
import { cpuFlagsLine, machineLine, median } from './perf/machine.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, rows: { type: 'string', default: '8' }, past: { type: 'string', default: '670' }, rounds: { type: 'string', default: '3' } } });
if (values.model === undefined) throw new Error('--model DIR (a Janus package) is required');
const [rows, past, rounds] = [Number(values.rows), Number(values.past), Number(values.rounds)];
console.log(machineLine());
console.log(cpuFlagsLine());
const manifest = readManifest(values.model);
const { layers, heads, headDim } = manifest.generator;
const file = path.join(values.model, manifest.generator.step);
const hidden = manifest.janus!.hiddenSize;

const published = await createSession(file, 'cpu');
const rewritten = await loadJanusLanguageModel(file, 'cpu', layers);
if (rewritten.newEntries === undefined) throw new Error(`the graph was not rewritten: ${rewritten.unchanged}`);

const feeds: Record<string, ort.Tensor> = {
  inputs_embeds: new ort.Tensor('float32', new Float32Array(rows * hidden).fill(0.01), [rows, 1, hidden]),
  attention_mask: new ort.Tensor('int64', new BigInt64Array(rows * (past + 1)).fill(1n), [rows, past + 1]),
};
if (published.inputNames.includes('position_ids')) feeds.position_ids = new ort.Tensor('int64', new BigInt64Array(rows).fill(BigInt(past)), [rows, 1]);
for (let l = 0; l < layers; l++) {
  for (const kind of ['key', 'value']) feeds[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(rows * heads * past * headDim), [rows, heads, past, headDim]); // [R, H, C, D]
}

const times: Record<string, { ms: number[]; cpuMs: number[]; faults: number[] }> = { published: { ms: [], cpuMs: [], faults: [] }, rewritten: { ms: [], cpuMs: [], faults: [] } };
const sessions = { published, rewritten: rewritten.session };
// Round 0 of each warms the session (its first run sizes onnxruntime's arena); rounds 1.. are kept.
for (let round = 0; round <= rounds; round++) {
  for (const [name, session] of Object.entries(sessions)) {
    const before = process.resourceUsage();
    const started = performance.now();
    await session.run(feeds);
    const after = process.resourceUsage();
    if (round === 0) continue;
    times[name]!.ms.push(performance.now() - started);
    times[name]!.cpuMs.push((after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime) / 1000);
    times[name]!.faults.push(after.minorPageFault - before.minorPageFault);
  }
}
const summary = Object.fromEntries(Object.entries(times).map(([name, t]) => [name, { ms: +median(t.ms).toFixed(2), cpu_ms: +median(t.cpuMs).toFixed(2), page_faults: Math.round(median(t.faults)) }]));
console.log(JSON.stringify({ rows, past, rounds, ...summary, speedup: +(summary.published!.ms / summary.rewritten!.ms).toFixed(2) }));
