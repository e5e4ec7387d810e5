/**
 * Prompt files for `tessera batch`: plain text (one prompt a line) or JSON Lines (one
 * object a line with `prompt` and optional per-prompt overrides). Parsing never
 * throws for a bad entry: it returns the good entries and a list of problems, each
 * with its 1-based line number, and the caller decides (skip, or stop under --strict).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import { IMAGE_PROMPT_MODES, type ImagePromptMode } from '../types.js';

/** Per-prompt overrides a JSONL line may carry, in the file's snake_case. */
export const OVERRIDE_KEYS = ['seed', 'negative_prompt', 'candidates', 'keep', 'guidance', 'temperature', 'top_k', 'top_p'] as const;
export type OverrideKey = (typeof OVERRIDE_KEYS)[number];

export interface PromptOverrides {
  seed?: number;
  negativePrompt?: string;
  candidates?: number;
  keep?: number;
  guidanceScale?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
}

/** Keys of an image prompt on a JSONL line: paths are relative to the prompt file. */
export const IMAGE_KEYS = ['image', 'mask', 'mode', 'keep_rows', 'keep_share'] as const;

/** An image prompt as a line gives it (files not yet read). */
export interface LineImagePrompt {
  mode: ImagePromptMode;
  /** The image's path as written on the line (relative to the prompt file, or absolute). */
  image: string;
  mask?: string;
  keepRows?: number;
  keepShare?: number;
}

/** One prompt of the file. */
export interface PromptEntry {
  /**
   * 0-based position among the file's entries (non-blank, non-comment lines), counting
   * malformed ones too: fixing a bad line does not renumber the others. It names the
   * outputs and derives the prompt's seed.
   */
  index: number;
  /** 1-based line number in the file. */
  line: number;
  prompt: string;
  overrides: PromptOverrides;
  /** A completion, edit or variation of an image; absent for text alone. */
  imagePrompt?: LineImagePrompt;
}

export interface PromptProblem {
  line: number;
  index: number;
  message: string;
}

export interface PromptFile {
  path: string;
  format: 'text' | 'jsonl';
  entries: PromptEntry[];
  problems: PromptProblem[];
  /** Entries and malformed lines together (the number of indices handed out). */
  total: number;
}

/** Maps a request field (as settings.ts names it in errors) back to the JSONL key. */
export const FILE_KEY_OF_PARAM: Readonly<Record<string, OverrideKey | 'prompt' | (typeof IMAGE_KEYS)[number]>> = {
  prompt: 'prompt',
  negativePrompt: 'negative_prompt',
  seed: 'seed',
  candidates: 'candidates',
  keep: 'keep',
  guidanceScale: 'guidance',
  temperature: 'temperature',
  topK: 'top_k',
  topP: 'top_p',
  keepRows: 'keep_rows',
  keepShare: 'keep_share',
  image: 'image',
  mask: 'mask',
  mode: 'mode',
};

const NUMERIC: Record<Exclude<OverrideKey, 'negative_prompt'>, keyof PromptOverrides> = {
  seed: 'seed',
  candidates: 'candidates',
  keep: 'keep',
  guidance: 'guidanceScale',
  temperature: 'temperature',
  top_k: 'topK',
  top_p: 'topP',
};

function isJsonl(file: string): boolean {
  return /\.(jsonl|ndjson)$/i.test(file);
}

/** Reads a prompt file; TESSERA_ERR_INPUT_FILE when it cannot be read or holds no prompt at all. */
export function readPromptFile(file: string): PromptFile {
  let text: string;
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TesseraError('TESSERA_ERR_INPUT_FILE', `cannot read prompt file ${JSON.stringify(file)}: ${reason}`, { param: 'prompts', cause: error });
  }
  const parsed = parsePrompts(text, isJsonl(file) ? 'jsonl' : 'text');
  if (parsed.total === 0) {
    throw new TesseraError(
      'TESSERA_ERR_INPUT_FILE',
      `prompt file ${JSON.stringify(file)} is empty: write one prompt a line (or one JSON object a line in a .jsonl file)`,
      { param: 'prompts' },
    );
  }
  return { path: path.resolve(file), ...parsed };
}

