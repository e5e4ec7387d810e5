import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TesseraError } from '../errors.js';
import { parsePrecision, type PrecisionChoice } from '../model/precision.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs in strict mode, with its errors turned into catalogue codes:
 * an unknown flag is TESSERA_ERR_UNKNOWN_FLAG naming the flag and the allowed ones.
 */
export function parseCommandLine<T extends Options>(
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const err = error as Error & { code?: string };
    const allowedFlags = Object.keys(options)
      .map((name) => `--${name}`)
      .join(', ');
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(err.message)?.[1] ?? err.message;
      throw new TesseraError('TESSERA_ERR_UNKNOWN_FLAG', `unknown flag ${flag}. Allowed: ${allowedFlags}`, { param: flag });
    }
    throw new TesseraError('TESSERA_ERR_OPTION', err.message, { cause: error });
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Parses a numeric flag value strictly ("7", "0.9", "1e-3"); anything else is TESSERA_ERR_OPTION. */
export function numberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!NUMBER.test(value.trim())) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--${flag} must be a number, got ${JSON.stringify(value)}`, { param: flag });
  }
  return Number(value);
}

/**
 * `--precision`, shared by every command that loads a model (generate, complete, edit,
 * vary and batch through SAMPLING_FLAGS; serve and worker spread it into their own).
 */
export const PRECISION_FLAGS = {
  precision: { type: 'string' },
} as const;

export const PRECISION_USAGE = `  --precision P      auto, fp32 or int8 (default auto: on first use of a package on this
                     machine, time both and keep int8 only where it is faster; cached)`;

/** The `--precision` value, checked (default auto). */
export function precisionFromFlags(values: { precision?: string }): PrecisionChoice {
  return parsePrecision(values.precision);
}

/** Flags shared by every command that samples images (generate, batch). */
export const SAMPLING_FLAGS = {
  ...PRECISION_FLAGS,
  candidates: { type: 'string' },
  keep: { type: 'string' },
  seed: { type: 'string' },
  negative: { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  guidance: { type: 'string' },
  'no-rerank': { type: 'boolean' },
  clip: { type: 'string' },
  model: { type: 'string' },
  device: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

interface SamplingFlagValues {
  candidates?: string;
  keep?: string;
  seed?: string;
  negative?: string;
  temperature?: string;
  'top-k'?: string;
  'top-p'?: string;
  guidance?: string;
  'no-rerank'?: boolean;
}

/** The request fields the sampling flags set (numbers parsed strictly; ranges are checked later). */
export function samplingFromFlags(values: SamplingFlagValues) {
  return {
    negativePrompt: values.negative,
    candidates: numberFlag('candidates', values.candidates),
    keep: numberFlag('keep', values.keep),
    seed: numberFlag('seed', values.seed),
    temperature: numberFlag('temperature', values.temperature),
    topK: numberFlag('top-k', values['top-k']),
    topP: numberFlag('top-p', values['top-p']),
    guidanceScale: numberFlag('guidance', values.guidance),
    rerank: !values['no-rerank'],
  };
}
