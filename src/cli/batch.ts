/** `tessera batch prompts.txt --out DIR`: the command-line face of the batch runner. */
import { numberFlag, parseCommandLine, precisionFromFlags, PRECISION_USAGE, samplingFromFlags, SAMPLING_FLAGS } from './args.js';
import { ProgressBar } from './progress.js';
import { footprintFromFlags, FOOTPRINT_FLAGS, FOOTPRINT_USAGE } from './footprint-flags.js';
import { footprintJson, formatFootprint } from '../footprint/report.js';
import { readForecast } from '../carbon/forecast.js';
import { checkMaxIntensity, formatCarbonReport, type CarbonOptions } from '../batch/carbon.js';
import { TesseraError } from '../errors.js';
import { resolveModelRef } from '../hub/resolve.js';
import { runBatch, type BatchProgress, type BatchSummary } from '../batch/runner.js';
import { deviceFromFlag, queueClientFromFlags, QUEUE_CLIENT_FLAGS, QUEUE_RETRY_USAGE, rowCapFromFlags, rowCapUsage, ROW_CAP_FLAGS } from './shared-flags.js';

const BATCH_USAGE = `Usage: tessera batch <prompts.txt|prompts.jsonl> --out DIR [options]

Generates every prompt of a file into a resumable, self-describing folder: per prompt a
grid of all candidates (ranked, with CLIP scores) and the kept images; manifest.jsonl
describes them all. Re-running the same command skips what is complete.

Prompt files: .txt has one prompt a line (blank lines and lines starting with # are
ignored); .jsonl has one object a line: {"prompt": "...", "seed": 7, "negative_prompt":
"...", "candidates": 8, "keep": 2, "guidance": 3, "temperature": 1, "top_k": 0, "top_p": 1}
(every key but "prompt" optional; they override the flags for that line).

Options (defaults come from the model's manifest):
  --out DIR            output folder (required)
  --candidates N       candidates per prompt (1-1024)
  --keep N             best candidates to write per prompt
  --seed N             base seed: prompt i gets a seed derived from (seed, i) unless its
                       line has one; random on a folder's first run, then kept in run.json
  --negative TEXT      negative prompt for every prompt
  --temperature X      0 is greedy, 1 samples the model's distribution (0-10)
  --top-k N            keep the N most likely image tokens; 0 disables
  --top-p X            nucleus mass in (0, 1]; 1 disables
  --guidance X         classifier-free guidance scale; 1 disables (0-50)
  --no-grid            no contact sheet per prompt (default: one per prompt)
  --no-rerank          skip CLIP; keep candidates in index order
  --clip DIR           rank with this CLIP (transformers.js layout, e.g. clip-vit-base-patch32)
                       instead of the model package's own; recorded in run.json
  --batch-prompts N    prompts whose candidates share one sampler batch (default 8)
${rowCapUsage(23, 'a sampler batch')}
                       (not with --queue: the workers sample)
  --queue URL          run the planned batches on "tessera worker"s through Redis
                       (redis://HOST:PORT[/DB]): one job per batch, same folder, same bytes
                       as a local run (docs/queue.md); the model loads here for planning only
${QUEUE_RETRY_USAGE}
  --strict             stop at the first bad line or failed prompt instead of skipping it
  --force              reuse a folder made with other settings (outdated prompts are
                       generated again)
  --model DIR          model package folder (default: the embedded model)
  --device NAME        cpu, cuda or webgpu (default: cpu)
${PRECISION_USAGE}
                       (with --queue, each worker's own --precision decides)
  --json               print the summary as JSON
  --quiet              no progress output
  --help               this text
Carbon-aware runs (docs/footprint.md):
  --carbon-signal FILE a grid carbon-intensity forecast: CSV of timestamp,intensity or the
                       JSON of the UK Carbon Intensity API's forecast endpoint
  --max-intensity X    run a sampler batch only inside a stretch of the forecast at or
                       under X gCO2/kWh; wait (with a countdown) otherwise
  --dry-run            print the plan (when each batch would run, its intensity and
                       emissions against running now) and generate nothing
Footprint (per prompt in records/NNNN.timings.json and manifest.jsonl, summed in the summary):
${FOOTPRINT_USAGE}

Exit status: 0 when every prompt of the file is complete, 1 when lines were skipped or
prompts failed (the summary lists them), 2 for a usage mistake.`;

