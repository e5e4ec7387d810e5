import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TesseraError } from '../errors.js';

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
