/** Every error leaves as the OpenAI envelope {"error":{"message","type","param","code"}}. */
import type { FastifyError } from 'fastify';
import { ApiError, toApiError } from '../api-error.js';
import { shared } from './shared.js';

const FASTIFY_CODES: Record<string, { code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', message: 'the request body is empty; send a JSON object' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_content_length' },
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
      const code = known?.code ?? (e instanceof SyntaxError ? 'invalid_json' : 'invalid_request');
      const message = known?.message ?? (e instanceof SyntaxError ? `the request body is not valid JSON: ${e.message}` : e.message);
      apiError = new ApiError(e.statusCode!, message, { code, param: code === 'body_too_large' || code === 'invalid_json' ? 'body' : null });
    } else {
      apiError = toApiError(error);
      if (apiError.status >= 500) request.log.error({ err: error }, 'request failed');
    }
    void reply.code(apiError.status).headers(apiError.headers).send(apiError.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError(404, `no route for ${request.method} ${request.url.split('?')[0]}`, { code: 'not_found' });
    void reply.code(404).send(error.toJSON());
  });
});
