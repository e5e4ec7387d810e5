/** The OpenAI error envelope and the mapping from Tessera's error catalogue to HTTP statuses. */
import { isTesseraError, type ErrorCode } from '../errors.js';

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'timeout_error';

export interface ErrorEnvelope {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, options: { type?: ErrorType; param?: string | null; code?: string | null; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = options.type ?? defaultType(status);
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  toJSON(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

function defaultType(status: number): ErrorType {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  TESSERA_ERR_PROMPT: 400,
  TESSERA_ERR_OPTION: 400,
  TESSERA_ERR_UNKNOWN_FLAG: 400,
  TESSERA_ERR_CANCELLED: 499,
  TESSERA_ERR_TIMEOUT: 504,
  TESSERA_ERR_WORKER: 500,
};

/** Request fields are snake_case on the wire; the pipeline names them in camelCase. */
const WIRE_PARAM: Record<string, string> = {
  negativePrompt: 'negative_prompt',
  topK: 'top_k',
  topP: 'top_p',
  guidanceScale: 'guidance_scale',
  previewEvery: 'preview_every',
  keep: 'n',
};

export function wireParam(param: string | undefined | null): string | null {
  if (param === undefined || param === null) return null;
  return WIRE_PARAM[param] ?? param;
}

/** Any thrown value as an ApiError (unknown errors become a 500 without internals). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isTesseraError(error)) {
    const status = STATUS_OF[error.code] ?? 500;
    return new ApiError(status, error.message, {
      param: wireParam(error.param),
      code: error.code.replace(/^TESSERA_ERR_/, '').toLowerCase(),
      type: error.code === 'TESSERA_ERR_CANCELLED' ? 'invalid_request_error' : undefined,
    });
  }
  return new ApiError(500, 'internal server error', { code: 'internal_error' });
}
