/**
 * The decoder-only text prefix per text against per row (issue 27: the rest of the step), at
 * the graph level: a package's step graph as exported (the text's keys/values in slots
 * 0..T-1 of every row) and the same graph rewritten by scripts/convert/text_prefixes.py
 * (the text fed once per text, the rows' slots holding image entries only), run in ABBA
 * order in one process with the app's session settings. The rows are a guided request's:
 * R/2 rows of the prompt, R/2 of the empty text; each row has filled `--filled` image slots
 * (mid-grid by default), laid out as the app's 'filled' cache lays them out (chunks of 16).
 * Seeded normal values. Prints the median wall and CPU ms per step, the bytes of keys/values
 * fed, and how far the logits agree. With --cold N: also one-shot processes of
 * `tessera generate --candidates N --precision P --json` on each package, alternating, and
 * their prefill + decode ms (median of --cold-rounds), where the smaller cache's first touch
 * counts too.
 *
 * models/default ships rewritten (2026-12-05); its per-row form is the tree before that, e.g.
 * `git worktree add /tmp/rows 4a1ca80` and `--package /tmp/rows/models/default --rewritten models/default`.
 *
 *   node --import tsx bench/perf/text-prefixes.ts --package PER_ROW_DIR --rewritten DIR \
 *     [--graph generator/step.onnx] [--rows 128,256] [--filled 32] [--rounds 8] \
 *     [--cold 128 --precision int8 --cold-rounds 3]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { slotsLaidOut } from '../../src/generator/kv-slots.js';
import { createSession, type ort } from '../../src/model/runtime.js';
import { cpuFlagsLine, launcherEnv, machineLine, median, table } from './machine.js';
import { logitAgreement } from './probe-feeds.js';
import { maxAbsDiff, textPrefixFeeds } from './text-prefix-feeds.js';

const { values } = parseArgs({
  options: {
    package: { type: 'string' },
    rewritten: { type: 'string' },
    graph: { type: 'string', default: 'generator/step.onnx' },
    rows: { type: 'string', default: '128,256' },
    filled: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '8' },
    cold: { type: 'string' },
    precision: { type: 'string', default: 'int8' },
    'cold-rounds': { type: 'string', default: '3' },
    prompt: { type: 'string', default: 'a small red circle above a large blue square' },
  },
});
if (values.rewritten === undefined) throw new Error('--rewritten DIR: a copy of the package rewritten by scripts/convert/text_prefixes.py');
if (values.package === undefined) throw new Error('--package DIR: the package with the text in every row (models/default before 2026-12-05: git worktree add /tmp/rows 4a1ca80)');

const manifest = JSON.parse(readFileSync(join(values.package!, 'manifest.json'), 'utf8'));
if (manifest.generator?.cache?.text === 'prefixes') throw new Error(`${values.package} is already rewritten (generator.cache.text = 'prefixes'): --package takes the per-row form`);
const { layers, heads, headDim, maxLength } = manifest.generator;
const textLength: number = manifest.text.length;
const layout = manifest.generator.cache ?? { keys: 'transposed', slots: 'all' };
const filled = Number(values.filled);
const rounds = Number(values.rounds);
// The slots the app lays out when a row feeds image position `filled`: per row T + j + 1 as exported, j + 1 rewritten.
const imageSlots = slotsLaidOut(layout, maxLength - textLength, filled + 1);
const originalSlots = slotsLaidOut(layout, maxLength, textLength + filled + 1);
if (originalSlots !== textLength + imageSlots) throw new Error(`text length ${textLength} is not a multiple of the slot chunk: the two caches would not hold the same slots`);

const original = await createSession(join(values.package!, values.graph!), 'cpu');
const rewritten = await createSession(join(values.rewritten, values.graph!), 'cpu');
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};
async function timed(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<{ wall: number; cpu: number }> {
  const [t0, c0] = [performance.now(), process.cpuUsage()];
  await session.run(feeds);
  return { wall: performance.now() - t0, cpu: cpuMs(c0) };
}

console.log(machineLine());
console.log(cpuFlagsLine());
console.log(`${values.graph} of ${values.package} vs ${values.rewritten}; rows of 2 texts, image position ${filled} (${originalSlots} slots per row as exported, ${imageSlots} image slots + ${textLength} text slots per text rewritten); ${rounds} ABBA rounds, median ms per step`);
const out: (string | number)[][] = [];
for (const rows of values.rows!.split(',').map(Number)) {
  const feeds = textPrefixFeeds({ layers, heads, headDim, textLength, rows, texts: 2, imageSlots, filled, vocab: manifest.text.vocabSize + manifest.image.vocabSize });
  const [a, b] = [await original.run(feeds.original), await rewritten.run(feeds.rewritten)]; // warm-up, and the agreement
  const agreement = logitAgreement(a.logits, b.logits);
  const diff = maxAbsDiff(a.logits, b.logits);
  const runs = { original: [] as { wall: number; cpu: number }[], rewritten: [] as { wall: number; cpu: number }[] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['original', 'rewritten', 'rewritten', 'original'] as const) : (['rewritten', 'original', 'original', 'rewritten'] as const);
    for (const which of order) runs[which].push(await timed(which === 'original' ? original : rewritten, which === 'original' ? feeds.original : feeds.rewritten));
  }
  const [ow, rw] = [median(runs.original.map((r) => r.wall)), median(runs.rewritten.map((r) => r.wall))];
  const [oc, rc] = [median(runs.original.map((r) => r.cpu)), median(runs.rewritten.map((r) => r.cpu))];
  const entry = 2 * layers * heads * headDim * 4; // bytes of one slot's keys and values
  out.push(
    [rows, 'text per row', ((rows * originalSlots * entry) / 1e6).toFixed(1), ow.toFixed(2), '1.00x', oc.toFixed(1), '1.00x', '-', '-'],
    [rows, 'text per text', (((rows * imageSlots + 2 * textLength) * entry) / 1e6).toFixed(1), rw.toFixed(2), `${(ow / rw).toFixed(2)}x`, rc.toFixed(1), `${(oc / rc).toFixed(2)}x`, diff.toExponential(2), `${agreement.argmax} (cos min ${agreement.cosMin.toFixed(6)})`],
  );
}
console.log(table(['rows', 'step graph', 'K/V MB a step', 'wall ms', 'speed-up', 'CPU ms', 'CPU speed-up', 'max |logit diff|', 'argmax agrees'], out));

/** One-shot `tessera generate --json`: its prefill + decode ms. */
function generate(model: string, candidates: string, out: string): number {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'generate', values.prompt!, '--model', model, '--candidates', candidates, '--precision', values.precision!, '--seed', '7', '--no-rerank', '--json', '--quiet', '--out', out];
  const cli = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: launcherEnv() });
  if (cli.status !== 0) throw new Error(`tessera generate failed: ${cli.stderr}`);
  const timings = (JSON.parse(cli.stdout) as { timings: { prefill: number; decode: number } }).timings;
  return timings.prefill + timings.decode;
}

