/**
 * Whole images, one-shot (issue 27's Mini target: "a Mini-shaped package's whole image at 32
 * candidates at least 2.5x faster than Tessera's fp32", time per image including the VQGAN):
 * `tessera generate PROMPT --model M --candidates N --no-rerank --precision P --json` in a
 * fresh process per run, the runs alternating in the order given (ABBA over two runs with
 * --rounds 2: A B B A), each under /usr/bin/time for its process CPU time, page faults and
 * peak RSS and wall time (load included). Prints per run and the median per configuration: sampling, VQGAN and total
 * seconds, seconds per image, CPU seconds.
 *
 *   node --import tsx bench/perf/whole-image.ts --run fp32:out/mini/package --run int8:out/mini/package \
 *     [--candidates 32] [--rounds 2] [--prompt "..."]
 * Each run gets the environment bin/tessera gives the CLI (huge pages for malloc); a run may
 * set one environment variable first: `--run int8:out/mini/package:TESSERA_HUGEPAGES=0` is
 * the run without them. A run ending in `@DIR` runs the CLI of another checkout (DIR's
 * src/cli/main.ts, with DIR as its working folder; give the package as an absolute path):
 * `--run default:/tmp/mini-old@/tmp/tessera-before` times an earlier commit in the same run (`default`:
 * no --precision flag, for a checkout from before it existed).
 *
 * --pause S waits S seconds before each run. On this project's VMs memory a process has just freed
 * is cheap to touch again for a few seconds (~0.1 ms per MB), and after that as dear as memory never
 * used (~0.7-1.9 ms per MB: the guest hands freed memory back to its host), so back-to-back runs
 * pay less for their first touches than a one-shot run started a while after the last one does
 * (docs/benchmarks.md, "The KV cache mapped while the package loads"). 20 s was enough here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuFlagsLine, launcherEnv, launcherLine, machineLine, median, table } from './machine.js';

const { values } = parseArgs({
  options: {
    run: { type: 'string', multiple: true },
    candidates: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
    prompt: { type: 'string', default: 'a painting of a fox sitting in the snow' },
    /** Seconds to wait before each run (see the header). */
    pause: { type: 'string', default: '0' },
  },
});

interface Run {
  label: string;
  precision: string;
  model: string;
  /** One NAME=VALUE set in the run's environment (e.g. TESSERA_HUGEPAGES=0), or none. */
  env?: [string, string];
  /** Another checkout whose CLI runs instead of this one's. */
  tree?: string;
}

const runs: Run[] = (values.run ?? []).map((label) => {
  const at = label.lastIndexOf('@');
  const [spec, tree] = at < 0 ? [label, undefined] : [label.slice(0, at), label.slice(at + 1)];
  if (tree !== undefined && !existsSync(join(tree, 'src/cli/main.ts'))) throw new Error(`--run ${label}: ${tree} has no src/cli/main.ts`);
  const [precision, model, ...rest] = spec.split(':');
  if (!precision || !model) throw new Error(`--run takes precision:package[:NAME=VALUE], got ${spec}`);
  const assignment = rest.join(':');
  const equals = assignment.indexOf('=');
  if (assignment !== '' && equals < 1) throw new Error(`--run's third field is NAME=VALUE, got ${assignment}`);
  return {
    label,
    precision,
    model,
    ...(assignment === '' ? {} : { env: [assignment.slice(0, equals), assignment.slice(equals + 1)] as [string, string] }),
    ...(tree === undefined ? {} : { tree }),
  };
});
if (runs.length === 0) throw new Error('give at least one --run precision:package');
const candidates = Number(values.candidates);
const rounds = Number(values.rounds);
const time = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

interface Measured {
  label: string;
  samplingS: number;
  vqganS: number;
  totalS: number;
  perImageS: number;
  cpuS: number;
  /** The whole process, load included (the timings above leave loading out). */
  processS: number;
  faults: number;
  rssGb: number;
}

function once(run: Run, out: string): Measured {
  // Precision 'default': no --precision flag (a checkout from before it existed runs its only one, fp32).
  const precision = run.precision === 'default' ? [] : ['--precision', run.precision];
  const cli = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'generate', values.prompt!, '--model', run.model, '--candidates', String(candidates), '--no-rerank', '--seed', '1', ...precision, '--json', '--quiet', '--out', out];
  const stats = join(out, 'time.txt');
  const [command, ...args] = time === null ? cli : [time, '-o', stats, '-f', '%U %S %R %M %e', ...cli];
  // As bin/tessera starts the CLI (huge pages for malloc), after the run's own variable.
  const env = launcherEnv(run.env ? { ...process.env, [run.env[0]]: run.env[1] } : process.env);
  const child = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env, ...(run.tree === undefined ? {} : { cwd: run.tree }) });
  if (child.status !== 0) throw new Error(`${run.label}: tessera generate failed: ${child.stderr}`);
  const timings = (JSON.parse(child.stdout) as { timings: { prefill: number; decode: number; imageDecode: number; total: number } }).timings;
  const [user, system, faults, rssKb, elapsed] = time === null ? [NaN, NaN, NaN, NaN, NaN] : readFileSync(stats, 'utf8').trim().split(/\s+/).map(Number);
  return {
    label: run.label,
    samplingS: (timings.prefill + timings.decode) / 1000,
    vqganS: timings.imageDecode / 1000,
    totalS: timings.total / 1000,
    perImageS: timings.total / 1000 / candidates,
    cpuS: user + system,
    processS: elapsed,
    faults,
    rssGb: (rssKb * 1024) / 1e9,
  };
}

console.log(machineLine());
console.log(cpuFlagsLine());
console.log(`${launcherLine()} (a run's own NAME=VALUE first: TESSERA_HUGEPAGES=0 is the run without it)`);
const out = mkdtempSync(join(tmpdir(), 'tessera-whole-image-'));
const measured: Measured[] = [];
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? runs : [...runs].reverse(); // ABBA: neither side always runs first
  for (const run of order) {
    if (Number(values.pause) > 0) await new Promise((resolve) => setTimeout(resolve, Number(values.pause) * 1000));
    const m = once(run, out);
    measured.push(m);
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`${new Date().toISOString().slice(11, 19)} ${m.label}: ${m.perImageS.toFixed(2)} s per image (sampling ${m.samplingS.toFixed(1)} s, VQGAN ${m.vqganS.toFixed(1)} s), process ${m.processS.toFixed(1)} s, CPU ${m.cpuS.toFixed(1)} s, load ${load}`);
  }
}
rmSync(out, { recursive: true, force: true });
const first = median(measured.filter((m) => m.label === runs[0].label).map((m) => m.perImageS));
console.log(`\n${candidates} candidates, --no-rerank, median of ${rounds} one-shot runs each:`);
console.log(
  table(
    ['run', 'sampling s', 'VQGAN s', 'total s', 's per image', `vs ${runs[0].label}`, 'process wall s', 'process CPU s', 'page faults', 'peak RSS GB'],
    runs.map((run) => {
      const mine = measured.filter((m) => m.label === run.label);
      const pick = (f: (m: Measured) => number) => median(mine.map(f));
      const perImage = pick((m) => m.perImageS);
      return [run.label, pick((m) => m.samplingS).toFixed(2), pick((m) => m.vqganS).toFixed(2), pick((m) => m.totalS).toFixed(2), perImage.toFixed(3), `${(first / perImage).toFixed(2)}x`, pick((m) => m.processS).toFixed(1), pick((m) => m.cpuS).toFixed(1), pick((m) => m.faults).toFixed(0), pick((m) => m.rssGb).toFixed(2)];
    }),
  ),
);
