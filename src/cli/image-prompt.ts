/**
 * `tessera complete`, `tessera edit` and `tessera vary`: image prompts from the command line.
 * Each reads its input files, builds the image half of the request through the pipeline's
 * one builder (src/pipeline/image-prompt.ts) and generates like `tessera generate`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { TesseraError } from '../errors.js';
import { imagePromptFromBytes } from '../pipeline/image-prompt.js';
import type { ImagePromptMode } from '../types.js';
import { numberFlag, parseCommandLine, samplingFromFlags, SAMPLING_FLAGS } from './args.js';
import { generateAndWrite } from './generate.js';
import { ROW_CAP_FLAGS } from './shared-flags.js';

const COMMON_OPTIONS = `Sampling and output options are those of tessera generate (--candidates, --keep, --seed,
--negative, --temperature, --top-k, --top-p, --guidance, --out, --grid, --no-rerank, --clip,
--model, --device, --precision, --max-batch-rows, --json, --quiet). Inputs of any size or format sharp reads are resized and
centre-cropped to the model's size (a warning says so); uploads are limited to 4 MiB.`;

const COMPLETE_USAGE = `Usage: tessera complete <image> "<prompt>" --keep-rows N [options]

Keeps the top N rows of the image's codes and samples the rest following the prompt
(DALL·E's image completion).

  --keep-rows N      rows of codes kept from the top (1 to the grid height - 1)

${COMMON_OPTIONS}`;

const EDIT_USAGE = `Usage: tessera edit <image> --mask <mask.png> "<prompt>" [options]

Resamples the part of the image under the mask following the prompt; codes outside it are
kept. The mask is a PNG the image's size whose fully transparent pixels mark what to change
(without --mask, the image's own fully transparent pixels do).

  --mask FILE        the mask PNG

${COMMON_OPTIONS}`;

const VARY_USAGE = `Usage: tessera vary <image> [options]

Keeps a share of the image's codes (at positions drawn per candidate) and resamples the
rest, with no text or with a caption; CLIP ranks candidates by likeness to the image.

  --keep-share X     share of codes kept, from 0 (none) to below 1 (default 0.5)
  --caption TEXT     condition the resampled codes on this text

${COMMON_OPTIONS}`;

const OPTIONS = {
  ...SAMPLING_FLAGS,
  ...ROW_CAP_FLAGS,
  out: { type: 'string' },
  grid: { type: 'boolean' },
} as const;

/** Reads an input file, or a coded error naming it. */
function readInput(file: string, param: string): Buffer {
  if (!existsSync(file) || !statSync(file).isFile()) throw new TesseraError('TESSERA_ERR_INPUT_FILE', `${param} file ${file} does not exist or is not a file`, { param });
  return readFileSync(file);
}

function usageError(message: string, usage: string): TesseraError {
  return new TesseraError('TESSERA_ERR_OPTION', `${message} (${usage.split('\n')[0]})`);
}

async function runImagePrompt(mode: ImagePromptMode, argv: string[]): Promise<number> {
  const usage = mode === 'complete' ? COMPLETE_USAGE : mode === 'edit' ? EDIT_USAGE : VARY_USAGE;
  const extra: Record<string, { type: 'string' }> =
    mode === 'complete' ? { 'keep-rows': { type: 'string' } } : mode === 'edit' ? { mask: { type: 'string' } } : { 'keep-share': { type: 'string' }, caption: { type: 'string' } };
  const { values, positionals } = parseCommandLine(argv, { ...OPTIONS, ...extra } as typeof OPTIONS);
  if (values.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  const flags = values as Record<string, string | boolean | undefined>;
  const wanted = mode === 'vary' ? 1 : 2;
  if (positionals.length !== wanted) {
    if (mode !== 'vary' && positionals.length === 1) throw new TesseraError('TESSERA_ERR_PROMPT', `a prompt is required after the image: ${usage.split('\n')[0].replace('Usage: ', '')}`, { param: 'prompt' });
    throw usageError(`expected ${wanted === 1 ? 'one image' : 'an image and a prompt'}, got ${positionals.length} arguments (quote the prompt)`, usage);
  }
  const [imageFile, prompt] = positionals;
  const image = readInput(imageFile, 'image');
  const maskFile = flags.mask as string | undefined;
  const mask = maskFile === undefined ? undefined : readInput(maskFile, 'mask');
  const keepRows = mode === 'complete' ? numberFlag('keep-rows', flags['keep-rows'] as string | undefined) : undefined;
  if (mode === 'complete' && keepRows === undefined) throw usageError('--keep-rows is required', usage);
  const keepShare = mode === 'vary' ? numberFlag('keep-share', flags['keep-share'] as string | undefined) : undefined;
  const caption = mode === 'vary' ? ((flags.caption as string | undefined) ?? '') : prompt;
  return generateAndWrite(values, async (tessera) => ({
    prompt: caption,
    ...samplingFromFlags(values),
    previewCandidates: 0,
    image: await imagePromptFromBytes({ mode, image, mask, keepRows, keepShare }, tessera.manifest),
  }));
}

export const runComplete = (argv: string[]): Promise<number> => runImagePrompt('complete', argv);
export const runEdit = (argv: string[]): Promise<number> => runImagePrompt('edit', argv);
export const runVary = (argv: string[]): Promise<number> => runImagePrompt('vary', argv);