if (values.cold !== undefined) {
  const out = mkdtempSync(join(tmpdir(), 'tessera-text-cold-'));
  const times = { original: [] as number[], rewritten: [] as number[] };
  for (let round = 0; round < Number(values['cold-rounds']); round++) {
    const order = round % 2 === 0 ? (['original', 'rewritten'] as const) : (['rewritten', 'original'] as const);
    for (const which of order) times[which].push(generate(which === 'original' ? values.package! : values.rewritten, values.cold, out));
  }
  rmSync(out, { recursive: true, force: true });
  const [o, r] = [median(times.original), median(times.rewritten)];
  console.log(`\n${machineLine()}\ncold one-shot \`tessera generate --candidates ${values.cold} --precision ${values.precision} --no-rerank --json\`, prefill + decode ms (median of ${values['cold-rounds']}, alternating):`);
  console.log(
    table(
      ['package', 'runs ms', 'median ms', 'speed-up'],
      [
        ['text per row (as exported)', times.original.map((t) => t.toFixed(0)).join(' '), o.toFixed(0), '1.00x'],
        ['text per text (rewritten)', times.rewritten.map((t) => t.toFixed(0)).join(' '), r.toFixed(0), `${(o / r).toFixed(2)}x`],
      ],
    ),
  );
}
