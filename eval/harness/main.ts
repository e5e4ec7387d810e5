/**
 * npm run eval -- [--model DIR] [--candidates N] [--limit K] [--out DIR] [--category C] [--prompts FILE]
 *                  [--guidance X] [--top-k N] [--top-p X] [--batch-prompts N] [--world shapes|objects|objects-mini]
 *
 * The world (prompt set, categories, judge) follows the model package's name unless
 * --world says otherwise (eval/harness/worlds.ts).
 *
 * Generates N candidates per prompt of the frozen prompt set through the real
 * pipeline, judges every candidate, and reports random / CLIP top-1 / top-4 / oracle
 * exact-match rates with 95% intervals, per category and overall.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TesseraError, allowed, isTesseraError } from '../../src/errors.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import type { GenerationResult } from '../../src/types.js';
import { outcomeOf, summarize, type GroupMetrics, type JudgedCandidate, type PromptOutcome } from './metrics.js';
import { loadPromptSet, type EvalPrompt } from './prompts.js';
import { contactSheet, type SheetRow } from './sheet.js';
import { evalWorld, worldOfModel, type EvalWorld } from './worlds.js';

interface EvalOptions {
  model: string | undefined;
  candidates: number;
  limit: number | undefined;
  out: string;
  category: string | undefined;
  prompts: string;
  world: EvalWorld;
  /** Guidance scale for every prompt; the manifest's default when undefined. */
  guidance: number | undefined;
  topK: number | undefined;
  topP: number | undefined;
  batchPrompts: number;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new TesseraError('TESSERA_ERR_OPTION', `--${flag} must be a positive integer, got ${JSON.stringify(value)}`, { param: flag });
  return n;
}

