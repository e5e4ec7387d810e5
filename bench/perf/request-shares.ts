/**
 * A whole one-shot request by stage, for two builds alternated in one script (issue 27: when
 * sampling gets cheaper, VQ decode, CLIP and the JavaScript around them become the bill). Each
 * run is a fresh `tessera generate ... --json` process of a build's checkout (its own src/, run
 * through tsx); the timings are the request's own (tokenize, prefill, decode, imageDecode,
 * rerank, total). Pairs run both builds on the same seed, in alternating order, and check that
 * they return the same images with the same scores (within 1e-5).
 *
 *   node --import tsx bench/perf/request-shares.ts --builds before=/tmp/clip-old,after=. \
 *     [--candidates 32,128] [--pairs 10,5] [--precision int8]
 * A build may set one variable for its runs: `--builds before=/tmp/old:TESSERA_HUGEPAGES=0,after=.`
 * (every run gets bin/tessera's environment otherwise: huge pages for malloc).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cpuFlagsLine, launcherEnv, launcherLine, machineLine, median } from './machine.js';

const { values } = parseArgs({
  options: {
    builds: { type: 'string', default: 'before=/tmp/clip-old,after=.' },
    candidates: { type: 'string', default: '32,128' },
    pairs: { type: 'string', default: '10,5' },
    precision: { type: 'string', default: 'int8' },
    prompt: { type: 'string', default: 'a small red star left of a large blue circle' },
  },
});
// name=dir, or name=dir:NAME=VALUE to set one variable for that build's runs (e.g. TESSERA_HUGEPAGES=0).
const builds = values.builds.split(',').map((entry) => {
  const at = entry.indexOf('=');
  const [dir, assignment = ''] = entry.slice(at + 1).split(/:(.*)/s);
  const eq = assignment.indexOf('=');
  const env = launcherEnv(eq > 0 ? { ...process.env, [assignment.slice(0, eq)]: assignment.slice(eq + 1) } : process.env);
  return { name: entry.slice(0, at), dir: path.resolve(dir), env };
});
const STAGES = ['sampling', 'vq', 'clip', 'other', 'total'] as const;
type Stage = (typeof STAGES)[number];

interface Run {
  ms: Record<Stage, number>;
  cpuS: number;
  images: { candidateIndex: number; score: number }[];
}

function request(dir: string, env: NodeJS.ProcessEnv, candidates: number, seed: number): Run {
  const out = mkdtempSync(path.join(tmpdir(), 'tessera-shares-'));
  try {
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'generate', values.prompt, '--candidates', String(candidates), '--seed', String(seed), '--precision', values.precision, '--json', '--out', out];
    const child = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000, env });
    if (child.status !== 0) throw new Error(`${dir}: generate failed (${child.status}): ${child.stderr.slice(-2000)}`);
    const json = JSON.parse(child.stdout) as { timings: Record<string, number>; footprint: { cpu_s: number }; images: { candidateIndex: number; score: number }[] };
    const t = json.timings;
    const sampling = t.prefill + t.decode;
    const other = t.total - (t.tokenize + sampling + t.imageDecode + t.rerank);
    return { ms: { sampling, vq: t.imageDecode, clip: t.rerank, other, total: t.total }, cpuS: json.footprint.cpu_s, images: json.images.map(({ candidateIndex, score }) => ({ candidateIndex, score })) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

console.log(machineLine());
console.log(cpuFlagsLine());
console.log(builds.map((b) => `${b.name}: ${launcherLine(b.env)}`).join('; '));
console.log(`tessera generate ${JSON.stringify(values.prompt)} --precision ${values.precision} --json; builds ${builds.map((b) => `${b.name}=${b.dir}`).join(', ')}`);
const pairCounts = values.pairs.split(',').map(Number);
for (const [index, candidates] of values.candidates.split(',').map(Number).entries()) {
  const pairs = pairCounts[index] ?? pairCounts[pairCounts.length - 1];
  const runs = builds.map(() => [] as Run[]);
  const loads: number[] = [];
  let agree = true;
  for (let pair = 0; pair < pairs; pair++) {
    const order = pair % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => builds.length - 1 - i);
    const seed = 1000 + pair;
    const got: Run[] = [];
    for (const i of order) {
      const run = request(builds[i].dir, builds[i].env, candidates, seed);
      runs[i].push(run);
      got[i] = run;
    }
    loads.push(Number(machineLine().match(/load average ([\d.]+)/)?.[1]));
    const [a, ...rest] = got;
    for (const b of rest) agree &&= a.images.length === b.images.length && a.images.every((im, k) => im.candidateIndex === b.images[k].candidateIndex && Math.abs(im.score - b.images[k].score) < 1e-5);
  }
  console.log(`\n${candidates} candidates, ${pairs} pairs (1-min load ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}); same images and scores in every pair: ${agree ? 'yes' : 'NO'}`);
  console.log(`  build    ${STAGES.map((s) => s.padStart(9)).join(' ')} | shares of total (median of per-run shares) sampling / vq / clip / other | CPU s | clip ms range`);
  builds.forEach((build, i) => {
    const ms = STAGES.map((s) => median(runs[i].map((r) => r.ms[s])));
    const share = (s: Stage) => `${(100 * median(runs[i].map((r) => r.ms[s] / r.ms.total))).toFixed(0)}%`;
    const clip = runs[i].map((r) => r.ms.clip);
    console.log(`  ${build.name.padEnd(8)} ${ms.map((v) => v.toFixed(0).padStart(9)).join(' ')} | ${['sampling', 'vq', 'clip', 'other'].map((s) => share(s as Stage)).join(' / ')} | ${median(runs[i].map((r) => r.cpuS)).toFixed(2)} | ${Math.min(...clip).toFixed(0)}–${Math.max(...clip).toFixed(0)}`);
  });
}
console.log(`\n${machineLine()}`);
