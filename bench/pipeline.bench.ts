/**
 * npm run bench -- [--model DIR] [--candidates 8,32,128] [--naive-candidates 32] [--skip-naive]
 *
 * Per-stage time (prefill, decode steps, image decode, CLIP), image tokens/s and
 * images/s for several candidate counts, and the KV-cached sampler against the naive
 * one that reruns the whole sequence every step — both measured in this same run, on
 * the same rows and streams, and checked to draw identical tokens. Ratios, not
 * absolute times, are what carry across machines.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Tessera } from '../src/pipeline/tessera.js';
import { NaiveSampler } from '../src/sampler/naive-sampler.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    candidates: { type: 'string' },
    'naive-candidates': { type: 'string' },
    'skip-naive': { type: 'boolean' },
    prompt: { type: 'string' },
  },
  strict: true,
});
const counts = (values.candidates ?? '8,32,128').split(',').map(Number);
const naiveCandidates = Number(values['naive-candidates'] ?? 32);
const prompt = values.prompt ?? 'a small red star left of a large blue circle on a white background';

const tessera = await Tessera.load({ model: values.model });
const { manifest } = tessera;
const steps = manifest.image.grid.height * manifest.image.grid.width;
console.log(`model ${manifest.name}: ${manifest.generator.layers} layers, ${manifest.generator.heads}x${manifest.generator.headDim} heads, ${steps} image tokens, guidance ${manifest.sampling.guidanceScale}`);
console.log(`node ${process.version}, onnxruntime-node CPU, threads intra=${process.env.TESSERA_THREADS ?? 2} inter=1, ${new Date().toISOString().slice(0, 10)}`);
await tessera.generate({ prompt, seed: 1, candidates: 2 }); // warm-up: first runs allocate

interface Row {
  candidates: number;
  prefillMs: number;
  decodeMs: number;
  imageDecodeMs: number;
  clipMs: number;
  totalMs: number;
  tokensPerSecond: number;
  imagesPerSecond: number;
}
const rows: Row[] = [];
for (const candidates of counts) {
  const result = await tessera.generate({ prompt, seed: 7, candidates, keep: Math.min(4, candidates) });
  const t = result.timings;
  rows.push({
    candidates,
    prefillMs: t.prefill,
    decodeMs: t.decode,
    imageDecodeMs: t.imageDecode,
    clipMs: t.rerank,
    totalMs: t.total,
    tokensPerSecond: (candidates * steps) / (t.decode / 1000),
    imagesPerSecond: candidates / (t.total / 1000),
  });
}
console.log('\n| candidates | prefill ms | decode ms | image decode ms | CLIP ms | total ms | image tokens/s | images/s |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.candidates} | ${r.prefillMs.toFixed(0)} | ${r.decodeMs.toFixed(0)} | ${r.imageDecodeMs.toFixed(0)} | ${r.clipMs.toFixed(0)} | ${r.totalMs.toFixed(0)} | ${r.tokensPerSecond.toFixed(0)} | ${r.imagesPerSecond.toFixed(2)} |`,
  );
}

let naive: { candidates: number; cachedMs: number; naiveMs: number; ratio: number; identical: boolean } | null = null;
if (!values['skip-naive']) {
  const prepared = tessera.prepare({ prompt, seed: 11, candidates: naiveCandidates });
  const { sampler } = tessera.model;
  const cachedStarted = performance.now();
  const cached = await sampler.generate(prepared.sequences);
  const cachedMs = performance.now() - cachedStarted;
  const naiveStarted = performance.now();
  const uncached = await new NaiveSampler(tessera.model.generator).generate(prepared.sequences);
  const naiveMs = performance.now() - naiveStarted;
  const identical = cached.every((c, i) => c.every((v, k) => v === uncached[i][k]));
  naive = { candidates: naiveCandidates, cachedMs, naiveMs, ratio: naiveMs / cachedMs, identical };
  console.log(
    `\nsampling ${naiveCandidates} candidates (${prepared.sequences.length * (manifest.sampling.guidanceScale !== 1 ? 2 : 1)} rows): KV-cached ${cachedMs.toFixed(0)} ms, naive (full rerun each step) ${naiveMs.toFixed(0)} ms -> ${naive.ratio.toFixed(1)}x faster; identical tokens: ${identical}`,
  );
}
mkdirSync('out', { recursive: true });
writeFileSync('out/bench.json', JSON.stringify({ date: new Date().toISOString(), model: manifest.name, rows, naive }, null, 2) + '\n');
console.log('wrote out/bench.json');
await tessera.dispose();
