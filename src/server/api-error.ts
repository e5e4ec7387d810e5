/**
 * HTTP error mapping: a catalogue code (src/errors.ts) becomes the OpenAI error envelope
 * {"error":{"message","type","param","code"}} and its status. Status, type and envelope
 * code come from the catalogue only; this module adds the request-facing parts (the
 * wire name of `param`, response headers such as Retry-After).
 */
import { ERROR_CATALOGUE, defaultErrorType, httpErrorOf, isErrorCode, isTesseraError, type ErrorCode, type ErrorEntry, type HttpErrorType } from '../errors.js';

export type ErrorType = HttpErrorType;

export interface ErrorEnvelope {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

/** A failure as job data carries it: plain JSON, mapped to HTTP only when it is sent. */
export interface ErrorRecord {
  code: ErrorCode;
  message: string;
  param: string | null;
}

export interface ApiErrorOptions {
  param?: string | null;
  headers?: Record<string, string>;
  /** Only for errors the HTTP framework raised with its own 4xx status (TESSERA_ERR_INVALID_REQUEST). */
  status?: number;
}

export class ApiError extends Error {
  /** The catalogue code. */
  readonly tesseraCode: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  /** The envelope's code (the catalogue's wire name). */
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(message);
    this.name = 'ApiError';
    const entry: ErrorEntry = ERROR_CATALOGUE[code];
    this.tesseraCode = code;
    this.status = options.status ?? entry.status;
    // A status the framework chose implies its own type, unless the catalogue fixes one.
    this.type = entry.type ?? defaultErrorType(this.status);
    this.param = options.param ?? null;
    this.code = httpErrorOf(code).wire;
    this.headers = options.headers ?? {};
  }

  toJSON(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** The failure as plain data (param already in its wire name). */
  toRecord(): ErrorRecord {
    return { code: this.tesseraCode, message: this.message, param: this.param };
  }

  static fromRecord(record: ErrorRecord): ApiError {
    return new ApiError(record.code, record.message, { param: record.param });
  }
}

/** Request fields are snake_case on the wire; the pipeline names them in camelCase. */
const WIRE_PARAM: Record<string, string> = {
  negativePrompt: 'negative_prompt',
  topK: 'top_k',
  topP: 'top_p',
  guidanceScale: 'guidance_scale',
  previewEvery: 'preview_every',
  keep: 'n',
  keepShare: 'keep_share',
  keepRows: 'keep_rows',
};

export function wireParam(param: string | undefined | null): string | null {
  if (param === undefined || param === null) return null;
  return WIRE_PARAM[param] ?? param;
}

/** Any thrown value as an ApiError (unknown errors become a 500 without internals). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isTesseraError(error) && isErrorCode(error.code)) return new ApiError(error.code, error.message, { param: wireParam(error.param) });
  return new ApiError('TESSERA_ERR_INTERNAL', 'internal server error');
}

/** 503 shutting_down with Retry-After: a request that arrives, or waits, while the server stops. */
export function shuttingDownError(graceMs: number): ApiError {
  const retryAfter = Math.max(1, Math.ceil(graceMs / 1000));
  return new ApiError('TESSERA_ERR_SHUTTING_DOWN', `the server is shutting down; retry after ${retryAfter} s (on this or another instance)`, { headers: { 'retry-after': String(retryAfter) } });
}