const OPTIONS = {
  ...SAMPLING_FLAGS,
  ...FOOTPRINT_FLAGS,
  out: { type: 'string' },
  grid: { type: 'boolean' },
  'no-grid': { type: 'boolean' },
  'batch-prompts': { type: 'string' },
  'carbon-signal': { type: 'string' },
  'max-intensity': { type: 'string' },
  'dry-run': { type: 'boolean' },
  strict: { type: 'boolean' },
  force: { type: 'boolean' },
  ...ROW_CAP_FLAGS,
  ...QUEUE_CLIENT_FLAGS,
} as const;

function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s - m * 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export async function runBatchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(BATCH_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    throw new TesseraError(
      'TESSERA_ERR_OPTION',
      positionals.length === 0 ? 'a prompt file is required: tessera batch prompts.txt --out DIR' : `expected one prompt file, got ${positionals.length}`,
      { param: 'prompts' },
    );
  }
  if (values.out === undefined) throw new TesseraError('TESSERA_ERR_OPTION', '--out DIR is required: the folder to write the images to', { param: 'out' });
  if (values.grid && values['no-grid']) throw new TesseraError('TESSERA_ERR_OPTION', '--grid and --no-grid contradict each other', { param: 'grid' });
  const device = deviceFromFlag(values.device);

  const tty = process.stderr.isTTY === true;
  const quiet = values.quiet === true || values.json === true;
  let bar: ProgressBar | null = null;
  let lastLogged = -1;
  let lastQueueLog = 0;
  const onProgress = (p: BatchProgress) => {
    if (quiet || p.pending === 0) return;
    const eta = p.etaMs === null ? '…' : formatDuration(p.etaMs);
    const q = p.queue;
    const queueDetail = q === undefined ? '' : ` | queue ${q.waiting} waiting, ${q.active} active, ${q.workers} worker${q.workers === 1 ? '' : 's'}${q.stalledRecoveries > 0 ? `, ${q.stalledRecoveries} recovered` : ''}`;
    const detail = `prompts ${p.done}/${p.total} | ${p.imagesPerSecond.toFixed(1)} images/s${queueDetail}`;
    if (tty) {
      bar ??= new ProgressBar('batch', p.pending, { enabled: true });
      bar.update(p.generated, `(${detail})`);
    } else if (p.generated !== lastLogged || (q !== undefined && performance.now() - lastQueueLog > 10_000)) {
      lastLogged = p.generated;
      lastQueueLog = performance.now();
      process.stderr.write(`tessera batch: ${detail}, ETA ${eta}\n`);
    }
  };
  const onNotice = (message: string) => {
    if (tty && bar !== null) process.stderr.write('\n');
    process.stderr.write(`tessera: ${message}\n`);
  };

  const queue = queueClientFromFlags(values);
  const maxRows = rowCapFromFlags(values);
  if (queue !== undefined && maxRows !== undefined) {
    throw new TesseraError('TESSERA_ERR_OPTION', '--max-batch-rows bounds the rows this process samples at once: with --queue the workers sample (see their own --max-batch-rows)', { param: 'max-batch-rows' });
  }
  // Loaded only with --queue: BullMQ stays out of local runs.
  const executor = queue === undefined ? undefined : (await import('../queue/client.js')).queueExecutor({ queue: queue.queue, ...queue.settings });
  const carbon = carbonFromFlags(values, tty);
  let footprint = footprintFromFlags(values);
  // The forecast is also the grid signal of the footprints, unless one was given.
  if (carbon !== undefined && values['grid-intensity'] === undefined && values['grid-signal'] === undefined) {
    footprint = { ...footprint, grid: { kind: 'signal', file: carbon.forecast.source, forecast: carbon.forecast } };
  }

  // runBatch holds the folder's lock (src/batch/lock.ts): one run per folder.
  const summary = await runBatch({
    executor,
    prompts: positionals[0],
    out: values.out,
    model: resolveModelRef(values.model, 'package'),
    clip: resolveModelRef(values.clip, 'clip'),
    device,
    precision: precisionFromFlags(values),
    ...samplingFromFlags(values),
    grid: !values['no-grid'],
    batchPrompts: numberFlag('batch-prompts', values['batch-prompts']),
    maxRows,
    strict: values.strict === true,
    force: values.force === true,
    footprint,
    ...(carbon === undefined ? {} : { carbon }),
    onProgress,
    onNotice,
  });
  (bar as ProgressBar | null)?.finish();
  if (summary.carbon !== null && carbon?.dryRun === true) {
    if (values.json) process.stdout.write(JSON.stringify({ plan: summary.carbon.plan, calibration: summary.carbon.calibration }, null, 2) + '\n');
    else {
      const c = summary.carbon.calibration;
      process.stdout.write(`${summary.carbon.planText}\nEstimates: ${(c.flopsPerCpuSecond / 1e9).toFixed(2)} GFLOP per CPU-second on ${c.cores.toFixed(1)} cores (a warm-up generation), ${c.wattsPerCore} W per busy core.\n`);
    }
    return 0;
  }
  if (values.json) process.stdout.write(JSON.stringify({ ...summary, footprint: summary.footprint === null ? null : footprintJson(summary.footprint) }, null, 2) + '\n');
  else process.stdout.write(formatSummary(summary));
  return summary.invalid.length > 0 || summary.failed.length > 0 || (summary.carbon?.unplanned.length ?? 0) > 0 ? 1 : 0;
}

