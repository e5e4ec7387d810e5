/** Every error leaves as the OpenAI envelope {"error":{"message","type","param","code"}}. */
import type { FastifyError } from 'fastify';
import type { ErrorCode } from '../../errors.js';
import { ApiError, toApiError } from '../api-error.js';
import { shared } from './shared.js';

const FASTIFY_CODES: Record<string, { code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'TESSERA_ERR_INVALID_JSON', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'TESSERA_ERR_INVALID_JSON', message: 'the request body is empty; send a JSON object' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'TESSERA_ERR_BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'TESSERA_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'TESSERA_ERR_INVALID_CONTENT_LENGTH' },
};

export const errorsPlugin = shared(async (app) => {
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    let apiError: ApiError;
    if (error instanceof ApiError) {
      apiError = error;
    } else if (typeof (error as FastifyError).statusCode === 'number' && (error as FastifyError).statusCode! < 500) {
      const e = error as FastifyError;
      const known = FASTIFY_CODES[e.code];
      // SyntaxError from JSON.parse arrives with statusCode 400 and no FST code.
      const code = known?.code ?? (e instanceof SyntaxError ? 'TESSERA_ERR_INVALID_JSON' : 'TESSERA_ERR_INVALID_REQUEST');
      const message = known?.message ?? (e instanceof SyntaxError ? `the request body is not valid JSON: ${e.message}` : e.message);
      // The framework's 4xx status stands (413, 415, ...); the catalogue gives type and envelope code.
      apiError = new ApiError(code, message, { status: e.statusCode, param: code === 'TESSERA_ERR_BODY_TOO_LARGE' || code === 'TESSERA_ERR_INVALID_JSON' ? 'body' : null });
    } else {
      apiError = toApiError(error);
      if (apiError.status >= 500) request.log.error({ err: error }, 'request failed');
    }
    void reply.code(apiError.status).headers(apiError.headers).send(apiError.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError('TESSERA_ERR_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`);
    void reply.code(404).send(error.toJSON());
  });
});