async function parseOptions(argv: string[]): Promise<EvalOptions> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' }, candidates: { type: 'string' }, limit: { type: 'string' },
        out: { type: 'string' }, category: { type: 'string' }, prompts: { type: 'string' },
        guidance: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' }, 'batch-prompts': { type: 'string' },
        world: { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_UNKNOWN_FLAG', (error as Error).message, { cause: error });
  }
  const world = await evalWorld(values.world ?? worldOfModel(values.model));
  if (values.category !== undefined && !world.categories.includes(values.category)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--category must be one of ${allowed(world.categories)}, got ${JSON.stringify(values.category)}`, { param: 'category' });
  }
  return {
    model: values.model,
    candidates: positiveInteger(values.candidates, 'candidates') ?? 32,
    limit: positiveInteger(values.limit, 'limit'),
    out: values.out ?? 'out/eval',
    category: values.category,
    prompts: values.prompts ?? world.promptSet,
    world,
    guidance: values.guidance === undefined ? undefined : Number(values.guidance),
    topK: values['top-k'] === undefined ? undefined : Number(values['top-k']),
    topP: values['top-p'] === undefined ? undefined : Number(values['top-p']),
    batchPrompts: positiveInteger(values['batch-prompts'], 'batch-prompts') ?? 4,
  };
}

/** Prompts reordered round-robin over categories (single, relation, count, ...). */
function interleaveByCategory(prompts: EvalPrompt[]): EvalPrompt[] {
  const byCategory = new Map<string, EvalPrompt[]>();
  for (const p of prompts) byCategory.set(p.category, [...(byCategory.get(p.category) ?? []), p]);
  const queues = [...byCategory.values()];
  const out: EvalPrompt[] = [];
  for (let i = 0; out.length < prompts.length; i++) for (const q of queues) if (i < q.length) out.push(q[i]);
  return out;
}

function formatInterval(metric: { value: number; low: number; high: number } | null): string {
  if (metric === null) return '   n/a               ';
  return `${(metric.value * 100).toFixed(1).padStart(5)}% [${(metric.low * 100).toFixed(1)}, ${(metric.high * 100).toFixed(1)}]`.padEnd(21);
}

function table(groups: Record<string, GroupMetrics>): string {
  const lines = [`${'group'.padEnd(12)}${'prompts'.padStart(8)}  ${'random'.padEnd(21)} ${'top1'.padEnd(21)} ${'top4'.padEnd(21)} ${'oracle'.padEnd(21)} gap closed`];
  for (const [name, m] of Object.entries(groups)) {
    lines.push(`${name.padEnd(12)}${String(m.prompts).padStart(8)}  ${formatInterval(m.random)} ${formatInterval(m.top1)} ${formatInterval(m.top4)} ${formatInterval(m.oracle)} ${formatInterval(m.gapClosed)}`);
  }
  return lines.join('\n');
}

async function runEval(options: EvalOptions): Promise<void> {
  let prompts: EvalPrompt[] = await loadPromptSet(options.prompts);
  if (options.category !== undefined) prompts = prompts.filter((p) => p.category === options.category);
  // A limited run takes prompts round-robin across categories, so a quick subset
  // still measures every category.
  if (options.limit !== undefined) prompts = interleaveByCategory(prompts).slice(0, options.limit);
  const [tessera, judge] = await Promise.all([Tessera.load({ model: options.model, device: 'cpu' }), options.world.createJudge()]);
  const started = performance.now();
  const perPrompt: { id: string; category: string; prompt: string; seed: number; outcome: PromptOutcome; candidates: (JudgedCandidate & { reasons: string[] })[] }[] = [];
  const sheetRows: SheetRow[] = [];
  let modelName = '';
  // Several prompts share one sampler batch (generateMany): same draws, more throughput.
  const results: GenerationResult[] = [];
  for (let start = 0; start < prompts.length; start += options.batchPrompts) {
    const group = prompts.slice(start, start + options.batchPrompts);
    results.push(
      ...(await tessera.generateMany(
        group.map((p) => ({ prompt: p.prompt, seed: p.seed, candidates: options.candidates, keep: 4, rerank: true, guidanceScale: options.guidance, topK: options.topK, topP: options.topP })),
      )),
    );
    process.stderr.write(`generated ${results.length}/${prompts.length} prompts\n`);
  }
  for (const [i, prompt] of prompts.entries()) {
    const result = results[i];
    modelName = result.model;
    const judged = result.candidates.map((candidate) => {
      const verdict = judge.check(candidate.image, prompt.spec);
      return { index: candidate.index, rank: candidate.rank, score: candidate.score, pass: verdict.pass, reasons: verdict.reasons };
    });
    const outcome = outcomeOf(judged);
    perPrompt.push({ id: prompt.id, category: prompt.category, prompt: prompt.prompt, seed: prompt.seed, outcome, candidates: judged });
    sheetRows.push({
      prompt: prompt.prompt,
      category: prompt.category,
      candidates: result.candidates.slice(0, 4).map((c, k) => ({ image: c.image, pass: judged[k].pass })),
    });
    process.stderr.write(`[${i + 1}/${prompts.length}] ${prompt.id} random=${outcome.random.toFixed(3)} top1=${outcome.top1} oracle=${outcome.oracle}\n`);
  }
  const summary = summarize(perPrompt, options.candidates);
  const report = {
    format: 'tessera-eval-report',
    formatVersion: 1,
    model: modelName,
    world: options.world.name,
    guidance: options.guidance ?? null,
    topK: options.topK ?? null,
    topP: options.topP ?? null,
    promptSet: options.prompts,
    candidates: options.candidates,
    prompts: perPrompt.length,
    seconds: (performance.now() - started) / 1000,
    overall: summary.overall,
    categories: summary.categories,
    perPrompt,
  };
  await mkdir(options.out, { recursive: true });
  await writeFile(join(options.out, 'report.json'), JSON.stringify(report, null, 1) + '\n');
  await writeFile(join(options.out, 'contact-sheet.png'), await contactSheet(sheetRows, `${modelName}: top 4 of ${options.candidates} (green = judge pass)`));
  console.log(table({ ...summary.categories, overall: summary.overall }));
  console.log(`wrote ${join(options.out, 'report.json')} and contact-sheet.png (${report.seconds.toFixed(1)} s)`);
}

try {
  await runEval(await parseOptions(process.argv.slice(2)));
} catch (error) {
  if (isTesseraError(error)) {
    console.error(`${error.code}: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
