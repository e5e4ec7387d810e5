/**
 * The judge on the int8 CLIP vision graph alone (issue 27's fidelity gate for the reranker):
 * the frozen eval prompts (eval/prompts.json, 350) x 16 candidates, generated ONCE by the
 * package at --precision int8 with the eval's seeds, every candidate judged once; then ranked
 * twice, by the package's CLIP with its fp32 vision graph and with `variants.int8.clipVision`.
 * Only the ranking differs between the two, so the paired differences of CLIP top-1 and top-4
 * (random and oracle cannot change) are the vision graph's own effect, with 95% intervals
 * (bench/perf/fidelity.ts's paired normal approximation).
 *
 *   npx tsx bench/perf/clip-judge.ts     (env: TESSERA_MODEL=DIR, CLIP_JUDGE_LIMIT=N prompts, CLIP_JUDGE_OUT=file.json)
 *
 * Takes no positional arguments: bench/perf/fidelity.ts reads its own from process.argv.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { evalWorld } from '../../eval/harness/worlds.js';
import { loadPromptSet } from '../../eval/harness/prompts.js';
import { outcomeOf } from '../../eval/harness/metrics.js';
import { readManifest } from '../../src/model/manifest.js';
import { graphsFor } from '../../src/model/precision.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ClipReranker } from '../../src/rerank/clip-reranker.js';
import { pairedDifference } from './fidelity.js';
import { cpuFlagsLine, machineLine } from './machine.js';

const CANDIDATES = 16;

function ranksOf(scores: number[]): number[] {
  const order = [...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b); // ties by index, as the pipeline ranks
  const ranks = new Array<number>(scores.length);
  order.forEach((index, k) => (ranks[index] = k + 1));
  return ranks;
}

async function main(): Promise<void> {
  const dir = path.resolve(process.env.TESSERA_MODEL ?? 'models/default');
  const manifest = readManifest(dir);
  const graphs = graphsFor(manifest, 'int8');
  if (graphs.clip === null || graphs.clipVision === null) throw new Error(`${dir}: no variants.int8.clipVision to judge`);
  const clipDir = path.join(dir, graphs.clip);
  const visionGraph = path.relative(clipDir, path.join(dir, graphs.clipVision)).split(path.sep).join('/');
  console.log(machineLine());
  console.log(cpuFlagsLine());
  const world = await evalWorld('shapes');
  let prompts = await loadPromptSet(world.promptSet);
  if (process.env.CLIP_JUDGE_LIMIT !== undefined) prompts = prompts.slice(0, Number(process.env.CLIP_JUDGE_LIMIT));
  const [tessera, judge] = await Promise.all([Tessera.load({ model: dir, precision: 'int8', rerank: false }), world.createJudge()]);
  const clips = { fp32: await ClipReranker.load(clipDir, 'cpu'), int8: await ClipReranker.load(clipDir, 'cpu', { visionGraph }) };
  const outcomes = { fp32: [] as ReturnType<typeof outcomeOf>[], int8: [] as ReturnType<typeof outcomeOf>[] };
  let sameTop1 = 0;
  const started = performance.now();
  try {
    for (const [i, prompt] of prompts.entries()) {
      const result = await tessera.generate({ prompt: prompt.prompt, seed: prompt.seed, candidates: CANDIDATES, keep: CANDIDATES });
      const images = result.candidates.map((c) => c.image);
      const pass = images.map((image) => judge.check(image, prompt.spec).pass);
      const top: number[] = [];
      for (const precision of ['fp32', 'int8'] as const) {
        const scores = await clips[precision].score(prompt.prompt, images);
        const ranks = ranksOf(scores);
        top.push(ranks.indexOf(1));
        outcomes[precision].push(outcomeOf(scores.map((score, k) => ({ index: k, rank: ranks[k], score, pass: pass[k] }))));
      }
      if (top[0] === top[1]) sameTop1++;
      if ((i + 1) % 50 === 0) process.stderr.write(`${i + 1}/${prompts.length} prompts, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    }
  } finally {
    await Promise.all([tessera.dispose(), clips.fp32.dispose(), clips.int8.dispose()]);
  }
  const figures: Record<string, unknown> = { prompts: prompts.length, candidates: CANDIDATES, generator: 'int8', sameTop1Candidate: sameTop1 / prompts.length };
  for (const key of ['top1', 'top4', 'random', 'oracle'] as const) {
    const [x, y] = [outcomes.fp32.map((o) => Number(o[key])), outcomes.int8.map((o) => Number(o[key]))];
    const d = pairedDifference(x, y);
    const mean = (v: number[]) => (100 * v.reduce((s, t) => s + t, 0)) / v.length;
    figures[key] = { fp32: mean(x), int8: mean(y), differencePoints: 100 * d.mean, low: 100 * d.low, high: 100 * d.high };
    console.log(`${key.padEnd(6)} fp32 vision ${mean(x).toFixed(2)}%  int8 vision ${mean(y).toFixed(2)}%  difference ${(100 * d.mean).toFixed(2)} points [${(100 * d.low).toFixed(2)}, ${(100 * d.high).toFixed(2)}]`);
  }
  console.log(`same top-1 candidate on ${(100 * sameTop1 / prompts.length).toFixed(1)}% of prompts; ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(machineLine());
  if (process.env.CLIP_JUDGE_OUT !== undefined) writeFileSync(process.env.CLIP_JUDGE_OUT, JSON.stringify(figures, null, 2) + '\n');
}

await main();
