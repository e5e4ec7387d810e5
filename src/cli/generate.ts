import { TesseraError } from '../errors.js';
import { resolveModelRef } from '../hub/resolve.js';
import { deviceFromFlag, rowCapFromFlags, rowCapUsage, ROW_CAP_FLAGS } from './shared-flags.js';
import { rowGroups } from '../sampler/row-groups.js';
import { writeCliResult, type WrittenImage } from '../output/cli.js';
import { Tessera } from '../pipeline/tessera.js';
import type { GenerateRequest, GenerationResult, StageName } from '../types.js';
import type { ModelManifest } from '../model/manifest.js';
import { ensureWritableDir } from '../util/fs.js';
import { parseCommandLine, precisionFromFlags, PRECISION_USAGE, samplingFromFlags, SAMPLING_FLAGS } from './args.js';
import { footprintFromFlags, FOOTPRINT_FLAGS, FOOTPRINT_USAGE } from './footprint-flags.js';
import { footprintJson, formatFootprint } from '../footprint/report.js';
import { ProgressBar } from './progress.js';

export const GENERATE_USAGE = `Usage: tessera generate "<prompt>" [options]

Samples many candidate images for a prompt, ranks them with CLIP and writes the best.

Options (defaults come from the model's manifest):
  --candidates N     candidates to sample (1-1024)
  --keep N           best candidates to write (1-candidates)
  --seed N           base seed (0-4294967295); random when omitted
  --negative TEXT    negative prompt (replaces the unconditional text of guidance)
  --temperature X    0 is greedy, 1 samples the model's distribution (0-10)
  --top-k N          keep the N most likely image tokens; 0 disables
  --top-p X          nucleus mass in (0, 1]; 1 disables
  --guidance X       classifier-free guidance scale; 1 disables (0-50)
  --out DIR          output folder (default: out)
  --grid             also write a contact sheet of all candidates, ranked
  --no-rerank        skip CLIP; keep candidates in index order
  --clip DIR         rank with this CLIP (transformers.js layout, e.g. clip-vit-base-patch32)
                     instead of the model package's own
  --model DIR        model package folder (default: the embedded model)
  --device NAME      cpu, cuda or webgpu (default: cpu)
${PRECISION_USAGE}
${rowCapUsage(21, 'a request')}
  --json             print the summary as JSON
  --quiet            no progress bar
  --help             this text
Footprint (printed in the summary, written into each PNG):
${FOOTPRINT_USAGE}`;

const OPTIONS = {
  ...SAMPLING_FLAGS,
  ...FOOTPRINT_FLAGS,
  ...ROW_CAP_FLAGS,
  out: { type: 'string' },
  grid: { type: 'boolean' },
} as const;

const STAGE_LABELS: Record<StageName | 'total', string> = {
  tokenize: 'tokenize',
  prefill: 'prefill',
  decode: 'decode',
  imageDecode: 'image decode',
  rerank: 'rerank',
  total: 'total',
};

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

export async function runGenerate(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(GENERATE_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    throw new TesseraError(
      'TESSERA_ERR_PROMPT',
      positionals.length === 0 ? 'a prompt is required: tessera generate "<prompt>"' : `expected one prompt, got ${positionals.length} arguments (quote the prompt)`,
      { param: 'prompt' },
    );
  }
  // The CLI shows a progress bar, no previews: previewCandidates 0 decodes none.
  return generateAndWrite(values, () => ({ prompt: positionals[0], ...samplingFromFlags(values), previewCandidates: 0 }));
}

/** What generateAndWrite reads of the parsed flags (the sampling flags, --out, --grid). */
export type GenerateFlagValues = Parameters<typeof samplingFromFlags>[0] & Parameters<typeof footprintFromFlags>[0] & {
  device?: string;
  precision?: string;
  model?: string;
  clip?: string;
  out?: string;
  grid?: boolean;
  json?: boolean;
  quiet?: boolean;
  'max-batch-rows'?: string;
};

/**
 * Loads the model, builds the request (`makeRequest` may read input files against the
 * manifest), validates and prepares it before anything is created on disk, samples, and
 * writes the kept images with a summary. Shared by generate, complete, edit and vary.
 */
