/**
 * Planning a batch run before anything is written: the run's settings (run.json) checked
 * against the folder's, every prompt of the file resolved against the model, and the
 * sampler batches the prompts run in.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isTesseraError, TesseraError } from '../errors.js';
import { imagePromptFromBytes } from '../pipeline/image-prompt.js';
import { stemOf, type RecordSpec } from '../output/batch.js';
import type { PreparedRequest } from '../pipeline/prepared.js';
import type { Tessera } from '../pipeline/tessera.js';
import type { Device, GenerateRequest } from '../types.js';
import { randomSeed } from '../sampler/rng.js';
import { FILE_KEY_OF_PARAM, type LineImagePrompt, type PromptFile, type PromptOverrides, type PromptProblem } from './prompts.js';
import type { ClipIdentity, ModelIdentity } from '../pipeline/identity.js';
import { promptSeed, readRunSettings, settingsDifferences, type BatchDefaults, type RunSettings } from './run-settings.js';

/** The batch options planning reads (the runner's BatchOptions carry them, among others). */
export interface PlanOptions {
  candidates?: number;
  keep?: number;
  /** Base seed; random on a folder's first run, then the one in run.json. */
  seed?: number;
  negativePrompt?: string;
  temperature?: number;
  topK?: number;
  topP?: number;
  guidanceScale?: number;
  rerank?: boolean;
  /** Write a contact sheet per prompt (default true). */
  grid?: boolean;
  /** Stop at the first bad line instead of skipping it. */
  strict?: boolean;
  /** Reuse a folder made with other settings: outdated prompts are generated again. */
  force?: boolean;
}

/** One prompt after its overrides and the model's defaults were applied. */
export interface Task {
  index: number;
  line: number;
  stem: string;
  /** The request resolved and tokenized, once, when the run was planned. */
  prepared: PreparedRequest;
  /** The request as the record stores it; a record with another spec is outdated. */
  spec: RecordSpec;
}