/**
 * --carbon-signal, --max-intensity, --dry-run. The countdown rewrites one line on a TTY
 * and prints a line a minute otherwise (a log should not get one a second).
 */
function carbonFromFlags(values: { 'carbon-signal'?: string; 'max-intensity'?: string; 'dry-run'?: boolean }, tty: boolean): CarbonOptions | undefined {
  const signal = values['carbon-signal'];
  if (signal === undefined) {
    if (values['max-intensity'] !== undefined || values['dry-run']) {
      throw new TesseraError('TESSERA_ERR_OPTION', `${values['dry-run'] ? '--dry-run' : '--max-intensity'} needs --carbon-signal FILE (a grid carbon-intensity forecast)`, { param: 'carbon-signal' });
    }
    return undefined;
  }
  const maxIntensity = checkMaxIntensity(numberFlag('max-intensity', values['max-intensity']));
  const forecast = readForecast(signal);
  let lastMinute = -1;
  const onTick = (line: string, remainingMs: number) => {
    if (tty) {
      process.stderr.write(`\r\x1b[2K${line}`);
      if (remainingMs <= 1000) process.stderr.write('\n');
      return;
    }
    const minute = Math.ceil(remainingMs / 60_000);
    if (minute !== lastMinute) {
      lastMinute = minute;
      process.stderr.write(`tessera batch: ${line}\n`);
    }
  };
  return { forecast, maxIntensity, dryRun: values['dry-run'] === true, onTick };
}

function formatSummary(s: BatchSummary): string {
  const complete = s.skipped + s.generated;
  const lines = [
    `${s.out}: ${complete}/${s.prompts} prompts complete (${s.generated} generated, ${s.skipped} already done), base seed ${s.seed}`,
    `${s.images} images sampled in ${s.batches} batch${s.batches === 1 ? '' : 'es'}, ${s.files} files written, ${formatDuration(s.elapsedMs)} (${s.imagesPerSecond.toFixed(1)} images/s)`,
  ];
  if (s.invalid.length > 0) {
    lines.push(`${s.invalid.length} line${s.invalid.length === 1 ? '' : 's'} skipped:`, ...s.invalid.map((p) => `  line ${p.line}: ${p.message}`));
  }
  if (s.failed.length > 0) {
    lines.push(`${s.failed.length} prompt${s.failed.length === 1 ? '' : 's'} failed (re-run to retry):`, ...s.failed.map((f) => `  line ${f.line}: [${f.code}] ${f.message}`));
  }
  if (s.queue !== undefined) {
    const q = s.queue;
    lines.push(`queue ${q.queue}: ${q.stalledRecoveries} stalled-job recoveries, ${q.retries} retried attempts; per worker:`);
    for (const w of q.perWorker) lines.push(`  ${w.worker}: ${w.jobs} jobs, ${w.images} images, ${w.imagesPerSecond.toFixed(2)} images/s while busy`);
  }
  if (s.usage !== null) lines.push(`usage: ${s.usage.input_tokens} text tokens in, ${s.usage.output_tokens} image tokens sampled`);
  if (s.footprint !== null) lines.push(`footprint: ${formatFootprint(s.footprint)}`);
  if (s.precision !== null) lines.push(`precision: ${s.precision.precision} (${s.precision.reason}: ${s.precision.detail})`);
  if (s.carbon !== null) lines.push(...formatCarbonReport(s.carbon));
  lines.push(`manifest: ${s.out}/manifest.jsonl`);
  return lines.join('\n') + '\n';
}