export async function generateAndWrite(values: GenerateFlagValues, makeRequest: (tessera: Tessera) => GenerateRequest | Promise<GenerateRequest>): Promise<number> {
  const device = deviceFromFlag(values.device);
  const footprint = footprintFromFlags(values);
  const precision = precisionFromFlags(values);
  const maxRows = rowCapFromFlags(values);
  // auto probes at the rows sampled at once: the request's candidates (or a row group's), doubled by guidance's unconditional twins.
  const sampling = samplingFromFlags(values);
  const precisionRows = (manifest: ModelManifest) => {
    const perCandidate = (sampling.guidanceScale ?? manifest.sampling.guidanceScale) !== 1 ? 2 : 1;
    const candidates = sampling.candidates ?? manifest.sampling.candidates;
    return perCandidate * (maxRows === undefined ? candidates : Math.min(candidates, Math.max(1, Math.floor(maxRows / perCandidate))));
  };
  const tessera = await Tessera.load({ model: resolveModelRef(values.model, 'package'), device, rerank: !values['no-rerank'], clip: resolveModelRef(values.clip, 'clip'), footprint, precision, precisionRows, firstRows: precisionRows, lanes: 'auto' });
  try {
    // Validate everything (an image prompt's source is read and encoded too) before anything is created on disk.
    const prepared = await tessera.prepareRequest(await makeRequest(tessera));
    for (const warning of prepared.warnings) process.stderr.write(`tessera: warning: ${warning}\n`);
    const outDir = ensureWritableDir(values.out ?? 'out');
    // Row groups sample one after another: the bar runs over all of them.
    const steps = tessera.manifest.image.grid.height * tessera.manifest.image.grid.width * rowGroups(prepared.sequences, maxRows).length;
    const bar = new ProgressBar('sampling', steps, { enabled: !values.quiet && !values.json && process.stderr.isTTY === true });
    // The request is prepared (resolved, tokenized) once: what was validated is what runs.
    const [result] = await tessera.generateMany([prepared], {
      maxRows,
      onEvent: (e) => e.type === 'step' && bar.update(e.step, `${Math.round(e.tokensPerSecond)} tok/s`),
    });
    bar.finish();
    const written = await writeCliResult(result, outDir, values.grid === true);
    if (values.json) {
      process.stdout.write(
        JSON.stringify(
          {
            prompt: result.prompt,
            seed: result.seed,
            model: result.model,
            settings: result.settings,
            timings: result.timings,
            usage: result.usage,
            footprint: result.footprint === undefined ? null : footprintJson(result.footprint),
            precision: result.precision ?? null,
            warnings: result.warnings,
            images: written.images,
            grid: written.grid,
          },
          null,
          2,
        ) + '\n',
      );
    } else {
      printSummary(result, written.images, written.grid, tessera.model.device);
    }
    return 0;
  } finally {
    await tessera.dispose();
  }
}

function printSummary(result: GenerationResult, images: WrittenImage[], grid: string | null, device: string): void {
  const { settings, timings } = result;
  const lines = [
    `prompt: ${result.prompt === '' ? '(none)' : result.prompt}${result.negativePrompt ? `  (negative: ${result.negativePrompt})` : ''}`,
    `model: ${result.model} on ${device}, seed ${result.seed}, ${settings.candidates} candidates, kept ${result.kept.length}`,
    `stages: ${(Object.keys(STAGE_LABELS) as (StageName | 'total')[]).map((s) => `${STAGE_LABELS[s]} ${formatMs(timings[s])}`).join(' | ')}`,
    ...(result.usage === undefined ? [] : [`usage: ${result.usage.input_tokens} text tokens in, ${result.usage.output_tokens} image tokens sampled (${settings.candidates} candidates)`]),
    ...(result.footprint === undefined ? [] : [`footprint: ${formatFootprint(result.footprint)}`]),
    ...(result.precision === undefined ? [] : [`precision: ${result.precision.precision} (${result.precision.reason}: ${result.precision.detail})`]),
    'rank  score    seed        candidate  file',
    ...images.map(
      (img) => `${String(img.rank).padEnd(5)} ${(img.score === null ? '-' : img.score.toFixed(4)).padEnd(8)} ${String(img.seed).padEnd(11)} ${String(img.candidateIndex).padEnd(10)} ${img.file}`,
    ),
  ];
  if (grid !== null) lines.push(`grid: ${grid}`);
  process.stdout.write(lines.join('\n') + '\n');
}
