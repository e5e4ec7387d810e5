/**
 * One catalogue of error codes (after fastify's FST_ERR_*). Every error Tessera
 * raises on purpose is a TesseraError with one of these codes; messages name the
 * bad value and what is allowed. Tests assert on `code`, never on message text.
 */
export const ErrorCodes = {
  TESSERA_ERR_PROMPT: 'invalid prompt',
  TESSERA_ERR_OPTION: 'invalid option value',
  TESSERA_ERR_UNKNOWN_FLAG: 'unknown command-line flag',
  TESSERA_ERR_MANIFEST: 'invalid model manifest',
  TESSERA_ERR_MODEL_FILE: 'missing or corrupt model file',
  TESSERA_ERR_MODEL_NOT_FOUND: 'model package not found',
  TESSERA_ERR_DEVICE: 'execution provider unavailable',
  TESSERA_ERR_INFERENCE: 'inference failed',
  TESSERA_ERR_CANCELLED: 'generation cancelled',
  TESSERA_ERR_OUTPUT: 'cannot write output',
  TESSERA_ERR_INPUT_FILE: 'invalid input file',
  TESSERA_ERR_IMAGE: 'invalid image',
  TESSERA_ERR_DATASET: 'invalid dataset',
  TESSERA_ERR_RUN_CONFLICT: 'output folder holds a batch run made with other settings',
  TESSERA_ERR_WORKER: 'inference worker crashed',
  TESSERA_ERR_TIMEOUT: 'generation timed out',
  TESSERA_ERR_LISTEN: 'cannot listen on the address',
  TESSERA_ERR_FOLDER_LOCKED: 'output folder is in use by another batch run',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class TesseraError extends Error {
  readonly code: ErrorCode;
  /** The offending parameter or flag, when there is one (used by the HTTP API's `param`). */
  readonly param: string | undefined;

  constructor(code: ErrorCode, message: string, options: { param?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TesseraError';
    this.code = code;
    this.param = options.param;
  }
}

export function isTesseraError(value: unknown, code?: ErrorCode): value is TesseraError {
  return value instanceof TesseraError && (code === undefined || value.code === code);
}

/** Formats a list of allowed values the way every message in the catalogue does. */
export function allowed(values: readonly (string | number)[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}
