import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, ErrorCodes, TesseraError, defaultErrorType, httpErrorOf, type ErrorCode } from '../../src/errors.js';
import { ApiError, toApiError } from '../../src/server/api-error.js';

const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? sources(file) : file.endsWith('.ts') ? [file] : [];
  });
}

/** The envelope codes and statuses clients see today (docs/api.md); the catalogue must keep them. */
const WIRE: Partial<Record<ErrorCode, [number, string, string]>> = {
  TESSERA_ERR_PROMPT: [400, 'invalid_request_error', 'invalid_prompt'],
  TESSERA_ERR_OPTION: [400, 'invalid_request_error', 'invalid_value'],
  TESSERA_ERR_INVALID_TYPE: [400, 'invalid_request_error', 'invalid_type'],
  TESSERA_ERR_UNKNOWN_PARAMETER: [400, 'invalid_request_error', 'unknown_parameter'],
  TESSERA_ERR_MISSING_PARAMETER: [400, 'invalid_request_error', 'missing_required_parameter'],
  TESSERA_ERR_INVALID_JSON: [400, 'invalid_request_error', 'invalid_json'],
  TESSERA_ERR_UNAUTHORIZED: [401, 'authentication_error', 'invalid_api_key'],
  TESSERA_ERR_NOT_FOUND: [404, 'not_found_error', 'not_found'],
  TESSERA_ERR_JOB_NOT_FOUND: [404, 'not_found_error', 'job_not_found'],
  TESSERA_ERR_MODEL_UNKNOWN: [404, 'invalid_request_error', 'model_not_found'],
  TESSERA_ERR_JOB_FINISHED: [409, 'invalid_request_error', 'job_finished'],
  TESSERA_ERR_JOB_RUNNING: [409, 'invalid_request_error', 'job_running'],
  TESSERA_ERR_BODY_TOO_LARGE: [413, 'invalid_request_error', 'body_too_large'],
  TESSERA_ERR_UNSUPPORTED_MEDIA_TYPE: [415, 'invalid_request_error', 'unsupported_media_type'],
  TESSERA_ERR_QUEUE_FULL: [429, 'rate_limit_error', 'queue_full'],
  TESSERA_ERR_RATE_LIMITED: [429, 'rate_limit_error', 'rate_limit_exceeded'],
  TESSERA_ERR_CANCELLED: [499, 'invalid_request_error', 'cancelled'],
  TESSERA_ERR_WORKER: [500, 'server_error', 'worker_crashed'],
  TESSERA_ERR_INTERNAL: [500, 'server_error', 'internal_error'],
  TESSERA_ERR_SHUTTING_DOWN: [503, 'server_error', 'shutting_down'],
  TESSERA_ERR_NO_WORKER: [503, 'server_error', 'no_worker'],
  TESSERA_ERR_TIMEOUT: [504, 'timeout_error', 'timeout'],
};

describe('error catalogue', () => {
  it('maps every code to an HTTP status, an OpenAI error type and an envelope code', () => {
    for (const code of CODES) {
      const entry = ERROR_CATALOGUE[code];
      const http = httpErrorOf(code);
      expect(entry.description.length, code).toBeGreaterThan(0);
      expect(http.status, code).toBe(entry.status);
      expect(http.status >= 400 && http.status < 600, code).toBe(true);
      expect(http.type, code).toBe('type' in entry ? entry.type : defaultErrorType(entry.status));
      expect(http.wire, code).toMatch(/^[a-z_]+$/);
      expect(ErrorCodes[code]).toBe(entry.description);

      // A TesseraError thrown anywhere reaches the client through the catalogue only.
      const api = toApiError(new TesseraError(code, `a ${code} happened`, { param: 'topK' }));
      expect(api.toJSON(), code).toEqual({ error: { message: `a ${code} happened`, type: http.type, param: 'top_k', code: http.wire } });
      expect(api.status, code).toBe(http.status);
      expect(api.tesseraCode, code).toBe(code);
      expect(ApiError.fromRecord(api.toRecord()).toJSON(), code).toEqual(api.toJSON());
    }
  });

  it('keeps the statuses and envelope codes clients see', () => {
    for (const [code, [status, type, wire]] of Object.entries(WIRE) as [ErrorCode, [number, string, string]][]) {
      expect(httpErrorOf(code), code).toEqual({ status, type, wire });
    }
  });

  it('hides unknown errors behind internal_error; a framework status stands with its own type', () => {
    expect(toApiError(new Error('/etc/secret')).toJSON().error).toEqual({ message: 'internal server error', type: 'server_error', param: null, code: 'internal_error' });
    const framework = new ApiError('TESSERA_ERR_INVALID_REQUEST', 'method not allowed', { status: 405 });
    expect([framework.status, framework.type, framework.code]).toEqual([405, 'invalid_request_error', 'invalid_request']);
  });

  it('holds only codes something uses, and every code used is in it', () => {
    // The worlds, judges and eval harness (eval/) throw from the same catalogue.
    const text = [...sources('src'), ...sources('eval')]
      .filter((f) => path.resolve(f) !== path.resolve('src/errors.ts'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const code of CODES) expect(text.includes(`'${code}'`), `${code} is used in src/ or eval/`).toBe(true);
    const used = new Set(text.match(/TESSERA_ERR_[A-Z_]+/g));
    for (const code of used) expect(CODES, `${code} is in the catalogue`).toContain(code);
  });
});