/** Splits tasks into sampler batches: in file order, up to `prompts` prompts and `candidates` candidates each. */
export function planBatches<T extends { spec: { candidates: number } }>(tasks: readonly T[], prompts: number, candidates: number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let count = 0;
  for (const task of tasks) {
    if (current.length > 0 && (current.length >= prompts || count + task.spec.candidates > candidates)) {
      batches.push(current);
      current = [];
      count = 0;
    }
    current.push(task);
    count += task.spec.candidates;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** A prompt's request: its line's overrides over the flags (the model's defaults fill the rest). */
function requestOf(prompt: string, o: PromptOverrides, options: PlanOptions, derivedSeed: number): GenerateRequest {
  return {
    prompt,
    negativePrompt: o.negativePrompt ?? options.negativePrompt,
    seed: o.seed ?? derivedSeed,
    candidates: o.candidates ?? options.candidates,
    keep: o.keep ?? options.keep,
    temperature: o.temperature ?? options.temperature,
    topK: o.topK ?? options.topK,
    topP: o.topP ?? options.topP,
    guidanceScale: o.guidanceScale ?? options.guidanceScale,
    rerank: options.rerank ?? true,
    previewEvery: 0,
  };
}

export function lineError(file: string, problem: PromptProblem): TesseraError {
  return new TesseraError('TESSERA_ERR_INPUT_FILE', `${file}:${problem.line}: ${problem.message}`, { param: `line ${problem.line}` });
}

/** The settings this run makes the folder with; refuses a folder made with others unless --force. */
export function runSettingsFor(options: PlanOptions, outDir: string, model: ModelIdentity, device: Device, clip: ClipIdentity | null = null): RunSettings {
  let stored: RunSettings | null;
  try {
    stored = readRunSettings(outDir);
  } catch (error) {
    // A run.json that is not ours: --force starts over, anything else refuses.
    if (!options.force || !isTesseraError(error, 'TESSERA_ERR_RUN_CONFLICT')) throw error;
    stored = null;
  }
  const defaults: BatchDefaults = {
    candidates: options.candidates ?? null,
    keep: options.keep ?? null,
    temperature: options.temperature ?? null,
    topK: options.topK ?? null,
    topP: options.topP ?? null,
    guidanceScale: options.guidanceScale ?? null,
    negativePrompt: options.negativePrompt ?? null,
  };
  const settings: RunSettings = {
    format: 'tessera-batch',
    version: 1,
    model: { name: model.name, manifestSha256: model.manifestSha256 },
    device,
    seed: options.seed ?? (typeof stored?.seed === 'number' ? stored.seed : randomSeed()),
    defaults,
    rerank: options.rerank ?? true,
    clip,
    grid: options.grid ?? true,
  };
  if (stored !== null && !options.force) {
    const differences = settingsDifferences(stored, settings);
    if (differences.length > 0) {
      throw new TesseraError(
        'TESSERA_ERR_RUN_CONFLICT',
        `${outDir} was made with other settings:\n  ${differences.join('\n  ')}\nUse the same settings to resume, another --out, or --force to regenerate with the new ones`,
        { param: 'out' },
      );
    }
  }
  return settings;
}

/** Reads a file a line names, relative to the prompt file; a coded error naming the key otherwise. */
function readLineFile(promptFile: string, relative: string, key: 'image' | 'mask'): { data: Buffer; sha256: string } {
  const file = path.resolve(path.dirname(promptFile), relative);
  if (!existsSync(file) || !statSync(file).isFile()) throw new TesseraError('TESSERA_ERR_INPUT_FILE', `${key} file ${JSON.stringify(relative)} (${file}) does not exist or is not a file`, { param: key });
  const data = readFileSync(file);
  return { data, sha256: createHash('sha256').update(data).digest('hex') };
}

/**
 * The image half of a line's request, and what its record says of it (the files' hashes:
 * a changed image or mask makes the prompt's record outdated, as a changed prompt does).
 */
async function imageOf(tessera: Tessera, promptFile: string, line: LineImagePrompt): Promise<{ image: GenerateRequest['image']; spec: NonNullable<RecordSpec['image']> }> {
  const image = readLineFile(promptFile, line.image, 'image');
  const mask = line.mask === undefined ? null : readLineFile(promptFile, line.mask, 'mask');
  const input = await imagePromptFromBytes({ mode: line.mode, image: image.data, mask: mask?.data, keepRows: line.keepRows, keepShare: line.keepShare }, tessera.manifest);
  return {
    image: input,
    spec: {
      mode: line.mode,
      file: line.image,
      sha256: image.sha256,
      mask: line.mask ?? null,
      mask_sha256: mask?.sha256 ?? null,
      keep_rows: input.keepRows ?? null,
      keep_share: input.keepShare ?? null,
    },
  };
}

/**
 * Resolves every prompt of the file against the model (defaults, ranges, tokenizer; an
 * image prompt's files read and encoded). Lines that fail are skipped (reported through
 * `notice`), or with --strict fail the run.
 */
export async function planTasks(
  tessera: Tessera,
  file: PromptFile,
  options: PlanOptions,
  run: { settings: RunSettings; model: ModelIdentity; fileName: string },
  notice: (message: string) => void,
): Promise<{ tasks: Task[]; invalid: PromptProblem[] }> {
  const { settings, model, fileName } = run;
  const invalid: PromptProblem[] = [...file.problems];
  for (const problem of file.problems) notice(`${fileName}:${problem.line}: skipped: ${problem.message}`);
  // The flags alone must make a valid request: a bad flag fails at once, not on every line.
  // --keep without --candidates is checked against each line's candidates below (lines
  // may set their own), so here it only has to fit some candidate count.
  const flagRequest = { ...requestOf('flags', {}, options, settings.seed), seed: settings.seed };
  if (options.candidates === undefined && options.keep !== undefined) {
    flagRequest.candidates = Math.max(options.keep, tessera.manifest.sampling.candidates);
  }
  tessera.prepare(flagRequest);
  const tasks: Task[] = [];
  for (const entry of file.entries) {
    const request = requestOf(entry.prompt, entry.overrides, options, promptSeed(settings.seed, entry.index));
    try {
      const image = entry.imagePrompt === undefined ? null : await imageOf(tessera, file.path, entry.imagePrompt);
      if (image !== null) request.image = image.image;
      const prepared = await tessera.prepareRequest(request);
      const { resolved } = prepared;
      for (const warning of prepared.warnings) notice(`${fileName}:${entry.line}: warning: ${warning}`);
      const s = resolved.settings;
      tasks.push({
        index: entry.index,
        line: entry.line,
        stem: stemOf(entry.index, entry.prompt),
        prepared,
        spec: {
          prompt: resolved.prompt,
          negative_prompt: resolved.negativePrompt,
          seed: resolved.seed,
          candidates: s.candidates,
          keep: s.keep,
          temperature: s.temperature,
          top_k: s.topK,
          top_p: s.topP,
          guidance: s.guidanceScale,
          rerank: resolved.rerank && tessera.model.reranker !== null,
          grid: settings.grid,
          model: model.name,
          model_sha256: model.manifestSha256,
          device: settings.device,
          ...(image === null ? {} : { image: image.spec }),
        },
      });
    } catch (error) {
      if (!isTesseraError(error)) throw error;
      const key = error.param === undefined ? undefined : (FILE_KEY_OF_PARAM[error.param] ?? error.param);
      const problem = { line: entry.line, index: entry.index, message: `${key === undefined ? '' : `"${key}": `}${error.message}` };
      if (options.strict) throw lineError(fileName, problem);
      invalid.push(problem);
      notice(`${fileName}:${problem.line}: skipped: ${problem.message}`);
    }
  }
  invalid.sort((a, b) => a.line - b.line);
  if (tasks.length === 0) {
    throw new TesseraError('TESSERA_ERR_INPUT_FILE', `${file.path} has no valid prompt (${invalid.length} line${invalid.length === 1 ? '' : 's'} skipped)`, {
      param: 'prompts',
    });
  }
  return { tasks, invalid };
}
