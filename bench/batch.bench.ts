/**
 * Batch throughput: 16 prompts of 8 candidates through the batch runner (generation,
 * CLIP, PNG encoding and crash-safe writes included), with the candidates of several
 * prompts sharing one sampler batch versus one prompt at a time, in the same process.
 * Rounds alternate between the two so that load on the machine hits both alike; the
 * median round of each is reported, and their ratio.
 *
 *   npx tsx bench/batch.bench.ts [--model DIR] [--device cpu] [--prompts 16]
 *     [--candidates 8] [--batch-prompts 16] [--rounds 3] [--json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBatch } from '../src/batch/runner.js';
import { Tessera } from '../src/pipeline/tessera.js';
import type { Device } from '../src/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(here, '../test/fixtures/tiny-model') },
    device: { type: 'string', default: 'cpu' },
    prompts: { type: 'string', default: '16' },
    candidates: { type: 'string', default: '8' },
    'batch-prompts': { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const promptCount = Number(values.prompts);
const candidates = Number(values.candidates);
const batchPrompts = Number(values['batch-prompts']);
const rounds = Number(values.rounds);

const SHAPES = ['circle', 'square', 'triangle', 'star'];
const COLOURS = ['red', 'blue', 'green', 'yellow'];
const work = mkdtempSync(path.join(tmpdir(), 'tessera-batch-bench-'));
const promptFile = path.join(work, 'prompts.txt');
writeFileSync(promptFile, Array.from({ length: promptCount }, (_, i) => `a ${COLOURS[i % 4]} ${SHAPES[Math.floor(i / 4) % 4]}`).join('\n') + '\n');

const tessera = await Tessera.load({ model: values.model, device: values.device as Device });

async function once(prompts: number, round: number): Promise<{ seconds: number; imagesPerSecond: number; generateMs: number }> {
  const out = path.join(work, `out-${prompts}-${round}`);
  let generateMs = 0;
  const started = performance.now();
  const summary = await runBatch({ prompts: promptFile, out, tessera, candidates, seed: 1234, batchPrompts: prompts, onProgress: () => {} });
  const seconds = (performance.now() - started) / 1000;
  generateMs = summary.elapsedMs;
  rmSync(out, { recursive: true, force: true });
  return { seconds, imagesPerSecond: summary.images / seconds, generateMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await once(batchPrompts, -1); // warm-up: sessions, sharp, fonts
const batched: number[] = [];
const single: number[] = [];
for (let r = 0; r < rounds; r++) {
  // Alternate the order so neither mode always runs on a warmer (or busier) machine.
  const order = r % 2 === 0 ? [batchPrompts, 1] : [1, batchPrompts];
  for (const n of order) (n === 1 ? single : batched).push((await once(n, r)).imagesPerSecond);
}
await tessera.dispose();
rmSync(work, { recursive: true, force: true });

const report = {
  model: tessera.manifest.name,
  device: values.device,
  prompts: promptCount,
  candidates,
  batchPrompts,
  rounds,
  batchedImagesPerSecond: median(batched),
  singleImagesPerSecond: median(single),
  ratio: median(batched) / median(single),
  batchedRounds: batched,
  singleRounds: single,
};
if (values.json) {
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
} else {
  process.stdout.write(
    [
      `tessera batch bench: ${promptCount} prompts x ${candidates} candidates, model ${report.model} on ${report.device}, ${rounds} rounds (median)`,
      `  ${batchPrompts} prompts per sampler batch: ${report.batchedImagesPerSecond.toFixed(1)} images/s  (rounds ${batched.map((x) => x.toFixed(1)).join(', ')})`,
      `  1 prompt at a time:${' '.repeat(Math.max(0, String(batchPrompts).length + 11 - 9))}${report.singleImagesPerSecond.toFixed(1)} images/s  (rounds ${single.map((x) => x.toFixed(1)).join(', ')})`,
      `  ratio: ${report.ratio.toFixed(2)}x (target >= 1.5x)`,
    ].join('\n') + '\n',
  );
}
