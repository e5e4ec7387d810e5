/**
 * One catalogue of error codes (after fastify's FST_ERR_*). Every error Tessera
 * raises on purpose is a TesseraError with one of these codes; messages name the
 * bad value and what is allowed. Tests assert on `code`, never on message text.
 *
 * Each entry also says what the code means over HTTP: the status, the OpenAI error
 * `type` (when it is not the one the status implies) and the `wire` code the API's
 * error envelope carries (when it is not the code without its prefix, lower-cased).
 * The server maps errors through this table only (src/server/api-error.ts).
 */

/** The OpenAI error envelope's `type`. */
export type HttpErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'timeout_error';

export interface ErrorEntry {
  readonly description: string;
  readonly status: number;
  /** The envelope's `code`; default: the code without TESSERA_ERR_, lower-cased. */
  readonly wire?: string;
  /** The envelope's `type`; default: the one `status` implies (see defaultErrorType). */
  readonly type?: HttpErrorType;
}

export const ERROR_CATALOGUE = {
  // Requests, flags and input files (CLI and API).
  TESSERA_ERR_PROMPT: { status: 400, wire: 'invalid_prompt', description: 'invalid prompt' },
  TESSERA_ERR_OPTION: { status: 400, wire: 'invalid_value', description: 'invalid option or request value' },
  TESSERA_ERR_UNKNOWN_FLAG: { status: 400, description: 'unknown command-line flag' },
  TESSERA_ERR_INPUT_FILE: { status: 400, description: 'invalid input file' },
  TESSERA_ERR_IMAGE: { status: 500, description: 'invalid image (or metadata that cannot be written into one)' },
  TESSERA_ERR_DATASET: { status: 400, description: 'invalid dataset' },
  TESSERA_ERR_SEARCH: { status: 400, description: 'invalid search parameter' },
  TESSERA_ERR_SEARCH_NOT_FOUND: { status: 404, description: 'no stored image with that id' },
  TESSERA_ERR_EMBEDDING: { status: 500, description: 'invalid embedding vector' },
  TESSERA_ERR_INDEX: { status: 500, description: 'search index holds embeddings of another width or space' },
  TESSERA_ERR_FORECAST: { status: 400, description: 'invalid carbon intensity forecast' },
  TESSERA_ERR_ENERGY: { status: 400, description: 'invalid energy or grid intensity setting' },
  TESSERA_ERR_RUN_CONFLICT: { status: 409, description: 'output folder holds a batch run made with other settings' },
  TESSERA_ERR_FOLDER_LOCKED: { status: 409, description: 'output folder is in use by another batch run' },
  TESSERA_ERR_LISTEN: { status: 500, description: 'the server cannot listen on the address (port in use, no such address, no permission)' },
  // The model package and the runtime (faults of the installation, not of a request).
  TESSERA_ERR_MANIFEST: { status: 500, description: 'invalid model manifest' },
  TESSERA_ERR_MODEL_FILE: { status: 500, description: 'missing or corrupt model file' },
  TESSERA_ERR_MODEL_NOT_FOUND: { status: 500, description: 'model package not found' },
  TESSERA_ERR_DEVICE: { status: 500, description: 'execution provider unavailable' },
  TESSERA_ERR_PRECISION_UNAVAILABLE: { status: 400, wire: 'precision_unavailable', description: 'the model package has no variant of the precision asked for (--precision int8 without manifest.variants.int8)' },
  TESSERA_ERR_INFERENCE: { status: 500, description: 'inference failed' },
  TESSERA_ERR_OUTPUT: { status: 500, description: 'cannot write output' },
  // A generation's end other than success.
  TESSERA_ERR_CANCELLED: { status: 499, type: 'invalid_request_error', description: 'generation cancelled (by the client, or it disconnected)' },
  TESSERA_ERR_TIMEOUT: { status: 504, description: 'generation did not finish within the time limit' },
  TESSERA_ERR_WORKER: { status: 500, wire: 'worker_crashed', description: 'inference worker crashed' },
  TESSERA_ERR_SHUTTING_DOWN: { status: 503, description: 'the server is shutting down' },
  TESSERA_ERR_QUEUE_FULL: { status: 429, description: 'the generation queue of the model is full' },
  // The HTTP API's own codes.
  TESSERA_ERR_INVALID_TYPE: { status: 400, description: 'request field of the wrong JSON type' },
  TESSERA_ERR_UNKNOWN_PARAMETER: { status: 400, description: 'unrecognized request field' },
  TESSERA_ERR_MISSING_PARAMETER: { status: 400, wire: 'missing_required_parameter', description: 'required request field missing' },
  TESSERA_ERR_INVALID_BODY: { status: 400, description: 'request body is not a JSON object, or a multipart form that cannot be read (no boundary, cut short)' },
  TESSERA_ERR_INVALID_JSON: { status: 400, description: 'request body is not valid JSON' },
  TESSERA_ERR_INVALID_CONTENT_LENGTH: { status: 400, description: 'content-length does not match the body' },
  TESSERA_ERR_UNSUPPORTED_VALUE: { status: 400, description: 'an OpenAI value this model cannot honour (background "transparent", style, output_compression for png)' },
  TESSERA_ERR_INVALID_REQUEST: { status: 400, description: 'request rejected by the HTTP layer (its status is kept)' },
  TESSERA_ERR_INVALID_URL: { status: 400, description: 'the request path is not a valid URL (a bad %-escape)' },
  TESSERA_ERR_MALFORMED_REQUEST: { status: 400, description: 'Node\'s HTTP parser refused the request (not HTTP)' },
  TESSERA_ERR_FORBIDDEN: { status: 403, type: 'invalid_request_error', description: 'a static file that is not served (a refused path, not an API key problem)' },
  TESSERA_ERR_METHOD_NOT_ALLOWED: { status: 405, description: 'the route does not take this method' },
  TESSERA_ERR_NOT_ACCEPTABLE: { status: 406, description: 'no representation matches the Accept header' },
  TESSERA_ERR_REQUEST_TIMEOUT: { status: 408, description: 'the request did not arrive in time' },
  TESSERA_ERR_URI_TOO_LONG: { status: 414, description: 'a path segment (an id) is longer than 100 characters' },
  TESSERA_ERR_RANGE_NOT_SATISFIABLE: { status: 416, description: 'a Range header outside the file' },
  TESSERA_ERR_HEADERS_TOO_LARGE: { status: 431, description: 'the request headers are too large' },
  TESSERA_ERR_UNAUTHORIZED: { status: 401, wire: 'invalid_api_key', description: 'missing or incorrect API key' },
  TESSERA_ERR_URL_SIGNATURE: { status: 403, wire: 'invalid_signature', description: 'a file URL whose signature (sig, expires) does not match: altered, forged or made by another server' },
  TESSERA_ERR_URL_EXPIRED: { status: 403, wire: 'url_expired', description: 'a signed file URL past its expiry; fetch a fresh one' },
  TESSERA_ERR_NOT_FOUND: { status: 404, description: 'no such route, history entry or file' },
  TESSERA_ERR_JOB_NOT_FOUND: { status: 404, description: 'no such job' },
  TESSERA_ERR_MODEL_UNKNOWN: { status: 404, wire: 'model_not_found', type: 'invalid_request_error', description: 'the request names a model this server does not serve' },
  TESSERA_ERR_JOB_FINISHED: { status: 409, description: 'the job already finished' },
  TESSERA_ERR_JOB_RUNNING: { status: 409, description: 'the job is still queued or running' },
  TESSERA_ERR_BODY_TOO_LARGE: { status: 413, description: 'request body over the size limit' },
  TESSERA_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'request body is not application/json' },
  TESSERA_ERR_RATE_LIMITED: { status: 429, wire: 'rate_limit_exceeded', description: 'too many requests from this client' },
  TESSERA_ERR_INTERNAL: { status: 500, wire: 'internal_error', description: 'unexpected server error (details only in the log)' },
  // Issue 13: generation over BullMQ on Redis (src/queue/).
  TESSERA_ERR_QUEUE_URL: { status: 400, description: 'a --queue URL that is not redis://HOST:PORT[/DB] (or rediss://)' },
  TESSERA_ERR_QUEUE_JOB: { status: 400, description: 'a queue job whose data a worker cannot run (malformed, or made for another model, device or CLIP); fails once, not retried' },
  TESSERA_ERR_QUEUE_UNAVAILABLE: { status: 503, description: 'Redis (the queue) cannot be reached' },
  TESSERA_ERR_NO_WORKER: { status: 503, description: 'serve --queue: no tessera worker is connected to the model\'s queue, so the request is refused at once (with Retry-After) rather than left waiting' },
  TESSERA_ERR_QUEUE_JOB_FAILED: { status: 500, description: 'a queue job failed on the workers after its attempts (or stalled too often); re-run to retry' },
  // Image prompts (issue 11): completion, masked edits and variations.
  TESSERA_ERR_INPUT_IMAGE: { status: 400, wire: 'invalid_image', description: 'an input image that cannot be read as an image (not an image, corrupt, or too many pixels)' },
  TESSERA_ERR_INPUT_FORMAT: { status: 400, wire: 'unsupported_image_format', description: 'an input image of a format that is refused (SVG, GIF, TIFF, AVIF, ...): PNG, JPEG and WebP are accepted, sniffed from the bytes' },
  TESSERA_ERR_INPUT_IMAGE_TOO_LARGE: { status: 413, wire: 'image_too_large', description: 'an uploaded image or mask over the size limit' },
  TESSERA_ERR_TOO_MANY_IMAGES: { status: 400, description: 'more than one input image where one is taken' },
  TESSERA_ERR_MASK: { status: 400, wire: 'invalid_mask', description: 'an invalid mask: not a PNG with an alpha channel, not the image\'s size, or nothing to change' },
  TESSERA_ERR_NO_IMAGE_ENCODER: { status: 400, wire: 'image_prompts_unsupported', description: 'the model package has no image encoder (pixels -> codes), which image prompts need' },
  // Issue 26: `tessera pull`, the model cache and `tessera models` (src/hub/).
  TESSERA_ERR_PULL_NETWORK: { status: 503, description: 'the model hub cannot be reached (no network, connection refused or cut, or the hub failed); an interrupted download resumes on the next pull' },
  TESSERA_ERR_PULL_NOT_FOUND: { status: 404, description: 'the hub has no such repository, revision or file' },
  TESSERA_ERR_PULL_UNAUTHORIZED: { status: 401, description: 'the hub refused the request: the repository is private or gated and HF_TOKEN is missing or not accepted' },
  TESSERA_ERR_PULL_CHECKSUM: { status: 500, description: 'a downloaded file\'s size or checksum differs from what the hub says; it is deleted, not kept' },
  TESSERA_ERR_PULL_LOCKED: { status: 409, description: 'another tessera pull (a live process) is downloading the same file' },
  TESSERA_ERR_PULL_OFFLINE: { status: 503, description: 'HF_HUB_OFFLINE is set and the files are not in the cache' },
  TESSERA_ERR_DISK_FULL: { status: 507, description: 'not enough disk space for the download or the converted model (ENOSPC)' },
  TESSERA_ERR_LICENSE: { status: 400, description: 'the model\'s licence must be accepted first (tessera pull NAME --accept-license)' },
  TESSERA_ERR_MEMORY: { status: 500, description: 'not enough memory available for the conversion' },
  TESSERA_ERR_CONVERT_DEPS: { status: 500, description: 'the conversion needs Python with PyTorch, ONNX and NumPy, which are missing (the download is kept)' },
  TESSERA_ERR_CONVERT: { status: 500, description: 'the conversion of downloaded weights into a model package failed' },
  TESSERA_ERR_MODEL_NOT_PULLED: { status: 500, description: 'a known model name that is not in the cache: tessera pull NAME first' },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Code -> description (the library's historical view of the catalogue). */
export const ErrorCodes = Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([code, entry]) => [code, entry.description])) as Record<ErrorCode, string>;

/** The OpenAI error type a status implies. */
export function defaultErrorType(status: number): HttpErrorType {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** What a code means over HTTP: status, envelope type and envelope code. */
export function httpErrorOf(code: ErrorCode): { status: number; type: HttpErrorType; wire: string } {
  const entry: ErrorEntry = ERROR_CATALOGUE[code];
  return {
    status: entry.status,
    type: entry.type ?? defaultErrorType(entry.status),
    wire: entry.wire ?? code.replace(/^TESSERA_ERR_/, '').toLowerCase(),
  };
}

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

/** True when `value` names a catalogue code (for codes that crossed a process boundary as strings). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value);
}

/** Formats a list of allowed values the way every message in the catalogue does. */
export function allowed(values: readonly (string | number)[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}