/** Parses prompt-file text. Text: blank lines and lines starting with '#' are ignored. JSONL: blank lines are ignored. */
export function parsePrompts(text: string, format: 'text' | 'jsonl'): Omit<PromptFile, 'path'> {
  const entries: PromptEntry[] = [];
  const problems: PromptProblem[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let index = 0;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/\r$/, '');
    if (content.trim() === '') return;
    if (format === 'text') {
      if (content.trimStart().startsWith('#')) return;
      entries.push({ index: index++, line, prompt: content.trim(), overrides: {} });
      return;
    }
    const entryIndex = index++;
    try {
      entries.push({ index: entryIndex, line, ...parseJsonLine(content) });
    } catch (error) {
      problems.push({ line, index: entryIndex, message: (error as Error).message });
    }
  });
  return { format, entries, problems, total: index };
}

function parseJsonLine(content: string): { prompt: string; overrides: PromptOverrides; imagePrompt?: LineImagePrompt } {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    throw new Error(`malformed JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`expected a JSON object with a "prompt", got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  }
  const object = value as Record<string, unknown>;
  const known: readonly string[] = ['prompt', ...OVERRIDE_KEYS, ...IMAGE_KEYS];
  const unknownKeys = Object.keys(object).filter((k) => !known.includes(k));
  if (unknownKeys.length > 0) {
    throw new Error(`unknown key${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${known.map((k) => JSON.stringify(k)).join(', ')}`);
  }
  const imagePrompt = parseImageKeys(object);
  // A variation needs no text.
  if (imagePrompt?.mode === 'vary' && (object.prompt === undefined || object.prompt === null)) object.prompt = '';
  if (typeof object.prompt !== 'string') {
    throw new Error(`"prompt" must be a string, got ${object.prompt === undefined ? 'nothing' : JSON.stringify(object.prompt)}`);
  }
  const overrides: PromptOverrides = {};
  for (const [key, field] of Object.entries(NUMERIC)) {
    const v = object[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`"${key}" must be a number, got ${JSON.stringify(v)}`);
    (overrides as Record<string, number>)[field] = v;
  }
  const negative = object.negative_prompt;
  if (negative !== undefined && negative !== null) {
    if (typeof negative !== 'string') throw new Error(`"negative_prompt" must be a string, got ${JSON.stringify(negative)}`);
    overrides.negativePrompt = negative;
  }
  return imagePrompt === undefined ? { prompt: object.prompt, overrides } : { prompt: object.prompt, overrides, imagePrompt };
}

/**
 * The image keys of a line. Without "mode" it follows from the keys: a mask is an edit,
 * keep_rows a completion, an image alone a variation.
 */
function parseImageKeys(object: Record<string, unknown>): LineImagePrompt | undefined {
  const present = IMAGE_KEYS.filter((k) => object[k] !== undefined && object[k] !== null);
  if (present.length === 0) return undefined;
  if (typeof object.image !== 'string' || object.image === '') throw new Error(`"${present.join('", "')}" need "image", the path of an image (relative to the prompt file)`);
  for (const key of ['mask', 'mode'] as const) {
    if (object[key] !== undefined && object[key] !== null && typeof object[key] !== 'string') throw new Error(`"${key}" must be a string, got ${JSON.stringify(object[key])}`);
  }
  for (const key of ['keep_rows', 'keep_share'] as const) {
    const v = object[key];
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isFinite(v))) throw new Error(`"${key}" must be a number, got ${JSON.stringify(v)}`);
  }
  const mode = (object.mode ?? (object.mask ? 'edit' : object.keep_rows !== undefined && object.keep_rows !== null ? 'complete' : 'vary')) as ImagePromptMode;
  if (!IMAGE_PROMPT_MODES.includes(mode)) throw new Error(`"mode" must be one of ${IMAGE_PROMPT_MODES.map((m) => JSON.stringify(m)).join(', ')}, got ${JSON.stringify(mode)}`);
  const line: LineImagePrompt = { mode, image: object.image };
  if (typeof object.mask === 'string') line.mask = object.mask;
  if (typeof object.keep_rows === 'number') line.keepRows = object.keep_rows;
  if (typeof object.keep_share === 'number') line.keepShare = object.keep_share;
  return line;
}
